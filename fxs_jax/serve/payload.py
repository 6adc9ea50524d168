"""The JSON bodies of ``/api/edit`` and ``/api/play``: parsed within limits, then checked field by
field against what the model's kind takes, so that whatever a client sends is a 4xx with one
line naming the field, the problem and the fix (never a 500, never a field silently ignored).

Fields (``ops`` turns them into the recipes' batches):

    every kind   model (text or null: the first model), photo (text), mask (true/false),
                 faces (null, "all" or a list of face indices)
    aus          aus (17 numbers in [0, 5], facs.AU_NAMES' order), intensity (number in [0, 2])
    emotion      emotion (one of facs.EMOTIONS), intensity (number in [0, 1])
    transfer     source (text or null: the photo whose expression to copy)
    motion       emotion (one of the motion emotions), seed (integer in [0, 2**31 - 1])
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from fxs_jax import facs
from fxs_jax import inputs
from fxs_jax.serve import limits as limits_lib
from fxs_jax.serve.sessions import ServeError
from fxs_jax.serve.sessions import short_json

COMMON = ("model", "photo", "mask", "faces")
KIND_FIELDS = {"aus": ("aus", "intensity"), "emotion": ("emotion", "intensity"),
               "transfer": ("source",), "motion": ("emotion", "seed")}
INTENSITY_RANGE = {"aus": (0.0, 2.0), "emotion": (0.0, 1.0)}  # aus: above 1 exaggerates
MAX_SEED = 2**31 - 1
# Set by the server, not the request: the videos' length and speed, and their size.
FIXED = {"frames": "a video's frames", "fps": "a video's frames per second",
         "max_side": "a video's size"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _refuse(message: str):
  raise ServeError(400, message)


def _finite_float(text: str) -> float:
  value = float(text)
  if not math.isfinite(value):
    _refuse(f"The request holds the number {text[:24]}, too large for a float; send finite "
            "numbers.")
  return value


def _short_int(text: str) -> int:
  if len(text.lstrip("-")) > 18:
    _refuse(f"The request holds a {len(text.lstrip('-'))}-digit integer; send numbers in the "
            "fields' ranges (intensity 0-2, aus 0-5, seed below 2**31).")
  return int(text)


def _no_constant(name: str):
  _refuse(f"The request holds {name}, which is not a number JSON allows; send finite numbers.")


def _no_duplicates(pairs) -> dict:
  body = {}
  for key, value in pairs:
    if key in body:
      _refuse(f"The request has {short_json(key)} twice; send each field once.")
    body[key] = value
  return body


def nesting(text: str) -> int:
  """How deep ``text``'s arrays and objects nest (0: a bare value), strings skipped."""
  codes = np.frombuffer(_STRING.sub('""', text).encode("utf-8"), np.uint8)
  steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
           - np.isin(codes, (ord("]"), ord("}"))))
  return int(np.cumsum(steps).max(initial=0))


def parse(data: bytes, content_type: str | None, limits: limits_lib.Limits) -> dict:
  """A request's body as a JSON object; ServeError 415 for another Content-Type, 400 for
  anything but a JSON object within ``limits`` (depth; NaN, Infinity and overflowing numbers
  refused; each field once)."""
  media = (content_type or "").split(";")[0].strip().lower()
  if media != "application/json":
    raise ServeError(415, f"The request's Content-Type is {short_json(media or 'missing')}; "
                     "send the JSON body with Content-Type: application/json.")
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ServeError(400, f"The request is not UTF-8 text (byte 0x{data[e.start]:02x} at "
                     f"position {e.start}); send JSON encoded as UTF-8.") from e
  depth = nesting(text)
  if depth > limits.max_json_depth:
    raise ServeError(400, f"The request nests {depth} levels deep; the editor's requests nest at "
                     f"most {limits.max_json_depth} (an object of lists): send one JSON object "
                     "of the fields.")
  try:
    body = json.loads(text, parse_float=_finite_float, parse_int=_short_int,
                      parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
  except (ValueError, RecursionError) as e:
    raise ServeError(400, f"The request is not JSON ({e}); send a JSON object such as "
                     '{"photo": "sample-0"}.') from e
  if not isinstance(body, dict):
    raise ServeError(400, f"The request must be a JSON object of fields, got "
                     f"{short_json(body)}; send e.g. {{\"photo\": \"sample-0\"}}.")
  return body


def text(body: dict, key: str, limits: limits_lib.Limits, missing: str | None = None):
  """Field ``key`` as text (None when left out or null, unless ``missing`` says what to do)."""
  value = body.get(key)
  if value is None or value == "":
    if missing:
      raise ServeError(400, missing)
    return None
  if not isinstance(value, str):
    raise ServeError(400, f"{key} must be text, got {short_json(value)}; send e.g. "
                     f"\"{key}\": \"{'sample-0' if key in ('photo', 'source') else 'name'}\".")
  if len(value) > limits.max_text:
    raise ServeError(400, f"{key} is {len(value)} characters long; the editor's {key}s have at "
                     f"most {limits.max_text}: send the id or name it gave.")
  return value


def number(body: dict, key: str, default: float, low: float, high: float) -> float:
  """Field ``key`` as a finite number in [``low``, ``high``] (``default`` when left out)."""
  value = body.get(key, default)
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      math.isfinite(value) and low <= value <= high):
    raise ServeError(400, f"{key} must be a number in [{low:g}, {high:g}], got "
                     f"{short_json(value)}; send e.g. \"{key}\": {default:g}.")
  return float(value)


def _aus(body: dict) -> np.ndarray:
  value = body.get("aus", [0.0] * facs.NUM_AUS)
  if not isinstance(value, list) or len(value) != facs.NUM_AUS:
    raise ServeError(400, f"aus must be a list of {facs.NUM_AUS} numbers in [0, "
                     f"{facs.AU_MAX:g}], one per action unit ({facs.AU_NAMES[0]} to "
                     f"{facs.AU_NAMES[-1]}, /api/info's order), got {short_json(value)}.")
  for name, au in zip(facs.AU_NAMES, value):
    if isinstance(au, bool) or not isinstance(au, (int, float)) or not (
        math.isfinite(au) and 0.0 <= au <= facs.AU_MAX):
      raise ServeError(400, f"aus: {name} must be a number in [0, {facs.AU_MAX:g}], got "
                       f"{short_json(au)}; send intensities on the FACS 0-5 scale.")
  return np.asarray(value, np.float32)


def _choice(body: dict, key: str, default, choices) -> str:
  value = body.get(key, default)
  if not isinstance(value, str) or value not in choices:
    raise ServeError(400, f"{key} must be one of {', '.join(choices)}, got {short_json(value)}.")
  return value


def _unknown(key: str, kind: str, title: str) -> ServeError:
  fields = ", ".join(COMMON + KIND_FIELDS[kind])
  if key in FIXED:
    return ServeError(400, f"{key}: {FIXED[key]} is set by the editor, not by the request "
                      f"(python -m fxs_jax.edit --animate takes it); leave {key} out.")
  if any(key in names for names in KIND_FIELDS.values()):
    return ServeError(400, f"{key} is not a control of this model ({title}); its fields are "
                      f"{fields}.")
  return ServeError(400, f"{short_json(key)} is not a field of this request; the fields are "
                    f"{fields}.")


def fields(body: dict, kind: str, title: str, limits: limits_lib.Limits) -> dict:
  """The request's fields for a model of ``kind`` (``title``: its name in messages), checked and
  with their defaults: ``model``, ``photo``, ``mask``, ``faces`` and the kind's own."""
  for key in body:
    if key not in COMMON + KIND_FIELDS[kind]:
      raise _unknown(key, kind, title)
  mask = body.get("mask", False)
  if not isinstance(mask, bool):
    raise ServeError(400, f"mask must be true or false, got {short_json(mask)}.")
  checked = {"model": text(body, "model", limits), "mask": mask, "faces": body.get("faces"),
             "photo": text(body, "photo", limits, missing="Pick or upload a photo.")}
  if kind in INTENSITY_RANGE:
    checked["intensity"] = number(body, "intensity", 1.0, *INTENSITY_RANGE[kind])
  if kind == "aus":
    checked["aus"] = _aus(body)
  elif kind == "emotion":
    checked["emotion"] = _choice(body, "emotion", "neutral", facs.EMOTIONS)
  elif kind == "transfer":
    checked["source"] = text(body, "source", limits)
  else:
    checked["emotion"] = _choice(body, "emotion", None, inputs.MOTION_EMOTIONS)
    seed = body.get("seed", 0)
    if isinstance(seed, float) and seed.is_integer():
      seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
      raise ServeError(400, f"seed must be an integer in [0, {MAX_SEED}], got "
                       f"{short_json(seed)}; send e.g. \"seed\": 0.")
    checked["seed"] = seed
  return checked
