"""Motion metrics: geodesic distance between landmark-sequence SRVFs on the Hilbert sphere.

cWGAN-P3 (MotionGAN) represents a landmark sequence by its square-root velocity function (SRVF)
``q`` of shape (T, D), normalised so that ``<q, q> = sum(q * q) / T = 1``: a point on the unit
sphere of L2([0, 1], R^D). Generated motions are compared to real ones by the geodesic (great
circle) distance ``arccos(<q1, q2>)``. This is the eval hook the motion model's recipe calls; the
SRVF transform itself lives with the geometry code of that model.
"""

from __future__ import annotations

import numpy as np


def srvf_inner(q1_TxD: np.ndarray, q2_TxD: np.ndarray) -> np.ndarray:
  """``<q1, q2> = sum_t q1_t . q2_t / T`` over the last two axes (batch axes broadcast)."""
  q1, q2 = np.asarray(q1_TxD, np.float64), np.asarray(q2_TxD, np.float64)
  return np.sum(q1 * q2, axis=(-2, -1)) / q1.shape[-2]


def geodesic_distance(q1_TxD: np.ndarray, q2_TxD: np.ndarray) -> np.ndarray:
  """Great-circle distance ``arccos(clip(<q1, q2>, -1, 1))`` between unit SRVFs (in [0, pi])."""
  return np.arccos(np.clip(srvf_inner(q1_TxD, q2_TxD), -1.0, 1.0))


def pairwise_geodesic(a_NxTxD: np.ndarray, b_MxTxD: np.ndarray) -> np.ndarray:
  """(N, M) distances; ``arccos(A @ B.T)`` on flattened SRVFs (no per-pair Python loop)."""
  a = np.asarray(a_NxTxD, np.float64).reshape(len(a_NxTxD), -1)
  b = np.asarray(b_MxTxD, np.float64).reshape(len(b_MxTxD), -1)
  t = np.shape(a_NxTxD)[-2]
  return np.arccos(np.clip(a @ b.T / t, -1.0, 1.0))


def motion_metrics(generated_NxTxD: np.ndarray, real_NxTxD: np.ndarray) -> dict:
  """Paired distance (generated i vs the real motion it was conditioned like) and the distance
  of each generated motion to its nearest real one (a coverage-free realism check)."""
  pairwise = pairwise_geodesic(generated_NxTxD, real_NxTxD)
  return {"geodesic_paired": float(np.mean(np.diagonal(pairwise))),
          "geodesic_nearest_real": float(np.mean(pairwise.min(axis=1))),
          "n": int(len(generated_NxTxD))}


def real_reference(real_NxTxD: np.ndarray) -> dict:
  """``motion_metrics``' scale: each real motion against the *other* real ones (paired: the next
  example in order; nearest: its nearest other real motion). A model whose paired distance is
  far above this one has not learnt the motions the conditions ask for."""
  pairwise = pairwise_geodesic(real_NxTxD, real_NxTxD)
  n = len(pairwise)
  if n < 2:
    return {"n": n}
  paired = pairwise[np.arange(n), (np.arange(n) + 1) % n]
  np.fill_diagonal(pairwise, np.inf)
  return {"geodesic_paired": float(np.mean(paired)),
          "geodesic_nearest_real": float(np.mean(pairwise.min(axis=1))), "n": int(n)}
