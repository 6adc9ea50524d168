"""What a user hands a model, checked: face images, landmarks, emotion names, AU vectors, motion
classes. Paper-free, so that recipes (which build batches from these) and applications (photos,
videos, the editor, the CLIs) share one set of one-line errors (``fxs_jax.errors.UserError``).
"""

from __future__ import annotations

import numpy as np

from fxs_jax import errors
from fxs_jax import facs
from fxs_jax.data import augment
from fxs_jax.errors import UserError

NUM_LANDMARKS = 68
# A motion goes from neutral to one of these; its class is the emotion's index in facs.EMOTIONS.
MOTION_EMOTIONS = facs.EMOTIONS[1:]


def check_images(images, image_size: int, what: str = "images") -> np.ndarray:
  """``images`` (B, H, W, 3) or one (H, W, 3), uint8 0-255 or float in [-1, 1], as float32
  (B, H, W, 3) in [-1, 1]; a one-line error if the size or layout is not the model's."""
  arr = np.asarray(images)
  if arr.ndim == 3:
    arr = arr[None]
  if arr.ndim != 4 or arr.shape[-1] != 3:
    raise UserError(f"{what} must be (B, H, W, 3) or (H, W, 3) RGB arrays, got shape "
                    f"{np.shape(images)}.")
  if arr.shape[1:3] != (image_size, image_size):
    raise UserError(f"{what} are {arr.shape[1]}x{arr.shape[2]} px; this model edits "
                    f"{image_size}x{image_size} aligned face crops (config.model.image_size).")
  if arr.dtype == np.uint8:
    return augment.to_signed_unit(arr)
  if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
    raise UserError(f"{what} must be uint8 0-255 or float in [-1, 1], got {arr.dtype}.")
  arr = arr.astype(np.float32)
  if arr.size and not np.all(np.isfinite(arr)):
    raise UserError(f"float {what} hold non-finite values (nan or inf): pass values in [-1, 1] "
                    "(or uint8 0-255).")
  if arr.size and (arr.min() < -1.001 or arr.max() > 1.001):
    raise UserError(f"float {what} must lie in [-1, 1] (or pass uint8 0-255), got values in "
                    f"[{arr.min():.3g}, {arr.max():.3g}].")
  return arr


def check_landmarks(landmarks, count: int, what: str = "landmarks") -> np.ndarray:
  """(count, 68, 2) float32 finite pixel (x, y) of ``count`` faces, else a one-line error."""
  try:
    lms = np.asarray(landmarks, np.float32)
  except (TypeError, ValueError):
    lms = np.zeros((0,), np.float32)
  if lms.size != count * 68 * 2:
    raise UserError(f"{what} must be (B, 68, 2) pixel (x, y) for {count} images, got shape "
                    f"{np.shape(landmarks)}.")
  if not np.all(np.isfinite(lms)):
    raise UserError(f"{what} hold non-finite values (no face found?): pass 68 finite (x, y) "
                    "points per face.")
  return lms.reshape(count, 68, 2)


def check_intensities(intensity, high: float, meaning: str = "the edit's strength"
                      ) -> np.ndarray:
  """``intensity`` (one, or one per image) as finite numbers in [0, ``high``], else a one-line
  error (``fxs_jax.errors.check_numbers``)."""
  return errors.check_numbers(intensity, "intensity", low=0.0, high=high, meaning=meaning,
                              fix="0 is the start, 1 the target; pass e.g. intensity=1")


def per_example(values, count: int, what: str, item_ndim: int = 0, dtype=np.float32
                ) -> np.ndarray:
  """``values`` given once (``item_ndim`` dims) or once per example (one more, ``count`` long),
  as an array with ``count`` rows; a one-line error otherwise."""
  try:
    arr = np.asarray(values, dtype)
  except (TypeError, ValueError):
    raise UserError(f"{what} must be numbers, given once or once per image ({count}); got "
                    f"{str(values)[:40]!r}.") from None
  if arr.ndim == item_ndim:
    return np.broadcast_to(arr, (count,) + arr.shape).copy()
  if arr.ndim == item_ndim + 1 and len(arr) == count:
    return arr
  raise UserError(f"{what} must be given once or once per image ({count}), got shape "
                  f"{np.shape(values)}.")


def emotion_labels(emotion, count: int, what: str = "emotion") -> np.ndarray:
  """(count,) int32 class indices from emotion names or indices (one, or one per example)."""
  values = per_example(np.asarray(emotion, object), count, what, dtype=object)
  labels = []
  for value in values:
    if isinstance(value, str):
      labels.append(facs.emotion_index(value, what))
    else:
      labels.append(errors.check_number(
          value, what, low=0, high=facs.NUM_EMOTIONS - 1, integer=True,
          meaning="an emotion's index", fix=f"or pass a name ({', '.join(facs.EMOTIONS)})"))
  return np.asarray(labels, np.int32)


def emotion_names(text: str, what: str = "config.generate.emotions") -> list[str]:
  """The comma-separated emotion names in ``text``, each checked."""
  names = [e.strip() for e in text.split(",") if e.strip()]
  for name in names:
    facs.emotion_index(name, what)
  return names


def check_au_range(values: np.ndarray, what: str) -> None:
  """A one-line error naming the first AU (and row) whose intensity is not a finite number in
  [0, 5]."""
  values = np.asarray(values, np.float64)
  with np.errstate(invalid="ignore"):
    bad = np.argwhere(~np.isfinite(values) | (values < 0) | (values > facs.AU_MAX))
  if len(bad):
    index = tuple(int(i) for i in bad[0])
    name = facs.AU_NAMES[index[-1]] if values.shape[-1] == facs.NUM_AUS else f"[{index[-1]}]"
    row = f"[{index[0]}]" if values.ndim == 2 else ""  # the image's row
    errors.check_number(values[index].item(), f"{what}{row} {name}", low=0.0, high=facs.AU_MAX,
                        meaning="an AU intensity",
                        fix="the FACS scale is 0 (absent) to 5 (maximal)")


def au_numbers(text: str, what: str = "AU vector") -> np.ndarray:
  """17 comma-separated AU intensities on the 0-5 scale, with an error that says what is wrong."""
  try:
    values = np.array([float(v) for v in text.replace(" ", "").split(",") if v], np.float32)
  except ValueError as e:
    raise UserError(f"{what}: {text!r} is not a list of numbers ({e}).") from e
  if values.shape != (facs.NUM_AUS,):
    raise UserError(
        f"{what} has {values.size} values; an AU vector holds {facs.NUM_AUS} AU "
        f"intensities in the order {' '.join(facs.AU_NAMES)}, each 0-5.")
  check_au_range(values, what)
  return values


def parse_aus(text: str, what: str = "--aus") -> np.ndarray:
  """17 AU intensities (0-5) from ``"AU12=3,AU06=2"`` (names as in ``facs.AU_NAMES``, the rest
  0; ``AU6`` = ``AU06``) or from 17 comma-separated numbers (``au_numbers``); errors name
  ``what``."""
  if "=" not in text:
    return au_numbers(text, what)
  aus = np.zeros(facs.NUM_AUS, np.float32)
  given = set()
  for item in filter(None, (part.strip() for part in text.split(","))):
    key, _, value = item.partition("=")
    digits = key.strip().upper().removeprefix("AU")
    # ASCII digits only: "¹²".isdigit() is true, and int() refuses it.
    au_name = f"AU{int(digits):02d}" if digits.isascii() and digits.isdecimal() else key
    if au_name not in facs.AU_NAMES:
      raise UserError(f"{what}: unknown action unit {key.strip()!r}; the models know "
                      f"{', '.join(facs.AU_NAMES)}.")
    if au_name in given:
      raise UserError(f"{what}: {au_name} is given twice; give each action unit once.")
    given.add(au_name)
    try:
      aus[facs.AU_NAMES.index(au_name)] = float(value)
    except ValueError as e:
      raise UserError(f"{what}: {item!r} is not AU=number (e.g. AU12=3).") from e
  check_au_range(aus, what)
  return aus


def motion_labels(emotion, count: int) -> np.ndarray:
  """(count,) int32 ``facs`` labels of non-neutral emotions, from names or indices (once, or
  once per sample); a one-line error naming the valid ones otherwise."""
  values = np.asarray(emotion, object)
  if values.ndim == 0:
    values = np.full((count,), values.item(), object)
  if values.ndim != 1 or len(values) != count:
    raise UserError(f"emotion must be given once or once per sample ({count}), got shape "
                    f"{np.shape(emotion)}.")
  labels = []
  for value in values:
    if isinstance(value, str) and value in MOTION_EMOTIONS:
      labels.append(facs.EMOTIONS.index(value))
    elif isinstance(value, (int, np.integer)) and 1 <= int(value) <= len(MOTION_EMOTIONS):
      labels.append(int(value))
    else:
      raise UserError(f"Motions go neutral -> an expression: emotion {value!r} is not "
                      f"one; use a name ({', '.join(MOTION_EMOTIONS)}) or its index "
                      f"1-{len(MOTION_EMOTIONS)}.")
  return np.asarray(labels, np.int32)


def check_neutral_landmarks(landmarks) -> np.ndarray:
  """(B, 68, 2) float32 from (68, 2) or (B, 68, 2) finite (x, y) points, else a UserError."""
  arr = np.asarray(landmarks, np.float32)
  if arr.ndim == 2:
    arr = arr[None]
  if arr.ndim != 3 or arr.shape[1:] != (NUM_LANDMARKS, 2):
    raise UserError(f"neutral_landmarks must be 68 (x, y) points per face, shape (68, 2) or "
                    f"(B, 68, 2), got {np.shape(landmarks)}.")
  if not np.all(np.isfinite(arr)):
    raise UserError("neutral_landmarks has non-finite values (no face found?): pass 68 finite "
                    "(x, y) points per face.")
  return arr

