"""Augmentations the papers use: horizontal flip (with landmarks) and scaling to [-1, 1]."""

from __future__ import annotations

import numpy as np


def _ibug_flip_permutation() -> np.ndarray:
  """Index map of the 68 iBUG points under a horizontal mirror: new[i] = old[perm[i]]."""
  pairs = [(i, 16 - i) for i in range(8)]  # jaw
  pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
  pairs += [(31, 35), (32, 34)]  # nostrils (27-30 and 33 lie on the midline)
  pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
  pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips (51, 57 midline)
  pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips (62, 66 midline)
  perm = np.arange(68)
  for a, b in pairs:
    perm[a], perm[b] = b, a
  return perm


IBUG_FLIP_PERMUTATION = _ibug_flip_permutation()


def flip_landmarks(landmarks_Nx2: np.ndarray, width: int) -> np.ndarray:
  """Mirrors (x, y) landmarks of an image ``width`` pixels wide (pixel centres at integers).

  x -> (width - 1) - x, and the points are re-indexed so that index 36 is again the outer corner
  of the eye on the image's left, etc. Works on any leading batch/time axes ``(..., 68, 2)``.
  """
  lms = np.asarray(landmarks_Nx2)
  if lms.shape[-2:] != (68, 2):
    raise ValueError(f"Expected landmarks of shape (..., 68, 2), got {lms.shape}.")
  mirrored = lms[..., IBUG_FLIP_PERMUTATION, :].copy()
  mirrored[..., 0] = (width - 1) - mirrored[..., 0]
  return mirrored


def flip_example(example: dict) -> dict:
  """Mirrors every image ('image' HxWxC or 'frames' TxHxWxC) and the landmarks of one example.

  AU intensities are bilateral (the 17 GANimation AUs carry no side), so they are unchanged.
  """
  out = dict(example)
  width = None
  for key in ("image", "frames"):
    if key in out:
      out[key] = np.ascontiguousarray(np.flip(out[key], axis=-2))
      width = out[key].shape[-2]
  if "landmarks" in out and width is not None:
    out["landmarks"] = flip_landmarks(out["landmarks"], width)
  return out


def to_signed_unit(img_uint8: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1] (the papers' tanh range)."""
  return np.asarray(img_uint8, np.float32) * (2.0 / 255.0) - 1.0


def to_uint8(img_signed: np.ndarray) -> np.ndarray:
  """float [-1, 1] -> uint8 [0, 255], clipping out-of-range values."""
  return np.clip(np.round((np.asarray(img_signed, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
