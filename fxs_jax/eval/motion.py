"""Motion metrics: geodesic distance between landmark-sequence SRVFs on the Hilbert sphere.

cWGAN-P3 (MotionGAN) represents a landmark sequence by its square-root velocity function (SRVF)
``q`` of shape (T, D), normalised so that ``<q, q> = sum(q * q) / T = 1``: a point on the unit
sphere of L2([0, 1], R^D). Generated motions are compared to real ones by the geodesic (great
circle) distance ``arccos(<q1, q2>)``. This is the eval hook the motion model's recipe calls; the
SRVF transform itself lives with the geometry code of that model.

:func:`report` gives the rows of ``--mode=eval`` for two "methods": ``model`` (generated motion i,
asked for the class of held-out real motion i) and ``real_heldout`` (the held-out real motions
themselves, as if a model had produced them):

* ``geodesic_paired``: generated i vs real i; for the reals, real i vs another held-out real of
  its class (generated i is a random motion of that class, not a reconstruction of real i).
* ``geodesic_nearest_same_class`` / ``_other_class``: distance to the nearest reference real
  motion of the requested class / of any other class, and ``nearest_is_same_class``: the
  fraction whose nearest reference motion has the requested class. The reference set is the
  real TRAIN motions when given (then the ``real_heldout`` row measures how near unseen real
  motions come to them: a model far nearer than that copies its training set), else the held-out
  ones (leave-one-out for the reals).
* ``diversity_within_class``: mean pairwise distance between different motions of one class,
  averaged over the classes; far below the reals' value is mode collapse.
* ``motion_class_accuracy``: how often an independent classifier of real motions
  (``fxs_jax.eval.motion_classifier``) gives the requested class.
"""

from __future__ import annotations

from collections.abc import Callable

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


def real_reference(real_NxTxD: np.ndarray, class_N: np.ndarray | None = None) -> dict:
  """``motion_metrics``' scale: each real motion against the *other* real ones (paired: the next
  example in order, or with ``class_N`` the next one of its class; nearest: its nearest other
  real motion). A model whose paired distance is far above this one has not learnt the motions
  the conditions ask for. Motions alone in their class have no pair and are left out."""
  pairwise = pairwise_geodesic(real_NxTxD, real_NxTxD)
  n = len(pairwise)
  if n < 2:
    return {"n": n}
  partner = _next_of_same_class(np.zeros(n, int) if class_N is None else np.asarray(class_N))
  has_partner = partner >= 0
  np.fill_diagonal(pairwise, np.inf)
  metrics = {"geodesic_nearest_real": float(np.mean(pairwise.min(axis=1))), "n": int(n)}
  if has_partner.any():
    metrics["geodesic_paired"] = float(np.mean(pairwise[has_partner, partner[has_partner]]))
  return metrics


def _next_of_same_class(class_N: np.ndarray) -> np.ndarray:
  """For each i, the next index j != i (cyclically) with the same class, or -1 if none."""
  partner = np.full(len(class_N), -1)
  for label in np.unique(class_N):
    members = np.flatnonzero(class_N == label)
    if len(members) > 1:
      partner[members] = np.roll(members, -1)
  return partner


# ---- per class ---------------------------------------------------------------------------------
def nearest_by_class(q_NxTxD: np.ndarray, class_N: np.ndarray, reference_MxTxD: np.ndarray,
                     reference_class_M: np.ndarray, exclude_self: bool = False) -> dict:
  """Each motion's distance to its nearest reference motion of its own class and of the others.

  Returns ``{metric: (value, n)}``: ``geodesic_nearest_same_class`` and
  ``geodesic_nearest_other_class`` (means over the motions that have such a reference motion),
  ``geodesic_nearest_real`` (the nearest of all) and ``nearest_is_same_class`` (the fraction of
  motions whose nearest reference motion has their class; ties count as such).
  ``exclude_self``: q and the reference are the same set (row i is not its own neighbour).
  """
  class_N, reference_class_M = np.asarray(class_N), np.asarray(reference_class_M)
  pairwise_NxM = pairwise_geodesic(q_NxTxD, reference_MxTxD)
  if exclude_self:
    np.fill_diagonal(pairwise_NxM, np.inf)
  same_NxM = class_N[:, None] == reference_class_M[None, :]
  same = np.where(same_NxM, pairwise_NxM, np.inf).min(axis=1)
  other = np.where(same_NxM, np.inf, pairwise_NxM).min(axis=1)
  has_same, has_other = np.isfinite(same), np.isfinite(other)
  metrics = {"geodesic_nearest_real": (float(np.mean(np.minimum(same, other))), len(same))}
  if has_same.any():
    metrics["geodesic_nearest_same_class"] = (float(np.mean(same[has_same])),
                                              int(has_same.sum()))
  if has_other.any():
    metrics["geodesic_nearest_other_class"] = (float(np.mean(other[has_other])),
                                               int(has_other.sum()))
  metrics["nearest_is_same_class"] = (float(np.mean(same <= other)), len(same))
  return metrics


def within_class_diversity(q_NxTxD: np.ndarray, class_N: np.ndarray) -> dict:
  """``diversity_within_class``: the mean geodesic distance between two different motions of one
  class, averaged over the classes with at least two motions (each class weighs the same), as
  ``{"diversity_within_class": (value, n motions counted)}``; ``per_class`` holds each class's
  mean. Empty if no class has two motions."""
  class_N = np.asarray(class_N)
  per_class, counted = {}, 0
  for label in np.unique(class_N):
    members = np.flatnonzero(class_N == label)
    if len(members) < 2:
      continue
    pairwise = pairwise_geodesic(q_NxTxD[members], q_NxTxD[members])
    per_class[label.item()] = float(pairwise.sum() / (len(members) * (len(members) - 1)))
    counted += len(members)
  if not per_class:
    return {}
  return {"diversity_within_class": (float(np.mean(list(per_class.values()))), counted),
          "per_class": per_class}


def report(generated_NxTxD: np.ndarray, real_NxTxD: np.ndarray,
           class_N: np.ndarray | None = None, train_MxTxD: np.ndarray | None = None,
           train_class_M: np.ndarray | None = None,
           classify: Callable[[np.ndarray], np.ndarray] | None = None) -> list[dict]:
  """The ``model`` and ``real_heldout`` rows (see the module docstring), as
  ``{"method", "metric", "value", "n"}`` dicts.

  Generated motion i was asked for ``class_N[i]``, the class of held-out real motion i. Without
  classes only the class-free rows (paired, nearest real among the held-out ones). The nearest
  reference motions are searched among ``train_MxTxD`` (classes ``train_class_M``) if given,
  else among the held-out ones. ``classify`` (SRVFs -> labels) adds ``motion_class_accuracy``.
  """
  if class_N is None:
    found = {"model": motion_metrics(generated_NxTxD, real_NxTxD),
             "real_heldout": real_reference(real_NxTxD)}
    return [{"method": method, "metric": k, "value": v, "n": metrics["n"]}
            for method, metrics in found.items() for k, v in metrics.items() if k != "n"]
  class_N = np.asarray(class_N)
  n, paired_reals = len(class_N), int(np.sum(_next_of_same_class(class_N) >= 0))
  real_paired = real_reference(real_NxTxD, class_N).get("geodesic_paired")
  found = {"model": {"geodesic_paired": (
               motion_metrics(generated_NxTxD, real_NxTxD)["geodesic_paired"], n)},
           "real_heldout": ({} if real_paired is None
                            else {"geodesic_paired": (real_paired, paired_reals)})}
  if train_MxTxD is None:
    reference, reference_class, held_out_is_reference = real_NxTxD, class_N, True
  else:
    reference, reference_class, held_out_is_reference = train_MxTxD, train_class_M, False
  for method, q in (("model", generated_NxTxD), ("real_heldout", real_NxTxD)):
    found[method].update(nearest_by_class(
        q, class_N, reference, reference_class,
        exclude_self=held_out_is_reference and method == "real_heldout"))
    diversity = within_class_diversity(q, class_N)
    diversity.pop("per_class", None)
    found[method].update(diversity)
    if classify is not None:
      found[method]["motion_class_accuracy"] = (float(np.mean(np.asarray(classify(q)) == class_N)),
                                                n)
  return [{"method": method, "metric": k, "value": v, "n": count}
          for method, metrics in found.items() for k, (v, count) in metrics.items()]
