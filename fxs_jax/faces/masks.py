"""Soft face masks in a crop's frame: where an edited crop replaces its photo.

:func:`face_mask` is 1 on the convex hull of the face's 68 landmarks (jaw, brows, eyes, nose,
mouth) and falls to 0 with a smoothstep over ``margin`` outside it, so that pasting an edit back
(:func:`fxs_jax.faces.paste_back` with ``mask=``) changes the face and a little around it (a
chin that drops as the mouth opens, brows that rise) but never the hair, the background or a
neighbouring face that the square crop also holds. Coordinates are (x, y) pixels with pixel
centres at integers, as everywhere in :mod:`fxs_jax.faces`.
"""

from __future__ import annotations

import numpy as np

from fxs_jax.errors import UserError

DEFAULT_MARGIN = 0.1  # of the crop side: 6.4 px at 64, 12.8 px at 128


def convex_hull(points_Nx2) -> np.ndarray:
  """The convex hull's vertices (K, 2), counter-clockwise in (x, y) (Andrew's monotone chain)."""
  points = sorted(set(map(tuple, np.asarray(points_Nx2, np.float64))))
  if len(points) < 3:
    return np.asarray(points, np.float64)

  def half(sequence):
    chain = []
    for p in sequence:
      while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
        chain.pop()
      chain.append(p)
    return chain[:-1]

  return np.asarray(half(points) + half(reversed(points)), np.float64)


def _cross(o, a, b) -> float:
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def signed_distance(xs, ys, polygon_Kx2: np.ndarray) -> np.ndarray:
  """Distance from each point (xs, ys) to the boundary of a convex counter-clockwise polygon:
  positive inside, negative outside."""
  px, py = np.asarray(xs, np.float64)[..., None], np.asarray(ys, np.float64)[..., None]
  start, end = polygon_Kx2, np.roll(polygon_Kx2, -1, axis=0)
  edge = end - start
  # Position of the nearest point along each edge, clipped to the segment.
  along = ((px - start[:, 0]) * edge[:, 0] + (py - start[:, 1]) * edge[:, 1]) / np.maximum(
      np.sum(edge ** 2, axis=1), 1e-12)
  along = np.clip(along, 0.0, 1.0)
  distance = np.hypot(px - start[:, 0] - along * edge[:, 0], py - start[:, 1] - along * edge[:, 1])
  # Counter-clockwise: inside is to the left of every edge.
  left = edge[:, 0] * (py - start[:, 1]) - edge[:, 1] * (px - start[:, 0]) >= 0
  nearest = distance.min(axis=-1)
  return np.where(np.all(left, axis=-1), nearest, -nearest)


def face_mask(landmarks_68x2, size: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
  """(size, size) float32 weights in [0, 1]: 1 on the landmarks' convex hull, falling to 0
  (smoothstep) at ``margin`` (a fraction of ``size``) outside it.

  Args:
    landmarks_68x2: the face's landmarks in crop pixels (e.g. ``AlignedFace.landmarks``).
    size: the crop's side.
    margin: width of the fall-off outside the hull, as a fraction of the crop side; 0 gives a
      hard edge on the hull.
  """
  landmarks = np.asarray(landmarks_68x2, np.float64)
  if landmarks.ndim != 2 or landmarks.shape[1] != 2 or len(landmarks) < 3 \
      or not np.all(np.isfinite(landmarks)):
    raise UserError(f"landmarks must be finite (N >= 3, 2) points, got shape {landmarks.shape}")
  if not 0.0 <= margin <= 1.0:
    raise UserError(f"margin must be in [0, 1] (a fraction of the crop side), got {margin}")
  hull = convex_hull(landmarks)
  if len(hull) < 3:
    raise UserError("the landmarks lie on one line; pass a face's landmarks")
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
  distance = signed_distance(xs, ys, hull)
  ramp = margin * size
  if ramp <= 0:
    return (distance >= 0).astype(np.float32)
  weight = np.clip(1.0 + distance / ramp, 0.0, 1.0)
  return (weight * weight * (3.0 - 2.0 * weight)).astype(np.float32)
