"""Square-root velocity functions (SRVFs) of landmark curves, as cWGAN-P3's authors compute them.

A motion is a curve ``curve_TxD`` (T frames, each a flattened, normalised landmark set; see
:mod:`fxs_jax.geometry.landmarks`). Its SRVF (the authors' ``curve_to_q.m``):

1. ``v = gradient(curve)`` along the frames: central differences ``(c[t+1] - c[t-1]) / 2``
   inside, one-sided ``c[1] - c[0]`` and ``c[T-1] - c[T-2]`` at the ends (MATLAB's and numpy's
   ``gradient``; the authors pass a spacing of 1/T, which the next step cancels);
2. ``v /= mean_t |v_t|`` (|.| the Euclidean norm in R^D): the curve's scale is removed;
3. ``q_t = v_t / sqrt(|v_t|)`` where ``sqrt(|v_t|) > 1e-4``, else ``q_t = v_t * 1e-4``. The
   authors' test is on ``sqrt(|v_t|)``, so the floor is at ``|v_t| <= 1e-8`` (frames that stand
   still: equal neighbours), where q_t is ~0 instead of 0/0;
4. ``q /= sqrt(<q, q>)`` with ``<q, q> = sum(q * q) / T``. After step 2 ``<q, q>`` is already
   ``mean_t |v_t| = 1`` unless a frame was floored, so this only removes that ~1e-8 shortfall.

geomstats' ``SRVTransform`` applies the same pointwise map (step 3, without the floor) to
*forward* differences on T - 1 intervals, with a left Riemann sum over T - 1 samples as inner
product and an exact cumulative-sum inverse. The authors' central differences on T nodes and
trapezoid inverse are a different discretisation of the same continuous SRVF (the two agree to
O(1/T) on smooth curves; the tests check both facts). We follow the authors.

All functions take numpy arrays (host preprocessing: numpy out) or JAX arrays (jit- and
grad-safe, also at repeated frames and constant curves); leading batch axes broadcast.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from fxs_jax.geometry import landmarks
from fxs_jax.geometry.landmarks import array_module

# The authors' floor on sqrt(|v_t|) (curve_to_q.m: ``if L(i) > 0.0001 ... else q = v * 0.0001``).
ROOT_SPEED_FLOOR = 1e-4
# The authors' intensity scale from the SRVF-inverse curve to landmark displacements.
MOTION_SCALE = 0.14


def _as_float(x):
  """``(xp, x)`` with numpy input made a float array (float64 stays float64)."""
  xp = array_module(x)
  if xp is np:
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
  return xp, x


def _frame_gradient(curve_xTxD, xp):
  """np.gradient along axis -2 with unit spacing (edge_order=1): central inside, one-sided ends."""
  inside = (curve_xTxD[..., 2:, :] - curve_xTxD[..., :-2, :]) / 2.0
  first = curve_xTxD[..., 1:2, :] - curve_xTxD[..., 0:1, :]
  last = curve_xTxD[..., -1:, :] - curve_xTxD[..., -2:-1, :]
  return xp.concatenate([first, inside, last], axis=-2)


def _safe_norm_xT(x_xTxD, xp):
  """Per-frame Euclidean norm over D, gradient 0 (not NaN) where a frame is 0."""
  sq = xp.sum(x_xTxD * x_xTxD, axis=-1)
  return xp.where(sq > 0, xp.sqrt(xp.where(sq > 0, sq, 1.0)), 0.0)


def srvf(curve_xTxD):
  """The SRVF of curves sampled at T >= 2 frames (the authors' ``curve_to_q``, then <q, q> = 1).

  Args:
    curve_xTxD: shape ``(..., T, D)``.

  Returns:
    ``q`` of the same shape with ``sum(q * q) / T = 1`` per curve. Invariant to translating and
    scaling the curve. A constant curve (no motion) has no direction to normalise: it returns
    zeros. Gradients are finite everywhere, including at repeated frames.
  """
  xp, curve = _as_float(curve_xTxD)
  if curve.shape[-2] < 2:
    raise ValueError(f"an SRVF needs T >= 2 frames, got shape {curve.shape}")
  velocity = _frame_gradient(curve, xp)
  mean_speed = xp.mean(_safe_norm_xT(velocity, xp), axis=-1)[..., None, None]
  moves = mean_speed > 0
  velocity = xp.where(moves, velocity / xp.where(moves, mean_speed, 1.0), 0.0)
  sq_speed_xT = xp.sum(velocity * velocity, axis=-1)[..., None]
  # sqrt(|v|) > 1e-4  <=>  |v|^2 > 1e-16.
  above_floor = sq_speed_xT > ROOT_SPEED_FLOOR**4
  root_speed = xp.where(above_floor, sq_speed_xT, 1.0) ** 0.25
  q = xp.where(above_floor, velocity / root_speed, velocity * ROOT_SPEED_FLOOR)
  sq_norm = xp.sum(q * q, axis=(-2, -1), keepdims=True) / q.shape[-2]
  nonzero = sq_norm > 0
  return xp.where(nonzero, q / xp.sqrt(xp.where(nonzero, sq_norm, 1.0)), 0.0)


def srvf_inverse(q_xTxD, start_xD=0.0, scale=1.0):
  """The curve whose SRVF is q: ``start + scale * cumtrapz(q_t |q_t|)`` over s in [0, 1].

  The authors' ``q_to_curve``: the integrand ``q_t |q_t|`` (|.| Euclidean in R^D) is the
  velocity, integrated by the trapezoid rule on T equally spaced times ``s = 0, 1/(T-1), ..., 1``
  with the first point at ``start``. A unit SRVF gives a curve of length ~1 (exactly 1 for a
  straight line at constant speed).

  Round trip: ``srvf(srvf_inverse(q))`` recovers q up to its normalisation (srvf always returns
  a unit SRVF) and up to the discretisation: exactly for a constant q, to O(1/T^2) inside and
  O(1/T) at the two end frames for a smooth q (trapezoid integration followed by central
  differences averages neighbouring frames); an SRVF that jumps from frame to frame does not
  come back. ``srvf_inverse(srvf(c))`` is ``(c - c[0]) / length(c)`` to the same accuracy: use
  ``start`` and ``scale`` to put it back.

  Args:
    q_xTxD: SRVFs, shape ``(..., T, D)``, T >= 2.
    start_xD: the first point, broadcastable to ``(..., D)``.
    scale: multiplies the integral: a scalar, or an array broadcastable to ``(..., T, D)``
      (``scale_B[:, None, None]`` for one per curve).

  Returns:
    Curves, shape ``(..., T, D)``.
  """
  xp, q = _as_float(q_xTxD)
  num_frames = q.shape[-2]
  if num_frames < 2:
    raise ValueError(f"an SRVF inverse needs T >= 2 frames, got shape {q.shape}")
  velocity = q * _safe_norm_xT(q, xp)[..., None]
  step = 1.0 / (num_frames - 1)
  increments = (velocity[..., 1:, :] + velocity[..., :-1, :]) * (step / 2.0)
  integral = xp.cumsum(xp.concatenate([xp.zeros_like(velocity[..., :1, :]), increments],
                                      axis=-2), axis=-2)
  start = xp.asarray(start_xD, dtype=q.dtype)
  return (start[..., None, :] if start.ndim else start) + scale * integral


def apply_motion(neutral_landmarks_xKx2, curve_xTxD, scale=MOTION_SCALE):
  """Landmarks of a motion: ``L_t = L_0 + scale * curve_t`` reshaped to ``(K, 2)``.

  The authors' transfer of a generated motion onto a face: ``curve`` is an SRVF inverse
  (starting at 0), ``L_0`` the face's normalised neutral landmarks, and ``scale`` the motion's
  intensity, 0.14 hard-coded in their code (expose it in a config). Frames are unflattened
  row-major, as :func:`fxs_jax.geometry.landmarks.flatten_frames` flattened them.

  Args:
    neutral_landmarks_xKx2: shape ``(..., K, 2)`` (K = 68).
    curve_xTxD: shape ``(..., T, 2K)``; leading axes broadcast with the landmarks'.
    scale: the intensity: a scalar, or broadcastable to ``(..., T, K, 2)``.

  Returns:
    ``(..., T, K, 2)`` landmarks.
  """
  xp = array_module(neutral_landmarks_xKx2, curve_xTxD)
  neutral = xp.asarray(neutral_landmarks_xKx2)
  curve = xp.asarray(curve_xTxD)
  motion = curve.reshape(curve.shape[:-1] + neutral.shape[-2:])
  return neutral[..., None, :, :] + scale * motion


def motion_on_face(neutral_xKx2, curve_xTxD, scale):
  """Landmarks ``(..., T, K, 2)`` of a motion on a neutral face, in the face's own frame.

  The neutral landmarks (pixels or already normalised) are normalised (centroid 0, Frobenius
  norm 1), moved by ``L_t = L_0 + scale * curve_t`` (:func:`apply_motion`, the authors'
  transfer) and mapped back to the input's position and size. jnp; jit- and grad-safe.
  """
  neutral = jnp.asarray(neutral_xKx2, jnp.float32)
  centroid = jnp.mean(neutral, axis=-2, keepdims=True)
  spread = jnp.sqrt(jnp.sum((neutral - centroid) ** 2, axis=(-2, -1), keepdims=True))
  moved = apply_motion(landmarks.normalise_landmarks(neutral), curve_xTxD, scale)
  return centroid[..., None, :, :] + spread[..., None, :, :] * moved
