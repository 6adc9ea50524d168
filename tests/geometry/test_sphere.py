"""The SRVF sphere (<q1, q2> = sum / T) against geomstats' Hypersphere and the authors' formulas.

``q -> q.ravel() / sqrt(T)`` is an isometry from our sphere onto geomstats'
``Hypersphere(dim=T*D - 1)``: points, tangent vectors, logs and exps map to each other by it and
distances are equal. float64 throughout (the autouse ``float64`` fixture) except the one float32
test; agreement is asserted to 1e-10 unless stated.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.learning.frechet_mean import FrechetMean

from fxs_jax import geometry
from fxs_jax.eval import motion

T, D = 8, 6
SEEDS = range(4)
TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def hypersphere():
  return Hypersphere(dim=T * D - 1)


def _to_gs(x_xTxD):
  x = np.asarray(x_xTxD)
  return x.reshape(x.shape[:-2] + (-1,)) / np.sqrt(T)


def _from_gs(x_xTD):
  return np.asarray(x_xTD).reshape(np.shape(x_xTD)[:-1] + (T, D)) * np.sqrt(T)


def _unit(rng, *batch):
  q = rng.normal(size=batch + (T, D))
  return q / np.sqrt(np.sum(q * q, axis=(-2, -1), keepdims=True) / T)


def _tangent(rng, mu, norms):
  """Tangent vectors at mu with the given norms (one per entry)."""
  v = np.asarray(geometry.project_to_tangent(rng.normal(size=(len(norms), T, D)), mu))
  return v / np.asarray(geometry.norm(v))[:, None, None] * np.asarray(norms)[:, None, None]


def _authors_log(q, mu, clip):
  """Literal ``sphere_to_tangent.m`` with the TF code's clip of the inner product."""
  prod = np.sum(mu * q) / T
  u = q - mu * prod
  lu = np.sqrt(np.sum(u * u) / T)
  return u * 0 if lu == 0 else u * (np.arccos(np.clip(prod, -clip, clip)) / lu)


def test_inner_norm_and_projections():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, T, D)), rng.normal(size=(T, D))
  np.testing.assert_allclose(geometry.inner(a, b), np.sum(a * b, axis=(1, 2)) / T, **TOL)
  np.testing.assert_allclose(geometry.norm(geometry.project_to_sphere(a)), 1.0, **TOL)
  mu = _unit(rng)
  np.testing.assert_allclose(geometry.inner(mu, geometry.project_to_tangent(a, mu)), 0.0,
                             atol=1e-12)
  np.testing.assert_array_equal(geometry.project_to_sphere(jnp.zeros((T, D))), 0.0)


def test_log_exp_and_distance_match_geomstats(hypersphere):
  metric = hypersphere.metric
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    q, mu = _unit(rng, 5), _unit(rng)
    log = geometry.log_map(q, mu)
    np.testing.assert_allclose(_to_gs(log), metric.log(_to_gs(q), _to_gs(mu)), **TOL)
    v = _tangent(rng, mu, [1e-7, 1e-3, 0.5, 2.0, 3.1])
    np.testing.assert_allclose(_to_gs(geometry.exp_map(v, mu)), metric.exp(_to_gs(v), _to_gs(mu)),
                               **TOL)
    p = _unit(rng, 5)
    want = metric.dist(_to_gs(q), _to_gs(p))
    np.testing.assert_allclose(geometry.geodesic_distance(q, p), want, **TOL)
    np.testing.assert_allclose(motion.geodesic_distance(q, p), want, **TOL)
    t = np.array([0.0, 0.3, 1.0])
    np.testing.assert_allclose(_to_gs(geometry.geodesic_interpolate(q[0], p[0], t)),
                               metric.geodesic(_to_gs(q[0]), end_point=_to_gs(p[0]))(t), **TOL)


def test_exp_of_log_and_log_of_exp_are_identities():
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    mu = _unit(rng)
    near_antipode = geometry.project_to_sphere(-mu + 1e-3 * _unit(rng))
    q = np.concatenate([_unit(rng, 4), mu[None], np.asarray(near_antipode)[None]])
    np.testing.assert_allclose(geometry.exp_map(geometry.log_map(q, mu), mu), q, **TOL)
    v = _tangent(rng, mu, [0.0, 1e-9, 1e-4, 0.01, 1.0, 3.0, np.pi - 1e-4])
    np.testing.assert_allclose(geometry.log_map(geometry.exp_map(v, mu), mu), v, **TOL)
  # At the antipode the log is 0 (the authors' convention: every direction reaches it).
  np.testing.assert_array_equal(geometry.log_map(-mu, mu), 0.0)


def test_clipped_log_and_distance_match_the_authors_formulas():
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    mu = _unit(rng)
    v = _tangent(rng, mu, [1e-3, 0.1, 0.5, 2.0, 3.0])
    q = np.asarray(geometry.exp_map(v, mu))
    for clip in (1.0, 0.98):
      got = geometry.log_map(q, mu, clip=clip)
      want = [_authors_log(q_one, mu, clip) for q_one in q]
      np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
      want = np.arccos(np.clip(np.sum(q * mu, axis=(1, 2)) / T, -clip, clip))
      np.testing.assert_allclose(geometry.geodesic_distance(q, mu, clip), want, rtol=1e-9,
                                 atol=1e-9)


def test_karcher_mean_matches_geomstats_frechet_mean(hypersphere):
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    center = _unit(rng)
    qs = np.asarray(geometry.exp_map(_tangent(rng, center, rng.uniform(0.1, 0.8, 7)), center))
    got = geometry.karcher_mean(jnp.asarray(qs), steps=200, tol=1e-13)
    frechet = FrechetMean(hypersphere).set(max_iter=200, epsilon=1e-28)
    want = frechet.fit(_to_gs(qs)).estimate_
    np.testing.assert_allclose(_to_gs(got), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.mean(geometry.log_map(qs, got), axis=0), 0.0, atol=1e-12)
  # Independent means over a leading axis, inside an outer jit.
  stacked = jnp.stack([jnp.asarray(qs), -jnp.asarray(qs)])
  both = jax.jit(geometry.karcher_mean)(stacked, tol=1e-13)
  np.testing.assert_allclose(both[0], got, rtol=1e-9, atol=1e-9)
  np.testing.assert_allclose(both[1], -got, rtol=1e-9, atol=1e-9)


def test_gradients_are_finite_at_and_near_the_singular_points():
  weights = jnp.asarray(np.random.default_rng(9).normal(size=(T, D)))
  log_grad = jax.jit(jax.grad(lambda q, mu: jnp.sum(weights * geometry.log_map(q, mu)),
                              argnums=(0, 1)))
  clipped_log_grad = jax.jit(jax.grad(
      lambda q, mu: jnp.sum(weights * geometry.log_map(q, mu, clip=0.98)), argnums=(0, 1)))
  exp_grad = jax.jit(jax.grad(lambda v, mu: jnp.sum(weights * geometry.exp_map(v, mu)),
                              argnums=(0, 1)))
  dist_grad = jax.jit(jax.grad(geometry.geodesic_distance, argnums=(0, 1)))
  clipped_dist_grad = jax.jit(jax.grad(lambda a, b: geometry.geodesic_distance(a, b, 0.98),
                                       argnums=(0, 1)))
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    mu = jnp.asarray(_unit(rng))
    nudge = jnp.asarray(_unit(rng))
    for q in (mu, -mu, mu + 1e-7 * nudge, mu + 1e-3 * nudge, -mu + 1e-7 * nudge,
              jnp.zeros_like(mu)):
      for grad_fn in (log_grad, clipped_log_grad, dist_grad, clipped_dist_grad):
        assert all(np.all(np.isfinite(g)) for g in grad_fn(q, mu)), seed
    for v in (jnp.zeros_like(mu), 1e-9 * nudge, 1e-2 * nudge):
      assert all(np.all(np.isfinite(g)) for g in exp_grad(v, mu)), seed


def test_derivatives_at_the_base_point_are_the_riemannian_ones():
  rng = np.random.default_rng(5)
  mu, direction = jnp.asarray(_unit(rng)), jnp.asarray(rng.normal(size=(T, D)))
  _, log_tangent = jax.jvp(lambda q: geometry.log_map(q, mu), (mu,), (direction,))
  np.testing.assert_allclose(log_tangent, geometry.project_to_tangent(direction, mu), **TOL)
  _, exp_tangent = jax.jvp(lambda v: geometry.exp_map(v, mu), (jnp.zeros_like(mu),),
                           (direction,))
  np.testing.assert_allclose(exp_tangent, direction, **TOL)
  np.testing.assert_array_equal(jax.grad(geometry.geodesic_distance)(mu, mu), 0.0)


def test_float32_log_exp_round_trip_and_jit():
  rng = np.random.default_rng(6)
  mu = jnp.asarray(_unit(rng), jnp.float32)
  v = jnp.asarray(_tangent(rng, np.asarray(mu, np.float64), [1e-5, 1e-3, 0.3, 2.5]),
                  jnp.float32)
  round_trip = jax.jit(lambda v, mu: geometry.log_map(geometry.exp_map(v, mu), mu))(v, mu)
  assert round_trip.dtype == jnp.float32
  # float32 stores exp(v) to ~1e-7 per entry, so the smallest v comes back to ~1e-7 absolute
  # (1% of it); arccos(<mu, exp(v)>) would give 0 for it, and 3e-4 for the distance.
  np.testing.assert_allclose(round_trip, v, rtol=1e-4, atol=3e-7)
  np.testing.assert_allclose(geometry.geodesic_distance(geometry.exp_map(v, mu), mu),
                             [1e-5, 1e-3, 0.3, 2.5], rtol=2e-2)


def test_float32_gradients_are_finite_at_the_singular_points():
  rng = np.random.default_rng(7)
  mu = jnp.asarray(_unit(rng), jnp.float32)
  nudge = jnp.asarray(_unit(rng), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(T, D)), jnp.float32)

  @jax.jit
  @jax.grad
  def grads(q):
    log = geometry.log_map(q, mu)
    return (jnp.sum(weights * log) + jnp.sum(weights * geometry.exp_map(log, mu))
            + geometry.geodesic_distance(q, mu) + geometry.geodesic_distance(q, mu, 0.98)
            + jnp.sum(weights * geometry.log_map(q, mu, clip=0.98)))

  for q in (mu, -mu, mu + 1e-6 * nudge, mu + 1e-3 * nudge, -mu + 1e-6 * nudge):
    grad = grads(q)
    assert grad.dtype == jnp.float32 and np.all(np.isfinite(grad))
