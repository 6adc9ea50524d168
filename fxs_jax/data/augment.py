"""Augmentations the papers use: horizontal flip (with landmarks) and scaling to [-1, 1]."""

from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True)
class Fields:
  """Which entries of an example are images and which are landmarks (a recipe declares them).

  ``images``: uint8 arrays (..., H, W, C), e.g. a still (H, W, 3), a sequence (T, H, W, 3), or
  several images of one paired example; ``landmarks``: (..., 68, 2) pixel coordinates in those
  images. Other entries (AU intensities, emotion, identity) are labels: the 17 FACS AUs used here
  are bilateral and the emotions have no side, so a mirror leaves them unchanged.
  """

  images: tuple[str, ...] = ("image", "frames")
  landmarks: tuple[str, ...] = ("landmarks",)


def flip_example(example: dict, fields: Fields = Fields()) -> dict:
  """Mirrors every image and every landmark set of one example named in ``fields``, together.

  The images of one example must share their width (the landmarks are mirrored across it).
  """
  out = dict(example)
  widths = {np.shape(out[key])[-2] for key in fields.images if key in out}
  if len(widths) > 1:
    raise ValueError(f"Cannot mirror one example whose images differ in width: {sorted(widths)}.")
  for key in fields.images:
    if key in out:
      out[key] = np.ascontiguousarray(np.flip(out[key], axis=-2))
  if widths:
    width = widths.pop()
    for key in fields.landmarks:
      if key in out:
        out[key] = flip_landmarks(out[key], width)
  return out


def preprocess(example: dict, fields: Fields = Fields(), flip: bool = False) -> dict:
  """The stills preprocessing: numpy arrays, ``flip_example`` if ``flip``, then every image in
  ``fields`` scaled to float32 [-1, 1]."""
  example = {k: np.asarray(v) for k, v in example.items()}
  if flip:
    example = flip_example(example, fields)
  for key in fields.images:
    if key in example:
      example[key] = to_signed_unit(example[key])
  return example


# A pixel whose value moved by more than this (in [-1, 1] units: 5 of 255 levels) was changed: the
# rule by which the losses and the evaluators find the region an edit has to change.
CHANGE_THRESHOLD = 0.04


def to_signed_unit(img_uint8: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1] (the papers' tanh range)."""
  return np.asarray(img_uint8, np.float32) * (2.0 / 255.0) - 1.0


def to_uint8(img_signed: np.ndarray) -> np.ndarray:
  """float [-1, 1] -> uint8 [0, 255], clipping out-of-range values."""
  return np.clip(np.round((np.asarray(img_signed, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
