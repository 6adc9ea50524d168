"""SSIM and PSNR through dm-pix (Gaussian-window SSIM, as scikit-image's defaults for the papers).

Images in [-1, 1] (the models' range) are mapped to [0, 1] first: dm-pix's PSNR assumes a peak of 1.
"""

from __future__ import annotations

import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np


def to_unit(img_signed: jax.Array) -> jax.Array:
  """[-1, 1] -> [0, 1], clipped."""
  return jnp.clip((jnp.asarray(img_signed, jnp.float32) + 1.0) / 2.0, 0.0, 1.0)


@jax.jit
def ssim(a_BxHxWx3: jax.Array, b_BxHxWx3: jax.Array) -> jax.Array:
  """Per-image SSIM of two [-1, 1] batches (window 11, sigma 1.5, K1 0.01, K2 0.03)."""
  return pix.ssim(to_unit(a_BxHxWx3), to_unit(b_BxHxWx3), max_val=1.0)


@jax.jit
def psnr(a_BxHxWx3: jax.Array, b_BxHxWx3: jax.Array) -> jax.Array:
  """Per-image PSNR (dB) of two [-1, 1] batches, peak 1 after mapping to [0, 1]."""
  return pix.psnr(to_unit(a_BxHxWx3), to_unit(b_BxHxWx3))


def region_boxes(landmarks_Bx68x2: np.ndarray, size: int, margin: float = 0.35
                 ) -> dict[str, np.ndarray]:
  """Integer boxes (B, 4: y0, y1, x0, x1) around the eyes (brows included) and the mouth.

  The box is the landmarks' bounding box grown by ``margin`` of its larger side, clipped to the
  image; used to compare local detail (LGP-GAN's claim) inside the regions that carry most AUs.
  """
  groups = {"eyes": np.r_[17:27, 36:48], "mouth": np.r_[48:68]}
  boxes = {}
  for name, idx in groups.items():
    pts = landmarks_Bx68x2[:, idx]
    lo, hi = pts.min(1), pts.max(1)  # (B, 2) as (x, y)
    grow = margin * (hi - lo).max(1, keepdims=True)
    lo = np.clip(np.floor(lo - grow), 0, size - 1).astype(int)
    hi = np.clip(np.ceil(hi + grow) + 1, 1, size).astype(int)
    boxes[name] = np.stack([lo[:, 1], hi[:, 1], lo[:, 0], hi[:, 0]], axis=1)
  return boxes


def region_ssim(a_BxHxWx3: np.ndarray, b_BxHxWx3: np.ndarray, boxes_Bx4: np.ndarray) -> np.ndarray:
  """SSIM inside each image's box (the crop must be at least 11 px for the Gaussian window;
  smaller crops are zero-padded symmetrically up to 11)."""
  out = []
  for a, b, (y0, y1, x0, x1) in zip(np.asarray(a_BxHxWx3), np.asarray(b_BxHxWx3), boxes_Bx4):
    ca, cb = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    pad_y, pad_x = max(0, 11 - ca.shape[0]), max(0, 11 - ca.shape[1])
    if pad_y or pad_x:
      pads = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0))
      ca, cb = np.pad(ca, pads), np.pad(cb, pads)
    out.append(float(pix.ssim(to_unit(ca), to_unit(cb), max_val=1.0)))
  return np.asarray(out)


def region_mse(a_BxHxWx3: np.ndarray, b_BxHxWx3: np.ndarray, boxes_Bx4: np.ndarray) -> np.ndarray:
  """Mean squared error inside each image's box, images mapped to [0, 1] (as ``to_unit``)."""
  unit = lambda x: np.clip((np.asarray(x, np.float64) + 1.0) / 2.0, 0.0, 1.0)
  squared = (unit(a_BxHxWx3) - unit(b_BxHxWx3)) ** 2
  return np.asarray([sq[y0:y1, x0:x1].mean() for sq, (y0, y1, x0, x1) in zip(squared, boxes_Bx4)])


def psnr_of_mse(mse: float) -> float:
  """PSNR (dB, peak 1) of a mean squared error in [0, 1] units; inf for 0."""
  return np.inf if mse == 0 else float(-10.0 * np.log10(mse))
