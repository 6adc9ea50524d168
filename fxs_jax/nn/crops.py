"""Fixed-size face-region crops located by the 68 landmarks, and their exact paste-back.

LGP-GAN's local generators work on the eye region (both eyes and brows in one crop) and the mouth
region. A crop is a fixed-size window at an integer offset, so cropping and pasting are exact
(``lax.dynamic_slice`` / ``lax.dynamic_update_slice``, no resampling) and gradients flow through
the pixel values (never through the offsets, which are integers).

Offsets are clipped so that the window lies inside the image for ANY landmark set: a region near
or over the border gets the nearest in-image window, and a non-finite centre (NaN landmarks, no
face found) falls back to the image centre.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# iBUG-68 indices of each region: brows 17-26 + eyes 36-47; outer + inner lips 48-67.
REGION_LANDMARKS = {
    "eyes": np.r_[17:27, 36:48],
    "mouth": np.r_[48:68],
}
# The name scope of the crops and paste-backs in a compiled program (a profile groups them by it).
PROFILE_SCOPE = "crops_and_paste"


def region_centres(landmarks_Bx68x2: jax.Array, region: str) -> jax.Array:
  """(B, 2) (x, y) centre of ``region``'s landmark bounding box (NaN if any point is NaN)."""
  pts_BxNx2 = landmarks_Bx68x2[:, REGION_LANDMARKS[region]]
  return 0.5 * (jnp.min(pts_BxNx2, axis=1) + jnp.max(pts_BxNx2, axis=1))


def crop_offsets(centre_Bx2: jax.Array, crop_hw: tuple[int, int],
                 image_hw: tuple[int, int]) -> jax.Array:
  """(B, 2) int32 (top, left) of the ``crop_hw`` window centred on the (x, y) ``centre_Bx2``.

  ``top = round(y - h / 2)`` clipped to ``[0, H - h]`` (same for x), computed in float before
  the integer cast so that inf / huge values clip instead of overflowing; non-finite centres
  use the image centre.
  """
  crop_h, crop_w = crop_hw
  image_h, image_w = image_hw
  if not (0 < crop_h <= image_h and 0 < crop_w <= image_w):
    raise ValueError(f"crop {crop_hw} does not fit in an image of {image_hw}.")
  xy_Bx2 = jnp.asarray(centre_Bx2, jnp.float32)
  default_2 = jnp.array([image_w / 2.0, image_h / 2.0], jnp.float32)
  xy_Bx2 = jnp.where(jnp.isfinite(xy_Bx2), xy_Bx2, default_2)
  left = jnp.clip(jnp.round(xy_Bx2[:, 0] - crop_w / 2.0), 0, image_w - crop_w)
  top = jnp.clip(jnp.round(xy_Bx2[:, 1] - crop_h / 2.0), 0, image_h - crop_h)
  return jnp.stack([top, left], axis=-1).astype(jnp.int32)


def region_offsets(landmarks_Bx68x2: jax.Array, region: str, crop_hw: tuple[int, int],
                   image_hw: tuple[int, int]) -> jax.Array:
  """(B, 2) int32 (top, left) of ``region``'s crop window for each landmark set."""
  return crop_offsets(region_centres(landmarks_Bx68x2, region), crop_hw, image_hw)


def crop(image_BxHxWxC: jax.Array, offsets_Bx2: jax.Array, crop_hw: tuple[int, int]
         ) -> jax.Array:
  """(B, h, w, C) windows ``image[b, top:top + h, left:left + w]``."""
  channels = image_BxHxWxC.shape[-1]

  def one(img_HxWxC, off_2):
    return jax.lax.dynamic_slice(img_HxWxC, (off_2[0], off_2[1], 0), (*crop_hw, channels))

  with jax.named_scope(PROFILE_SCOPE):
    return jax.vmap(one)(image_BxHxWxC, offsets_Bx2)


def feather_weights(crop_hw: tuple[int, int], feather: int) -> np.ndarray:
  """(h, w, 1) blend weights of a pasted crop: 1 inside, rising linearly over the ``feather``
  pixels next to each border, ``(d + 0.5) / feather`` at distance ``d`` from the nearest border
  pixel row / column; all ones for ``feather`` 0 (a hard paste)."""
  h, w = crop_hw
  if feather < 0 or 2 * feather > min(h, w):
    raise ValueError(f"paste feather {feather} must be in [0, {min(h, w) // 2}] for a "
                     f"{h}x{w} crop.")
  if feather == 0:
    return np.ones((h, w, 1), np.float32)
  ramp = lambda n: np.minimum(1.0, (np.minimum(np.arange(n), np.arange(n)[::-1]) + 0.5) / feather)
  return np.minimum(ramp(h)[:, None], ramp(w)[None, :])[..., None].astype(np.float32)


def paste(image_BxHxWxC: jax.Array, patch_BxhxwxC: jax.Array, offsets_Bx2: jax.Array,
          feather: int = 0) -> jax.Array:
  """``image`` with ``patch`` written over the window at ``offsets`` (inverse of :func:`crop`);
  with ``feather`` > 0 the patch is blended into the image's own pixels near the window's border
  (``feather_weights``), so no hard edge is left where the crop ends."""
  def one(img_HxWxC, patch_hxwxC, off_2):
    return jax.lax.dynamic_update_slice(img_HxWxC, patch_hxwxC.astype(img_HxWxC.dtype),
                                        (off_2[0], off_2[1], 0))

  with jax.named_scope(PROFILE_SCOPE):
    if feather:
      weights = feather_weights(patch_BxhxwxC.shape[1:3], feather)
      under = crop(image_BxHxWxC, offsets_Bx2, patch_BxhxwxC.shape[1:3])
      patch_BxhxwxC = weights * patch_BxhxwxC + (1.0 - weights) * under
    return jax.vmap(one)(image_BxHxWxC, patch_BxhxwxC, offsets_Bx2)
