"""Keypoint images: the 68 iBUG landmarks rendered as a soft image, differentiable in positions.

The landmark-driven cGAN feeds such an image (J_gen) to its U-Net beside the face, and the
TextureGAN reuses it; because every pixel is a smooth function of the landmark coordinates, an
image loss downstream trains whatever predicted the landmarks.

Conventions are :mod:`fxs_jax.data.synth_faces`'s: (x, y) pixel coordinates in a ``size x size``
image, x right, y down, pixel centres at integer coordinates; the output is indexed
``img[b, y, x, c]``. Two kinds (:data:`KEYPOINT_KINDS`), both with the channel layout
:data:`KEYPOINT_CHANNELS` (one channel per facial part, the MAX over that part's landmarks or
segments, so values stay in [0, 1]; a single-channel image is the max over the last axis):

* ``"heatmaps"``: one Gaussian ``exp(-((x - px)^2 + (y - py)^2) / (2 sigma^2))`` per landmark.
* ``"contours"``: the iBUG contours as soft lines, ``exp(-d^2 / (2 sigma^2))`` with ``d`` the
  pixel's distance to a segment between consecutive landmarks. Polylines: jaw 0-16, brows 17-21
  and 22-26, nose bridge 27-30, nostrils 31-35 (all open); eyes 36-41 and 42-47, outer lips
  48-59 and inner lips 60-67 (closed: 41->36, 47->42, 59->48 and 67->60 are drawn).

A non-finite landmark (NaN: no face found) renders nothing: its Gaussian and every segment that
touches it are dropped (an all-NaN landmark set gives an all-zero image), and the gradient with
respect to it is zero, never NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

KEYPOINT_KINDS = ("heatmaps", "contours")
KEYPOINT_CHANNELS = ("jaw", "brows", "nose", "eyes", "lips")

# (channel, first landmark, one past the last, closed loop), in channel order.
_POLYLINES = (
    ("jaw", 0, 17, False),
    ("brows", 17, 22, False), ("brows", 22, 27, False),
    ("nose", 27, 31, False), ("nose", 31, 36, False),
    ("eyes", 36, 42, True), ("eyes", 42, 48, True),
    ("lips", 48, 60, True), ("lips", 60, 68, True),
)


def _primitives(kind: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
  """Static (start, end) landmark indices of the kind's primitives (a heatmap point is the
  zero-length segment (i, i)), sorted by channel, and each channel's [lo, hi) bounds."""
  starts, ends, channels = [], [], []
  for channel, first, stop, closed in _POLYLINES:
    idx = list(range(first, stop))
    if kind == "heatmaps":
      pairs = [(i, i) for i in idx]
    else:
      pairs = list(zip(idx[:-1], idx[1:])) + ([(idx[-1], idx[0])] if closed else [])
    starts += [a for a, _ in pairs]
    ends += [b for _, b in pairs]
    channels += [KEYPOINT_CHANNELS.index(channel)] * len(pairs)
  bounds = np.searchsorted(channels, np.arange(len(KEYPOINT_CHANNELS) + 1)).tolist()
  return np.asarray(starts), np.asarray(ends), bounds


def _check_kind(kind: str) -> None:
  if kind not in KEYPOINT_KINDS:
    raise ValueError(f"unknown keypoint image kind {kind!r}; allowed kinds: {KEYPOINT_KINDS}.")


def num_channels(kind: str) -> int:
  """Number of output channels of ``render_keypoints(..., kind=kind)`` (one per part: 5)."""
  _check_kind(kind)
  return len(KEYPOINT_CHANNELS)


def segment_intensity(pixels_HxWx2: jax.Array, start_BxSx2: jax.Array, end_BxSx2: jax.Array,
                      sigma: float) -> jax.Array:
  """(B, H, W, S) ``exp(-d^2 / (2 sigma^2))``, ``d`` the distance of each (x, y) pixel to each
  segment ``start -> end`` (a point when they coincide).

  The closest-point parameter ``t`` in [0, 1] is held constant for differentiation: ``d^2`` is
  stationary in ``t`` at an interior minimum and ``t`` is constant where it is clipped, so the
  gradient is exact and stays finite for zero-length segments.
  """
  p_1xHxWx1x2 = pixels_HxWx2[None, :, :, None, :]
  a_Bx1x1xSx2 = start_BxSx2[:, None, None]
  ab_Bx1x1xSx2 = (end_BxSx2 - start_BxSx2)[:, None, None]
  ap_BxHxWxSx2 = p_1xHxWx1x2 - a_Bx1x1xSx2
  len2_Bx1x1xS = jnp.sum(ab_Bx1x1xSx2**2, axis=-1)
  degenerate = len2_Bx1x1xS < 1e-12
  t_BxHxWxS = jnp.sum(ap_BxHxWxSx2 * ab_Bx1x1xSx2, axis=-1) / jnp.where(degenerate, 1.0,
                                                                          len2_Bx1x1xS)
  t_BxHxWxS = jax.lax.stop_gradient(jnp.where(degenerate, 0.0, jnp.clip(t_BxHxWxS, 0.0, 1.0)))
  diff_BxHxWxSx2 = ap_BxHxWxSx2 - t_BxHxWxS[..., None] * ab_Bx1x1xSx2
  d2_BxHxWxS = jnp.sum(diff_BxHxWxSx2**2, axis=-1)
  return jnp.exp(-d2_BxHxWxS / (2.0 * jnp.square(sigma)))


def heatmap_intensity(coords_N: jax.Array, points_BxSx2: jax.Array, sigma: float) -> jax.Array:
  """(B, N, N, S) Gaussians ``exp(-((x - px)^2 + (y - py)^2) / (2 sigma^2))`` on the pixel grid
  ``coords_N`` (the same along x and y), as the product of a row and a column factor."""
  scale = 1.0 / (2.0 * jnp.square(sigma))
  gx_BxSxN = jnp.exp(-jnp.square(coords_N[None, None] - points_BxSx2[..., 0:1]) * scale)
  gy_BxSxN = jnp.exp(-jnp.square(coords_N[None, None] - points_BxSx2[..., 1:2]) * scale)
  return gy_BxSxN.transpose(0, 2, 1)[:, :, None, :] * gx_BxSxN.transpose(0, 2, 1)[:, None, :, :]


def render_keypoints(landmarks_Bx68x2: jax.Array, size: int, kind: str = "contours",
                     sigma: float = 1.0) -> jax.Array:
  """(B, size, size, 5) float32 keypoint image in [0, 1] of (x, y) iBUG-68 landmarks.

  ``kind`` is one of :data:`KEYPOINT_KINDS` (see the module docstring), channels are
  :data:`KEYPOINT_CHANNELS`, ``sigma`` is the Gaussian / line width in pixels. Non-finite
  landmarks render nothing. Pure ``jax.numpy``, jit-able (``size`` and ``kind`` static); memory
  is O(B * size^2 * 68).
  """
  _check_kind(kind)
  landmarks_Bx68x2 = jnp.asarray(landmarks_Bx68x2, jnp.float32)
  if landmarks_Bx68x2.ndim != 3 or landmarks_Bx68x2.shape[1:] != (68, 2):
    raise ValueError(f"landmarks must be (B, 68, 2), got {landmarks_Bx68x2.shape}.")
  finite_Bx68 = jnp.all(jnp.isfinite(landmarks_Bx68x2), axis=-1)
  # Zeroed before any arithmetic so NaN reaches neither the image nor the gradient.
  safe_Bx68x2 = jnp.where(finite_Bx68[..., None], landmarks_Bx68x2, 0.0)
  starts, ends, bounds = _primitives(kind)
  coords = jnp.arange(size, dtype=jnp.float32)
  pixels_HxWx2 = jnp.stack(jnp.meshgrid(coords, coords, indexing="xy"), axis=-1)  # (x, y)
  if kind == "heatmaps":  # separable: exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2), ~10x faster
    inten_BxHxWxS = heatmap_intensity(coords, safe_Bx68x2[:, starts], sigma)
  else:
    inten_BxHxWxS = segment_intensity(pixels_HxWx2, safe_Bx68x2[:, starts],
                                      safe_Bx68x2[:, ends], sigma)
  valid_BxS = finite_Bx68[:, starts] & finite_Bx68[:, ends]
  inten_BxHxWxS = jnp.where(valid_BxS[:, None, None, :], inten_BxHxWxS, 0.0)
  return jnp.stack([jnp.max(inten_BxHxWxS[..., lo:hi], axis=-1)
                    for lo, hi in zip(bounds[:-1], bounds[1:])], axis=-1)
