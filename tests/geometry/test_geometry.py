"""SRVF and landmark geometry against the authors' formulas (literal numpy) and geomstats.

geomstats 2.8 (numpy backend) is the independent oracle where its definitions coincide with the
authors'; where they differ (geomstats' SRVF uses forward differences on T - 1 intervals and an
exact cumulative-sum inverse, the authors central differences on T frames and a trapezoid
inverse) the tests check the shared part exactly and the rest as convergence in T. Everything
runs in float64 (the autouse ``float64`` fixture): agreement is asserted to 1e-10 unless stated.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from geomstats.geometry.discrete_curves import DiscreteCurvesStartingAtOrigin
from geomstats.geometry.discrete_curves import SRVTransform
from geomstats.geometry.euclidean import Euclidean
from scipy.integrate import cumulative_trapezoid

from fxs_jax import geometry

SEEDS = range(4)
TOL = dict(rtol=1e-10, atol=1e-10)


def _authors_srvf(curve_TxD):
  """Literal ``curve_to_q.m`` (frames as rows), then ``<q, q> = 1``."""
  num_frames = len(curve_TxD)
  v = np.gradient(curve_TxD, 1.0 / num_frames, axis=0)
  v = v / (np.sum(np.linalg.norm(v, axis=1)) / num_frames)
  q = np.empty_like(v)
  for t in range(num_frames):
    root_speed = np.sqrt(np.linalg.norm(v[t]))
    q[t] = v[t] / root_speed if root_speed > 0.0001 else v[t] * 0.0001
  return q / np.sqrt(np.sum(q * q) / num_frames)


def _authors_inverse(q_TxD):
  """Literal ``q_to_curve.py``: cumtrapz of q |q| over s = linspace(0, 1, T), from 0."""
  s = np.linspace(0.0, 1.0, len(q_TxD))
  return cumulative_trapezoid(q_TxD * np.linalg.norm(q_TxD, axis=1, keepdims=True), s, axis=0,
                              initial=0)


def _landmark_motion(rng, num_frames):
  """(T, 136): normalised 68-point frames drifting smoothly from a random face."""
  face = rng.normal(size=(68, 2))
  drift = rng.normal(size=(68, 2)) * 0.3
  s = np.linspace(0.0, 1.0, num_frames)[:, None, None]
  lms = face + np.sin(np.pi * s) * drift + 0.01 * rng.normal(size=(num_frames, 68, 2))
  return geometry.flatten_frames(geometry.normalise_landmarks(lms))


def _smooth_curve(rng, num_frames, dim):
  """(T, D): a few random Fourier modes on [0, 1] plus a drift."""
  s = np.linspace(0.0, 1.0, num_frames)[:, None, None]
  k = np.arange(1, 4)[None, :, None]
  a, b = rng.normal(size=(2, 1, 3, dim))
  waves = a * np.sin(np.pi * k * s) + b * np.cos(np.pi * k * s) / k
  return np.sum(waves, axis=1) + s[:, 0] * rng.normal(size=dim)


def _polygon_length(curve_TxD):
  return np.sum(np.linalg.norm(np.diff(curve_TxD, axis=0), axis=1))


# Landmarks.


def test_normalise_landmarks_hand_square_and_random_faces():
  square = np.array([[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]])
  want = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(8.0)
  np.testing.assert_allclose(geometry.normalise_landmarks(square), want, **TOL)
  lms = np.random.default_rng(0).normal(size=(3, 5, 68, 2)) * 40.0 + 100.0
  got = geometry.normalise_landmarks(lms)
  assert isinstance(got, np.ndarray) and got.shape == lms.shape
  np.testing.assert_allclose(got.mean(axis=-2), 0.0, atol=1e-12)
  np.testing.assert_allclose(np.sum(got**2, axis=(-2, -1)), 1.0, **TOL)
  np.testing.assert_allclose(geometry.normalise_landmarks(2.5 * lms - 7.0), got, **TOL)
  np.testing.assert_allclose(geometry.normalise_landmarks(jnp.asarray(lms)), got, **TOL)


def test_normalise_landmarks_collapsed_frame_is_zero_with_finite_gradient():
  lms = jnp.full((2, 68, 2), 3.0).at[1].add(jnp.arange(136.0).reshape(68, 2))
  np.testing.assert_array_equal(geometry.normalise_landmarks(lms)[0], 0.0)
  grad = jax.grad(lambda x: jnp.sum(geometry.normalise_landmarks(x) ** 2))(lms)
  assert np.all(np.isfinite(grad))


def test_resample_straight_line_at_uneven_speed_is_evenly_spaced():
  start, direction = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, -2.0])
  uneven = np.linspace(0.0, 1.0, 13) ** 2.5
  got = geometry.resample_by_arc_length(start + uneven[:, None] * direction, 7)
  want = start + np.linspace(0.0, 1.0, 7)[:, None] * direction
  np.testing.assert_allclose(got, want, **TOL)


def test_resample_polyline_with_a_repeated_frame_by_hand():
  # Length 3: 1 along x, then 2 along y; the repeated (1, 0) adds nothing.
  polyline = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
  got = geometry.resample_by_arc_length(polyline, 4)
  np.testing.assert_allclose(got, [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], **TOL)
  np.testing.assert_allclose(geometry.resample_by_arc_length(polyline, 3),
                             [[0.0, 0.0], [1.0, 0.5], [1.0, 2.0]], **TOL)
  assert geometry.resample_by_arc_length(polyline.astype(np.float32), 5).dtype == np.float32


def test_resample_constant_curve_repeats_its_point():
  got = geometry.resample_by_arc_length(np.tile([[2.0, -1.0, 4.0]], (6, 1)), 9)
  np.testing.assert_array_equal(got, np.tile([[2.0, -1.0, 4.0]], (9, 1)))


# SRVF.


@pytest.mark.parametrize("num_frames,dim", [(8, 6), (30, 136)])
def test_srvf_matches_the_authors_curve_to_q(num_frames, dim):
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    curve = (_landmark_motion(rng, num_frames) if dim == 136
             else np.cumsum(rng.normal(size=(num_frames, dim)), axis=0))
    got = geometry.srvf(jnp.asarray(curve))
    np.testing.assert_allclose(got, _authors_srvf(curve), **TOL)
    np.testing.assert_allclose(geometry.srvf(curve), got, **TOL)  # the numpy path
    np.testing.assert_allclose(geometry.inner(got, got), 1.0, **TOL)


def test_srvf_at_repeated_frames_takes_the_authors_floor():
  curve = np.cumsum(np.random.default_rng(1).normal(size=(8, 6)), axis=0)
  curve[1] = curve[0]  # v_0 = 0
  curve[4] = curve[5] = curve[3]  # v_4 = 0
  curve[7] = curve[6] + 1e-12  # |v_7| ~ 1e-12 relative: floored, q_7 = v_7 * 1e-4, not 0
  want = _authors_srvf(curve)
  assert want[7].any() and not want[0].any() and not want[4].any()
  np.testing.assert_allclose(geometry.srvf(jnp.asarray(curve)), want, **TOL)


def test_srvf_is_geomstats_srv_of_the_authors_velocity():
  # The pointwise map and the inner product coincide with geomstats': our SRVF is geomstats'
  # SRVTransform of the polygon whose T forward differences are the authors' T central-difference
  # velocities (mean speed 1), and geomstats' L2 norm of it (Riemann sum over T) is 1.
  for seed in SEEDS:
    rng = np.random.default_rng(seed)
    num_frames, dim = 8, 6
    curve = np.cumsum(rng.normal(size=(num_frames, dim)), axis=0)
    velocity = np.gradient(curve, axis=0)
    velocity /= np.mean(np.linalg.norm(velocity, axis=1))
    polygon = np.cumsum(velocity, axis=0) / num_frames  # from the origin, T + 1 points
    space = DiscreteCurvesStartingAtOrigin(ambient_dim=dim, k_sampling_points=num_frames + 1)
    want = space.metric.diffeo(polygon)
    np.testing.assert_allclose(geometry.srvf(jnp.asarray(curve)), want, **TOL)
    l2 = space.metric.image_space.metric
    np.testing.assert_allclose(l2.norm(want), 1.0, **TOL)


def test_srvf_converges_to_geomstats_on_smooth_curves():
  # Same continuous SRVF, two discretisations: geodesic distances between two smooth curves
  # (geomstats' SRVFs of the arc-length-normalised curves, which lie on its unit L2 sphere)
  # agree to O(1/T).
  errors = []
  for num_frames in (50, 200):
    rng = np.random.default_rng(0)
    curves = [_smooth_curve(rng, num_frames, 6) for _ in range(2)]
    ours = [geometry.srvf(jnp.asarray(c)) for c in curves]
    space = DiscreteCurvesStartingAtOrigin(ambient_dim=6, k_sampling_points=num_frames)
    theirs = [space.metric.diffeo(space.projection(c) / _polygon_length(c)) for c in curves]
    l2 = space.metric.image_space.metric
    np.testing.assert_allclose(l2.norm(theirs[0]), 1.0, **TOL)
    want = np.arccos(l2.inner_product(*theirs))
    errors.append(abs(float(geometry.geodesic_distance(*ours)) - want))
  assert errors[0] < 3.0 / 50 and errors[1] < errors[0] / 3.0, errors


def test_srvf_inverse_matches_authors_and_geomstats_inverse():
  for seed in SEEDS:
    q = np.random.default_rng(seed).normal(size=(8, 6))
    got = geometry.srvf_inverse(jnp.asarray(q))
    np.testing.assert_allclose(got, _authors_inverse(q), **TOL)
    np.testing.assert_allclose(geometry.srvf_inverse(q, np.ones(6), 2.0),
                               1.0 + 2.0 * _authors_inverse(q), **TOL)
    # The trapezoid rule is geomstats' exact (left Riemann) inverse of the SRVF whose velocity
    # q |q| on each interval is the mean of the two end frames'.
    velocity = q * np.linalg.norm(q, axis=1, keepdims=True)
    mid = (velocity[1:] + velocity[:-1]) / 2.0
    mid_q = mid / np.sqrt(np.linalg.norm(mid, axis=1, keepdims=True))
    want = SRVTransform(Euclidean(6), k_sampling_points=8).inverse(mid_q)
    np.testing.assert_allclose(got[1:], want, **TOL)
    np.testing.assert_array_equal(got[0], 0.0)


def test_srvf_of_straight_line_at_constant_speed_round_trips_exactly():
  direction = np.array([1.0, 2.0, -2.0, 0.0, 4.0, 0.0]) / 5.0
  curve = 3.0 + np.linspace(0.0, 7.0, 8)[:, None] * direction
  q = geometry.srvf(jnp.asarray(curve))
  np.testing.assert_allclose(q, np.tile(direction, (8, 1)), **TOL)
  back = geometry.srvf_inverse(q, curve[0], _polygon_length(curve))
  np.testing.assert_allclose(back, curve, **TOL)
  np.testing.assert_allclose(geometry.srvf(back), q, **TOL)


def test_srvf_round_trip_on_smooth_curves_converges():
  errors = []
  for num_frames in (16, 64):
    for seed in SEEDS:
      curve = _smooth_curve(np.random.default_rng(seed), num_frames, 6)
      q = geometry.srvf(jnp.asarray(curve))
      back = geometry.srvf_inverse(q)
      scale = _polygon_length(curve)
      np.testing.assert_allclose(back, (curve - curve[0]) / scale, atol=0.5 / num_frames)
      q_again = geometry.srvf(back)
      np.testing.assert_allclose(geometry.srvf(curve[0] + scale * back), q_again, **TOL)
      errors.append(float(geometry.geodesic_distance(q, q_again)))
  # ~T^-1.6 here: 0.072 at T = 16, 0.0079 at T = 64.
  assert max(errors[:4]) < 0.1 and max(errors[4:]) < max(errors[:4]) / 6.0, errors


def test_srvf_is_invariant_to_translation_and_scale_and_batches():
  curves = np.cumsum(np.random.default_rng(2).normal(size=(3, 8, 6)), axis=1)
  q = geometry.srvf(jnp.asarray(curves))
  np.testing.assert_allclose(geometry.srvf(0.3 * curves - 5.0), q, **TOL)
  for curve, q_one in zip(curves, q):
    np.testing.assert_allclose(geometry.srvf(curve), q_one, **TOL)


def test_apply_motion_adds_scaled_unflattened_curve():
  rng = np.random.default_rng(3)
  neutral = geometry.normalise_landmarks(rng.normal(size=(68, 2)))
  motion = geometry.flatten_frames(rng.normal(size=(2, 5, 68, 2)))
  got = geometry.apply_motion(neutral, motion)
  assert got.shape == (2, 5, 68, 2)
  np.testing.assert_allclose(got, neutral + 0.14 * motion.reshape(2, 5, 68, 2), **TOL)
  curve = geometry.srvf_inverse(geometry.srvf(jnp.asarray(motion)))
  np.testing.assert_allclose(geometry.apply_motion(jnp.asarray(neutral), curve, 0.5)[:, 0],
                             np.broadcast_to(neutral, (2, 68, 2)), **TOL)


def test_srvf_gradients_are_finite_at_repeated_frames_and_constant_curves():
  weights = jnp.asarray(np.random.default_rng(4).normal(size=(8, 6)))
  loss = jax.jit(jax.grad(lambda c: jnp.sum(weights * geometry.srvf(c))
                          + jnp.sum(geometry.srvf_inverse(geometry.srvf(c)) ** 2)))
  for seed in SEEDS:
    curve = np.cumsum(np.random.default_rng(seed).normal(size=(8, 6)), axis=0)
    curve[1] = curve[0]
    curve[seed + 3] = curve[seed + 2]
    for case in (curve, np.zeros((8, 6)), np.tile(curve[:1], (8, 1))):
      assert np.all(np.isfinite(loss(jnp.asarray(case)))), seed
  np.testing.assert_array_equal(geometry.srvf(jnp.zeros((8, 6))), 0.0)
  curve32 = jnp.asarray(curve, jnp.float32)
  grad32 = jax.grad(lambda c: jnp.sum(weights.astype(jnp.float32) * geometry.srvf(c)))(curve32)
  assert grad32.dtype == jnp.float32 and np.all(np.isfinite(grad32))
