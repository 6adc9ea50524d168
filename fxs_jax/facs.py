"""The FACS vocabulary every paper shares: Action Units, emotions and their EMFACS prototypes.

Nothing here knows about a renderer, a dataset or a paper; SynthFaces, the recipes and the
evaluators all speak it.

* Action Units: a (17,) float vector on the FACS 0-5 intensity scale (0 = absent, 5 =
  :data:`AU_MAX`), in the GANimation / OpenFace order of :data:`AU_NAMES`.
* Emotions: the 8 RaFD expressions of :data:`EMOTIONS`; an emotion's label is its index there.
  :func:`emotion_aus` gives its EMFACS-style prototype at apex.
"""

from __future__ import annotations

import numbers

import numpy as np

from fxs_jax.errors import UserError

__all__ = [
    "AU_NAMES", "NUM_AUS", "AU_DESCRIPTIONS", "AU_MAX", "EMOTIONS", "NUM_EMOTIONS", "emotion_aus",
    "emotion_index",
]

AU_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
            "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
NUM_AUS = len(AU_NAMES)
AU_DESCRIPTIONS = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU12": "lip corner puller",
    "AU14": "dimpler", "AU15": "lip corner depressor", "AU17": "chin raiser",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU25": "lips part", "AU26": "jaw drop",
    "AU45": "blink",
}
AU_MAX = 5.0
EMOTIONS = ("neutral", "happy", "sad", "surprised", "angry", "fearful", "disgusted",
            "contemptuous")
NUM_EMOTIONS = len(EMOTIONS)

# EMFACS-style prototypes at apex, 0-5 scale.
_PROTOTYPES = {
    "neutral": {},
    "happy": {"AU06": 3.5, "AU12": 4.5, "AU25": 1.5},
    "sad": {"AU01": 4.0, "AU04": 2.5, "AU15": 4.0, "AU17": 2.0},
    "surprised": {"AU01": 4.5, "AU02": 4.5, "AU05": 4.0, "AU25": 3.5, "AU26": 4.0},
    "angry": {"AU04": 4.5, "AU05": 2.5, "AU07": 4.0, "AU23": 4.0, "AU17": 2.0},
    "fearful": {"AU01": 4.0, "AU02": 3.0, "AU04": 3.0, "AU05": 4.5, "AU07": 2.0, "AU20": 4.0,
                "AU25": 3.5, "AU26": 2.0},
    "disgusted": {"AU09": 4.5, "AU10": 3.5, "AU15": 2.5, "AU17": 2.5, "AU25": 1.0},
    "contemptuous": {"AU12": 2.5, "AU14": 4.0},
}


def _emotion_name(emotion) -> str:
  if isinstance(emotion, (numbers.Integral, np.integer)) and not isinstance(emotion, bool):
    if not 0 <= int(emotion) < NUM_EMOTIONS:
      raise ValueError(f"emotion index must be in [0, {NUM_EMOTIONS - 1}], got {emotion}; "
                       f"valid: {dict(enumerate(EMOTIONS))}.")
    return EMOTIONS[int(emotion)]
  if isinstance(emotion, str):
    name = emotion.strip().lower()
    if name not in _PROTOTYPES:
      raise ValueError(f"unknown emotion {emotion!r}; valid emotions are {list(EMOTIONS)}.")
    return name
  raise ValueError(f"emotion must be a name in {list(EMOTIONS)} or an index, got "
                   f"{type(emotion).__name__} {emotion!r}.")


def emotion_aus(emotion, intensity: float = 1.0) -> np.ndarray:
  """(17,) float32 EMFACS prototype of ``emotion`` at apex, scaled by ``intensity``, in [0, 5].

  ``emotion`` is a name in :data:`EMOTIONS` (any case) or its index there.
  """
  name = _emotion_name(emotion)
  if not np.isfinite(intensity):
    raise ValueError(f"intensity must be finite, got {intensity}.")
  out = np.zeros(NUM_AUS, np.float32)
  for au, v in _PROTOTYPES[name].items():
    out[AU_NAMES.index(au)] = v
  return np.clip(out * np.float32(intensity), 0.0, AU_MAX).astype(np.float32)


def emotion_index(name: str, what: str = "emotion") -> int:
  """The label of the emotion called exactly ``name``: its index in :data:`EMOTIONS`.

  A user's typo raises :class:`UserError` naming the bad name and the valid ones. ``what`` says
  where the name came from (e.g. ``"config.generate"``), so the message points at the setting to
  fix; the default adds no place.
  """
  if name not in EMOTIONS:
    where = "" if what == "emotion" else f" in {what}"
    raise UserError(f"Unknown emotion {name!r}{where}: choose from {', '.join(EMOTIONS)}.")
  return EMOTIONS.index(name)
