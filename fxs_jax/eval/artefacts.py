"""Artefact measures of an edit against its exact truth (numpy, host side).

Each takes images in [-1, 1] (B, H, W, 3) and works on ``d = (output - truth) / 2``, the error in
[0, 1] intensity units, so that what a model changed *correctly* does not count:

* ``checkerboard_rms``: the RMS amplitude of ``d``'s periodic patterns at the frequencies that
  stride-2 up-sampling produces (periods 2, 4, ... 2**levels in x and/or y: the checkerboard of
  transposed convolutions); a pure checkerboard of amplitude a scores a, a smooth error ~0;
* ``seam_strength``: the mean jump of ``d`` across the borders of fixed crop windows (LGP-GAN's
  eye and mouth crops pasted back): a hard-edged paste of a constant c scores c, a feathered one
  much less;
* ``colour_shift``: the chromatic part of ``d``'s mean inside a region (an RGB offset with its
  grey component removed): a tint, not a change of brightness;
* ``error_where_kept`` / ``error_where_changed``: the mean absolute error on the pixels the truth
  leaves as they were in the input (what an edit spoils: copy-input scores ~0 there) and on those
  it changes (what an edit must get right: copy-input's error there is the bar to go below).
"""

from __future__ import annotations

import numpy as np

from fxs_jax.data.augment import CHANGE_THRESHOLD


def _error(out_BxHxWx3, truth_BxHxWx3) -> np.ndarray:
  return (np.asarray(out_BxHxWx3, np.float64) - np.asarray(truth_BxHxWx3, np.float64)) / 2.0


def upsampling_frequencies(size: int, levels: int = 2) -> np.ndarray:
  """The DFT indices (of a ``size``-point axis) of periods 2**k, k = 1..levels: multiples of
  ``size / 2**levels``, the frequencies a stack of ``levels`` stride-2 up-samplings repeats on."""
  step = size // 2 ** levels
  if step < 1 or size % 2 ** levels:
    raise ValueError(f"{size} px is not divisible by 2**{levels}.")
  return np.arange(0, size, step)


def checkerboard_rms(out_BxHxWx3, truth_BxHxWx3, levels: int = 2) -> np.ndarray:
  """(B,) RMS amplitude (0-1 units) of the error's components at the up-sampling frequencies
  (every (u, v) on the grid of ``upsampling_frequencies`` but the mean (0, 0))."""
  d = _error(out_BxHxWx3, truth_BxHxWx3)
  b, h, w, c = d.shape
  spectrum = np.fft.fft2(d, axes=(1, 2)) / (h * w)  # (B, H, W, C): amplitudes
  fy, fx = upsampling_frequencies(h, levels), upsampling_frequencies(w, levels)
  picked = spectrum[:, fy][:, :, fx]  # (B, ny, nx, C)
  power = np.abs(picked) ** 2
  power[:, 0, 0] = 0.0  # the mean error is a colour shift, not a pattern
  return np.sqrt(power.sum(axis=(1, 2)).mean(axis=-1))


def default_crop_sizes(image_size: int) -> dict[str, tuple[int, int]]:
  """LGP-GAN's default crop windows for ``image_size`` px faces (``configs/lgpgan.py``): eyes
  H/4 x H/2, mouth H/4 x 3H/8."""
  return {"eyes": (image_size // 4, image_size // 2),
          "mouth": (image_size // 4, 3 * image_size // 8)}


def crop_boxes(landmarks_Bx68x2, image_size: int, crop_sizes: dict | None = None
               ) -> dict[str, np.ndarray]:
  """Integer boxes (B, 4: y0, y1, x0, x1) of the fixed crop windows LGP-GAN cuts around the
  eyes and the mouth (``fxs_jax.nn.crops``: centred on the landmarks' box, kept inside)."""
  from fxs_jax.nn import crops  # lazy: JAX; the artefact measures themselves are numpy
  crop_sizes = crop_sizes or default_crop_sizes(image_size)
  boxes = {}
  for region, (h, w) in crop_sizes.items():
    offsets = np.asarray(crops.region_offsets(np.asarray(landmarks_Bx68x2, np.float32), region,
                                              (h, w), (image_size, image_size)))
    boxes[region] = np.stack([offsets[:, 0], offsets[:, 0] + h, offsets[:, 1],
                              offsets[:, 1] + w], axis=1)
  return boxes


def seam_strength(out_BxHxWx3, truth_BxHxWx3, boxes_Bx4) -> np.ndarray:
  """(B,) mean absolute step of the error across the box's four borders (between the last pixel
  outside and the first inside; borders on the image edge are left out), over channels."""
  d = _error(out_BxHxWx3, truth_BxHxWx3)
  h, w = d.shape[1:3]
  result = np.full(len(d), np.nan)
  for i, (y0, y1, x0, x1) in enumerate(np.asarray(boxes_Bx4, int)):
    steps = []
    if y0 > 0:
      steps.append(d[i, y0, x0:x1] - d[i, y0 - 1, x0:x1])
    if y1 < h:
      steps.append(d[i, y1, x0:x1] - d[i, y1 - 1, x0:x1])
    if x0 > 0:
      steps.append(d[i, y0:y1, x0] - d[i, y0:y1, x0 - 1])
    if x1 < w:
      steps.append(d[i, y0:y1, x1] - d[i, y0:y1, x1 - 1])
    if steps:
      result[i] = np.mean(np.abs(np.concatenate(steps)))
  return result


def colour_shift(out_BxHxWx3, truth_BxHxWx3, boxes_Bx4) -> np.ndarray:
  """(B,) length of the chromatic part of the mean error inside each box: the mean RGB offset
  minus its grey (equal-channel) component, in 0-1 units."""
  d = _error(out_BxHxWx3, truth_BxHxWx3)
  result = np.empty(len(d))
  for i, (y0, y1, x0, x1) in enumerate(np.asarray(boxes_Bx4, int)):
    mean_rgb = d[i, y0:y1, x0:x1].reshape(-1, d.shape[-1]).mean(axis=0)
    result[i] = np.linalg.norm(mean_rgb - mean_rgb.mean())
  return result


def changed_pixels(input_BxHxWx3, truth_BxHxWx3, threshold: float = CHANGE_THRESHOLD
                   ) -> np.ndarray:
  """(B, H, W) bool: pixels where the truth differs from the input by more than ``threshold``
  in some channel (the region the edit has to change)."""
  diff = np.abs(np.asarray(input_BxHxWx3, np.float64) - np.asarray(truth_BxHxWx3, np.float64))
  return diff.max(axis=-1) > threshold


def error_inside(out_BxHxWx3, truth_BxHxWx3, mask_BxHxW) -> np.ndarray:
  """(B,) mean absolute error (0-1 units, over channels) on the pixels of ``mask``; NaN where
  the mask is empty."""
  d = np.abs(_error(out_BxHxWx3, truth_BxHxWx3)).mean(axis=-1)
  mask = np.asarray(mask_BxHxW, bool)
  count = mask.sum(axis=(1, 2))
  total = np.where(mask, d, 0.0).sum(axis=(1, 2))
  return np.where(count > 0, total / np.maximum(count, 1), np.nan)
