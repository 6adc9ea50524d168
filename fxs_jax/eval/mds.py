"""Classical (Torgerson) multidimensional scaling: points in a few dimensions whose distances match
a distance matrix, for maps of identity embeddings (the video papers' MDS plots).

With ``D`` the (N, N) Euclidean distances of some points, ``B = -1/2 J D^2 J`` (``J`` the centring
matrix) is the Gram matrix of the centred points; its top ``k`` eigenvectors scaled by the root of
their eigenvalues are the points in ``k`` dimensions, exact (up to a rotation and reflection) when
the points span at most ``k`` dimensions, the best rank-``k`` fit of ``B`` otherwise.
"""

from __future__ import annotations

import numpy as np

from fxs_jax.errors import UserError


def pairwise_distances(points_NxD) -> np.ndarray:
  """(N, N) Euclidean distances between the rows of ``points``."""
  x = np.asarray(points_NxD, np.float64)
  x = x - x.mean(axis=0)  # distances do not change; the expansion below cancels less
  squared = np.sum(x * x, axis=1)
  d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * x @ x.T, 0.0)
  np.fill_diagonal(d2, 0.0)
  return np.sqrt(d2)


def classical_mds(distances_NxN, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """``(points (N, dims), eigenvalues (dims,))`` from a symmetric distance matrix; the columns
  are ordered by decreasing eigenvalue (negative eigenvalues, from non-Euclidean distances, give
  zero columns)."""
  d = np.asarray(distances_NxN, np.float64)
  if d.ndim != 2 or d.shape[0] != d.shape[1] or not np.all(np.isfinite(d)):
    raise UserError(f"distances must be a finite square matrix, got shape {d.shape}.")
  if not np.allclose(d, d.T, atol=1e-8):
    raise UserError("distances must be symmetric (d[i, j] == d[j, i]).")
  n = len(d)
  if not 1 <= dims <= n:
    raise UserError(f"dims must be in [1, {n}] for {n} points, got {dims}.")
  centring = np.eye(n) - np.full((n, n), 1.0 / n)
  gram = -0.5 * centring @ (d * d) @ centring
  values, vectors = np.linalg.eigh(gram)
  order = np.argsort(values)[::-1][:dims]
  values = values[order]
  points = vectors[:, order] * np.sqrt(np.maximum(values, 0.0))
  return points, values
