"""SynthFaces: a procedural 2-D frontal-face renderer with exact landmark and Action-Unit labels.

It is the library's embedded default dataset: no download, fully deterministic, and every label
is exact by construction (the drawing is made *from* the landmark geometry).

Conventions
-----------
* Landmarks are (x, y) pixel coordinates in the ``size x size`` output image, x to the right and
  y down, with pixel centres at integer coordinates (dlib / iBUG convention): the image spans
  ``[-0.5, size - 0.5]`` in both axes and a horizontal flip maps ``x -> (size - 1) - x``.
* 68-point iBUG layout: jaw 0-16 (0 = the subject's right side = image LEFT, round the chin 8 to
  16), brows 17-21 (image-left brow, outer -> inner) and 22-26 (inner -> outer), nose bridge
  27-30 (30 = tip), nostril base 31-35 (33 = subnasale), eyes 36-41 (image-left eye; 36 = outer
  corner, then along the upper lid to 39 = inner corner, back along the lower lid) and 42-47
  (42 = inner corner, 45 = outer corner; same clockwise order), outer lips 48-59 (48 = image-left
  corner, along the top through 51 = top centre to 54, back along the bottom through 57 = bottom
  centre), inner lips 60-67 (60 / 64 inner corners, 62 top-inner centre, 66 bottom-inner centre).
* Action Units: a (17,) float vector on the FACS 0-5 intensity scale, in the GANimation /
  OpenFace order of :data:`AU_NAMES`. Each AU drives its own FACS-plausible landmark displacement
  (linear / smooth in intensity) plus the appearance changes FACS lists (glabella furrows for
  AU04, crow's feet and cheek bulge for AU06, nose wrinkles for AU09, nasolabial folds for
  AU12/AU10/AU09, dimples for AU14, chin texture for AU17, teeth / mouth interior for AU25/AU26,
  closed lids for AU45). The vector has no laterality, so every AU is bilateral -- including the
  contempt prototype AU12+AU14, which is unilateral in real faces.
* Emotions: EMFACS-style prototypes (:func:`emotion_aus`), label = index in :data:`EMOTIONS`.
  The AU and emotion vocabulary is :mod:`fxs_jax.facs`'s, re-exported here.
"""

from __future__ import annotations

import numbers

import numpy as np

from fxs_jax.data._synth_faces_draw import draw_face
from fxs_jax.data._synth_faces_geometry import face_geometry, pose_matrix
from fxs_jax.data._synth_faces_identity import HAIR_STYLES, Identity, sample_identity
# The FACS vocabulary lives in fxs_jax.facs; re-exported so ``synth_faces.EMOTIONS`` & co. still
# work for code written before it moved.
from fxs_jax.facs import AU_DESCRIPTIONS
from fxs_jax.facs import AU_MAX
from fxs_jax.facs import AU_NAMES
from fxs_jax.facs import EMOTIONS
from fxs_jax.facs import NUM_AUS
from fxs_jax.facs import NUM_EMOTIONS
from fxs_jax.facs import emotion_aus

__all__ = [
    "AU_NAMES", "AU_DESCRIPTIONS", "NUM_AUS", "EMOTIONS", "NUM_EMOTIONS", "NUM_LANDMARKS",
    "HAIR_STYLES", "Identity", "sample_identity", "emotion_aus", "sample_emotion_aus",
    "landmarks", "render", "onset_curve", "render_sequence", "LANDMARK_GROUPS",
]

NUM_LANDMARKS = 68

LANDMARK_GROUPS = {
    "jaw": tuple(range(0, 17)), "brows": tuple(range(17, 27)), "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)), "lips": tuple(range(48, 68)),
}

_SUPERSAMPLE = 4


def _check_aus(aus) -> np.ndarray:
  arr = np.asarray(aus)
  if arr.shape != (NUM_AUS,):
    raise ValueError(f"aus must have shape ({NUM_AUS},) (one value per AU in {AU_NAMES}), "
                     f"got shape {arr.shape}.")
  try:
    arr = arr.astype(np.float32)
  except (TypeError, ValueError) as e:
    raise ValueError(f"aus must be numeric, got dtype {np.asarray(aus).dtype}.") from e
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"aus must be finite, got {arr.tolist()}.")
  if arr.min() < 0.0 or arr.max() > AU_MAX:
    bad = {AU_NAMES[i]: float(arr[i]) for i in np.flatnonzero((arr < 0) | (arr > AU_MAX))}
    raise ValueError(f"aus must lie in [0, {AU_MAX:g}] (FACS intensity scale), got {bad}.")
  return arr


def _check_size(size) -> int:
  if isinstance(size, bool) or not isinstance(size, (numbers.Integral, np.integer)):
    raise ValueError(f"size must be an int >= 32, got {type(size).__name__} {size!r}.")
  if int(size) < 32:
    raise ValueError(f"size must be an int >= 32, got {size}.")
  return int(size)


def _check_identity(identity) -> Identity:
  if not isinstance(identity, Identity):
    raise ValueError(f"identity must be a synth_faces.Identity (see sample_identity), got "
                     f"{type(identity).__name__}.")
  return identity


def sample_emotion_aus(emotion, rng: np.random.Generator) -> np.ndarray:
  """A random instance of ``emotion``: prototype x U(0.6, 1.1), per-AU x U(0.85, 1.15).

  The active AU set equals the prototype's (active AUs stay >= 0.3); neutral gives zeros.
  """
  proto = emotion_aus(emotion)  # checks the emotion first
  if not isinstance(rng, np.random.Generator):
    raise ValueError(f"rng must be a np.random.Generator, got {type(rng).__name__}.")
  scale = rng.uniform(0.6, 1.1)
  jitter = rng.uniform(0.85, 1.15, size=NUM_AUS)
  out = np.where(proto > 0, np.clip(proto * scale * jitter, 0.3, AU_MAX), 0.0)
  return out.astype(np.float32)


def landmarks(identity: Identity, aus, size: int) -> np.ndarray:
  """(68, 2) float32 (x, y) pixel landmarks of ``identity`` showing ``aus`` in a size^2 image."""
  idn = _check_identity(identity)
  a = _check_aus(aus).astype(np.float64) / AU_MAX
  size = _check_size(size)
  g = face_geometry(idn, a)
  mat, t = pose_matrix(idn, size)
  return (g["lm"] @ mat.T + t).astype(np.float32)


def render(identity: Identity, aus, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
  """Draws the face: (uint8 [size, size, 3] image, (68, 2) float32 landmarks as landmarks())."""
  idn = _check_identity(identity)
  a = _check_aus(aus).astype(np.float64) / AU_MAX
  size = _check_size(size)
  g = face_geometry(idn, a)
  img = draw_face(idn, g, a, size, _SUPERSAMPLE).reduce(_SUPERSAMPLE)
  mat, t = pose_matrix(idn, size)
  return np.asarray(img, dtype=np.uint8).copy(), (g["lm"] @ mat.T + t).astype(np.float32)


def onset_curve(num_frames: int) -> np.ndarray:
  """(T,) float32 smoothstep onset: 0 at t = 0, 1 at t = T - 1, monotone (T = 1 -> [1])."""
  if isinstance(num_frames, bool) or not isinstance(num_frames, (numbers.Integral, np.integer)) \
      or num_frames < 1:
    raise ValueError(f"num_frames must be an int >= 1, got {num_frames!r}.")
  if num_frames == 1:
    return np.ones(1, np.float32)
  x = np.linspace(0.0, 1.0, int(num_frames))
  out = (x * x * (3.0 - 2.0 * x)).astype(np.float32)
  out[0], out[-1] = 0.0, 1.0
  return out


def render_sequence(identity: Identity, apex_aus, num_frames: int, size: int = 128):
  """Neutral -> apex clip: frames (T, size, size, 3) uint8, landmarks (T, 68, 2), aus (T, 17)."""
  apex = _check_aus(apex_aus)
  size = _check_size(size)
  onset = onset_curve(num_frames)
  aus = (onset[:, None] * apex[None, :]).astype(np.float32)
  frames = np.empty((len(onset), size, size, 3), np.uint8)
  lms = np.empty((len(onset), NUM_LANDMARKS, 2), np.float32)
  for i in range(len(onset)):
    frames[i], lms[i] = render(identity, aus[i], size)
  return frames, lms, aus


if __name__ == "__main__":
  import time
  rng = np.random.default_rng(0)
  ids = [sample_identity(i) for i in range(40)]
  for size in (64, 128):
    render(ids[0], np.zeros(NUM_AUS), size)
    t0 = time.perf_counter()
    for k, idn in enumerate(ids):
      render(idn, sample_emotion_aus(EMOTIONS[k % NUM_EMOTIONS], rng), size)
    print(f"render(size={size}): {(time.perf_counter() - t0) / len(ids) * 1e3:.2f} ms / image")
