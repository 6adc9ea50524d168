"""Geodesic distance on the SRVF sphere against geomstats' Hypersphere."""

import numpy as np

np.trapz = getattr(np, "trapz", np.trapezoid)  # geomstats 2.8 imports numpy.trapz
from geomstats.geometry.hypersphere import Hypersphere  # pylint: disable=g-import-not-at-top

from fxs_jax.eval import motion

T, D = 6, 4


def _unit_srvfs(n, seed):
  q = np.random.default_rng(seed).normal(size=(n, T, D))
  return q / np.sqrt(np.sum(q * q, axis=(1, 2), keepdims=True) / T)  # <q, q> = 1


def test_inner_product_normalisation():
  q = _unit_srvfs(3, 0)
  np.testing.assert_allclose(motion.srvf_inner(q, q), 1.0)


def test_geodesic_matches_geomstats_hypersphere():
  a, b = _unit_srvfs(5, 1), _unit_srvfs(5, 2)
  sphere = Hypersphere(dim=T * D - 1)
  # <q1, q2> = sum / T: the same sphere as R^(T*D) after scaling by 1/sqrt(T).
  want = [sphere.metric.dist(x.ravel() / np.sqrt(T), y.ravel() / np.sqrt(T)) for x, y in zip(a, b)]
  np.testing.assert_allclose(motion.geodesic_distance(a, b), want, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(np.diagonal(motion.pairwise_geodesic(a, b)), want, rtol=1e-6,
                             atol=1e-7)


def test_distance_to_itself_and_antipode():
  q = _unit_srvfs(2, 3)
  np.testing.assert_allclose(motion.geodesic_distance(q, q), 0.0, atol=1e-6)
  np.testing.assert_allclose(motion.geodesic_distance(q, -q), np.pi, atol=1e-6)


def test_motion_metrics_nearest_real_is_zero_for_copies():
  real = _unit_srvfs(4, 4)
  m = motion.motion_metrics(real[::-1].copy(), real)
  assert m["geodesic_nearest_real"] < 1e-6 and m["geodesic_paired"] > 0.1 and m["n"] == 4
