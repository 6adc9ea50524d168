"""The unit Hilbert sphere of SRVFs: inner product, log/exp maps, geodesics, Karcher mean.

An SRVF is sampled at T frames, ``q_TxD``; cWGAN-P3 uses the inner product
``<q1, q2> = sum(q1 * q2) / T`` (the authors' ``Inner``), under which SRVFs of unit-length curves
have norm 1. It is the Euclidean sphere of R^(T*D) scaled by sqrt(T): ``q -> q / sqrt(T)`` maps
it onto geomstats' ``Hypersphere(dim=T*D - 1)`` (the tests' oracle).

Every function takes arrays of shape ``(..., T, D)``; the leading axes broadcast (a batch of
SRVFs against one reference ``mu_TxD``, say) and scalars per point come back with shape
``(...)``. All are plain ``jnp`` code, usable under ``jax.jit``, ``jax.vmap`` and ``jax.grad``;
the maps are jitted themselves (one compiled call when used eagerly, e.g. in preprocessing).

Numerics. The textbook formulas (``arccos(<mu, q>)``, ``u / |u|``, ``sin|v| / |v|``) have
infinite or 0/0 derivatives exactly where a GAN step lands: a generated SRVF equal to the
reference (tangent vector 0), or two equal SRVFs. Here:
* angles come from ``atan2(sin, cos)`` with both sides computed from the vectors, which equals
  ``arccos(<q1, q2>)`` for unit inputs but is accurate near 0 and pi (arccos loses half the
  digits there: in float32 ``log_mu(exp_mu(v))`` would be 0 for ``|v| < 3e-4``) and has a
  finite derivative;
* ratios that tend to a limit (``theta / |u|``, ``sin|v| / |v|``) switch to their Taylor series
  near the limit;
* ``sqrt`` and division at exact zeros use the double-``where`` trick (the branch not taken gets
  safe inputs, so no NaN leaks into the gradient through ``0 * inf``).
Off the sphere these definitions read the input's *direction*: ``log_map(q, mu)`` is
``log_map(q / |q|, mu)`` and ``geodesic_distance`` is the angle between its inputs, where the
literal ``arccos(<q1, q2>)`` would also react to their norms. ``mu`` must have norm 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Below these squared sizes the Taylor series replace the exact ratios: the first omitted term
# is below 1e-15 relative there, and the exact forms are still accurate above.
_EXP_TAYLOR_SQ_NORM = 1e-4  # |v|^2, for cos|v| and sin|v| / |v|
_LOG_TAYLOR_SQ_TAN = 1e-4  # tan(theta)^2, for theta / |u|
# Lengths below this many ulps (of |q| in the log, of 2 in the distance) count as 0.
_ROUNDING_EPS = 16.0


def inner(q1_xTxD: jax.Array, q2_xTxD: jax.Array) -> jax.Array:
  """``<q1, q2> = sum_{t, d} q1 * q2 / T`` over the last two axes (leading axes broadcast)."""
  q1_xTxD, q2_xTxD = jnp.asarray(q1_xTxD), jnp.asarray(q2_xTxD)
  num_frames = jnp.broadcast_shapes(q1_xTxD.shape, q2_xTxD.shape)[-2]
  return jnp.sum(q1_xTxD * q2_xTxD, axis=(-2, -1)) / num_frames


def _safe_sqrt(x: jax.Array) -> jax.Array:
  """``sqrt(x)`` for x >= 0, with gradient 0 (not inf) at x = 0."""
  positive = x > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def norm(q_xTxD: jax.Array) -> jax.Array:
  """``sqrt(<q, q>)``, shape ``(...)``; its gradient at q = 0 is 0 (a subgradient), not NaN."""
  return _safe_sqrt(inner(q_xTxD, q_xTxD))


def project_to_sphere(q_xTxD: jax.Array) -> jax.Array:
  """``q / |q|`` (so that ``<q, q> = 1``); q = 0 stays 0."""
  q_norm = norm(q_xTxD)[..., None, None]
  return jnp.where(q_norm > 0, q_xTxD / jnp.where(q_norm > 0, q_norm, 1.0), 0.0)


def project_to_tangent(v_xTxD: jax.Array, mu_xTxD: jax.Array) -> jax.Array:
  """``v - <mu, v> mu``: the part of v in the tangent space at the unit point mu."""
  return v_xTxD - inner(mu_xTxD, v_xTxD)[..., None, None] * mu_xTxD


def _clip_angle(theta: jax.Array, clip) -> jax.Array:
  """Clips an angle to ``[arccos(clip), arccos(-clip)]``: on the sphere, the same as clipping
  the inner product to ``[-clip, clip]`` before the arccos (the authors' ``clip_by_value``)."""
  smallest = jnp.arccos(jnp.asarray(clip, theta.dtype))
  return jnp.clip(theta, smallest, jnp.pi - smallest)


@jax.jit
def log_map(q_xTxD: jax.Array, mu_xTxD: jax.Array, clip=1.0) -> jax.Array:
  """Riemannian log at the unit point mu: the tangent vector at mu pointing to q.

  The authors' ``sphere_to_tangent``: ``u = q - <mu, q> mu``, ``theta = arccos(<mu, q>)``,
  ``log = theta * u / |u|``, and 0 when ``|u| = 0`` (q = mu, and also the antipode q = -mu,
  where the log is undefined: every direction reaches it; ``|u|`` within 16 ulps of ``|q|``
  counts as 0, the rounding noise left at q = -mu). theta is computed as
  ``atan2(|u|, <mu, q>)`` (see the module docstring) and clipped to
  ``[arccos(clip), arccos(-clip)]``: the authors' TensorFlow ``log_map`` clips the inner product
  to +-0.98, which floors theta at 0.2 rad, so near mu their log has length 0.2 in the direction
  of u. The default ``clip=1.0`` is the exact log.

  Derivatives: at q = mu the Jacobian in q is the tangent projection ``v -> v - <mu, v> mu``
  (the log's derivative along the sphere); at q = -mu it is 0. Close to -mu (the cut locus) the
  log turns through all directions and its gradient grows like ``1 / |u|``; with ``clip < 1``
  the same holds close to mu.

  Args:
    q_xTxD: points, shape ``(..., T, D)``.
    mu_xTxD: base point(s) with ``<mu, mu> = 1``, broadcastable against q.
    clip: the inner-product clip, in (0, 1].

  Returns:
    Tangent vectors at mu, the broadcast shape of q and mu.
  """
  cos_theta_scaled = inner(mu_xTxD, q_xTxD)  # |q| cos(theta)
  u = q_xTxD - cos_theta_scaled[..., None, None] * mu_xTxD
  u_sq_norm = inner(u, u)  # (|q| sin(theta))^2
  # |u| = 0 up to rounding: at q = -mu, q - <mu, q> mu leaves ~1e-16 of noise, which theta / |u|
  # would blow up into a length-pi vector in a random (not even tangent) direction.
  rounding = _ROUNDING_EPS * jnp.finfo(u_sq_norm.dtype).eps
  u_is_zero = u_sq_norm <= rounding**2 * inner(q_xTxD, q_xTxD)
  u_norm = jnp.sqrt(jnp.where(u_is_zero, 1.0, u_sq_norm))
  # atan2(0, 0) has a 0/0 derivative: give the (q = 0) case a safe x.
  undefined = u_is_zero & (cos_theta_scaled == 0)
  theta_raw = jnp.arctan2(jnp.where(u_is_zero, 0.0, u_norm),
                          jnp.where(undefined, 1.0, cos_theta_scaled))
  theta = _clip_angle(theta_raw, clip)
  # Close to mu (theta unclipped, small tan): theta / |u| = atan(x) / (x c) with x = |u| / c,
  # a series in x^2 = |u|^2 / c^2 that stays smooth through u = 0.
  near_mu = ((cos_theta_scaled > 0)
             & (u_sq_norm < _LOG_TAYLOR_SQ_TAN * cos_theta_scaled**2)
             & (theta_raw >= theta))
  safe_cos = jnp.where(near_mu, cos_theta_scaled, 1.0)
  tan_sq = jnp.where(near_mu, u_sq_norm / safe_cos**2, 0.0)
  ratio_near_mu = (1.0 - tan_sq / 3.0 + tan_sq**2 / 5.0 - tan_sq**3 / 7.0) / safe_cos
  ratio = jnp.where(near_mu, ratio_near_mu, jnp.where(u_is_zero, 0.0, theta / u_norm))
  return ratio[..., None, None] * u


@jax.jit
def exp_map(v_xTxD: jax.Array, mu_xTxD: jax.Array) -> jax.Array:
  """Riemannian exp at the unit point mu: ``cos|v| mu + sin|v| v / |v|`` (the authors' formula).

  v is used as given, not projected to the tangent space at mu (the authors feed their
  generator's tanh output straight in); a v with a component along mu gives a point off the
  sphere. Use :func:`project_to_tangent` first to stay on it. Smooth at v = 0, where its
  Jacobian in v is the identity.

  Args:
    v_xTxD: tangent vectors, shape ``(..., T, D)``.
    mu_xTxD: base point(s) with ``<mu, mu> = 1``, broadcastable against v.
  """
  sq_norm = inner(v_xTxD, v_xTxD)
  small = sq_norm < _EXP_TAYLOR_SQ_NORM
  v_norm = jnp.sqrt(jnp.where(small, 1.0, sq_norm))
  small_sq = jnp.where(small, sq_norm, 0.0)
  cos_norm = jnp.where(small, 1.0 - small_sq / 2.0 + small_sq**2 / 24.0, jnp.cos(v_norm))
  sinc_norm = jnp.where(small, 1.0 - small_sq / 6.0 + small_sq**2 / 120.0,
                        jnp.sin(v_norm) / v_norm)
  return cos_norm[..., None, None] * mu_xTxD + sinc_norm[..., None, None] * v_xTxD


@jax.jit
def geodesic_distance(q1_xTxD: jax.Array, q2_xTxD: jax.Array, clip=1.0) -> jax.Array:
  """Great-circle distance ``arccos(clip(<q1, q2>, -clip, clip))``, shape ``(...)``.

  ``clip=1.0`` (the default) is the true distance, the one ``fxs_jax.eval.motion`` reports;
  the authors' generator loss uses ``clip=0.98``, which also zeroes its gradient for pairs
  closer than 0.2 rad or farther than pi - 0.2. Computed as the angle between the two
  directions, ``2 atan2(|a - b|, |a + b|)`` with ``a = q1 / |q1|``, ``b = q2 / |q2|``: exact to
  the last digits at 0 and pi, where arccos is not. Its gradient at q1 = q2 is 0 (the distance
  has a cone there; 0 is a subgradient), as at the antipode; inputs within 16 ulps of equal (or
  antipodal) count as such.
  """
  a, b = project_to_sphere(q1_xTxD), project_to_sphere(q2_xTxD)
  chord_sq, sum_sq = inner(a - b, a - b), inner(a + b, a + b)  # sum to 4 for unit a, b
  # Within rounding of 0 is 0: equal inputs can differ by an ulp after separate normalisation
  # (XLA fuses the two differently under grad), and the chord's direction would then give a
  # noise gradient of norm 1 instead of 0.
  rounding_sq = (_ROUNDING_EPS * jnp.finfo(chord_sq.dtype).eps) ** 2 * (chord_sq + sum_sq)
  half_chord = _safe_sqrt(jnp.where(chord_sq <= rounding_sq, 0.0, chord_sq))
  half_sum = _safe_sqrt(jnp.where(sum_sq <= rounding_sq, 0.0, sum_sq))
  undefined = (half_chord == 0) & (half_sum == 0)  # a zero input: atan2(0, 0)
  theta = 2.0 * jnp.arctan2(half_chord, jnp.where(undefined, 1.0, half_sum))
  return _clip_angle(theta, clip)


@jax.jit
def geodesic_interpolate(q1_xTxD: jax.Array, q2_xTxD: jax.Array, t) -> jax.Array:
  """The point at fraction t along the shortest great circle from q1 to q2.

  ``exp_q1(t log_q1(q2))``: t = 0 gives q1, t = 1 gives q2 (for unit inputs, not antipodal:
  from an antipode the log is 0 and every t gives q1). t may be an array: its shape is
  broadcast with the batch axes of q1 and q2 (``t`` of shape ``(N,)`` and single SRVFs give
  ``(N, T, D)``).
  """
  t = jnp.asarray(t)[..., None, None]
  return exp_map(t * log_map(q2_xTxD, q1_xTxD), q1_xTxD)


@jax.jit
def karcher_mean(qs_xNxTxD: jax.Array, steps: int = 100, tol: float = 1e-6,
                 step_size: float = 1.0, init_xTxD: jax.Array | None = None) -> jax.Array:
  """Karcher (Frechet) mean of N unit SRVFs by Riemannian gradient descent.

  ``mu <- exp_mu(step_size * mean_i log_mu(q_i))``, projected back to the sphere, starting from
  the first sample (as the authors' ``Karcher_Mean.m`` and geomstats' ``FrechetMean`` do) or
  ``init_xTxD``; stops after ``steps`` updates or once the mean log (the negative gradient of
  half the mean squared distance) has norm <= ``tol`` (the authors stop at 0.01 with their
  ``delta`` as step size). A ``lax.while_loop``: jit-able, not reverse-differentiable (the mean
  is computed once, in preprocessing). Leading axes before N are independent means, iterated
  together until the slowest has converged.

  Args:
    qs_xNxTxD: samples, shape ``(..., N, T, D)``, unit norm, all within one open hemisphere for
      the mean to be unique.
    steps: maximum number of updates.
    tol: stop once ``|mean log| <= tol``.
    step_size: the gradient step (1 is the fixed-point iteration).
    init_xTxD: optional starting point, shape ``(..., T, D)``.

  Returns:
    The mean, shape ``(..., T, D)``, with norm 1.
  """
  qs_xNxTxD = jnp.asarray(qs_xNxTxD)
  mean = qs_xNxTxD[..., 0, :, :] if init_xTxD is None else jnp.asarray(init_xTxD)

  def mean_log(mu):
    return jnp.mean(log_map(qs_xNxTxD, mu[..., None, :, :]), axis=-3)

  def keep_going(state):
    step, _, gradient_norm = state
    return (step < steps) & (gradient_norm > tol)

  def update(state):
    step, mu, _ = state
    tangent_mean = mean_log(mu)
    mu = project_to_sphere(exp_map(step_size * tangent_mean, mu))
    return step + 1, mu, jnp.max(norm(tangent_mean))

  initial = (jnp.asarray(0), mean, jnp.asarray(jnp.inf, mean.dtype))
  _, mean, _ = jax.lax.while_loop(keep_going, update, initial)
  return mean
