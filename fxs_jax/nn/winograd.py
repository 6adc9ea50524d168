"""Winograd F(m x m, 3x3) convolutions (Lavin & Gray, 2016), exact in function: the residual
blocks' 3x3 stride-1 convs under ``fxs_jax.nn.fastconv``'s "fast" setting (which dispatches here
and re-exports ``conv2d_winograd`` / ``conv2d_winograd4``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def pad_hw(x_BxHxWxC, top: int, bottom: int, left: int, right: int):
  """Zero-pads (positive) or crops (negative) H and W."""
  h, w = x_BxHxWxC.shape[1:3]
  x = x_BxHxWxC[:, :h + min(bottom, 0), :w + min(right, 0)]
  return jnp.pad(x, ((0, 0), (top, max(bottom, 0)), (left, max(right, 0)), (0, 0)))


# Winograd F(m x m, 3x3) (Lavin & Gray, 2016): y = A^T [(G g G^T) * (B^T d B)] A per
# (m + 2) x (m + 2) input tile d. F(2x2): 16 products per 4 outputs (direct: 36); F(4x4): 36 per
# 16 (direct: 144), with larger transform entries (float32 error ~1e-6 relative, tested).
_WINOGRAD = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32),
        np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float32),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], np.float32)),
}  # output tile m -> (B^T, G, A^T)


def _combine(matrix, x, in_axis: int, out_axis: int):
  """``y[i] = sum_a matrix[i][a] * x[a]`` over ``x``'s axis ``in_axis``, the rows i stacked as
  ``y``'s axis ``out_axis``: written out as adds of slices (the Winograd matrices are small and
  sparse), which XLA fuses into one loop, where an einsum became narrow matmuls and transposes."""
  rows = []
  for row in matrix:
    terms = []
    for a, coef in enumerate(row):
      if coef:
        term = jax.lax.index_in_dim(x, a, in_axis, keepdims=False)
        terms.append(term if coef == 1 else -term if coef == -1
                     else term * jnp.asarray(coef, x.dtype))
    rows.append(functools.reduce(jnp.add, terms) if terms
                else jnp.zeros_like(jax.lax.index_in_dim(x, 0, in_axis, keepdims=False)))
  return jnp.stack(rows, axis=out_axis)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 2, 3))
def _linear_combine(matrix, x, in_axis: int, out_axis: int):
  """``_combine`` with its transpose as the gradient (again adds of slices: autodiff's own
  transpose of the stacked slices is pads and full-size adds, 4x slower)."""
  return _combine(matrix, x, in_axis, out_axis)


def _linear_combine_fwd(matrix, x, in_axis, out_axis):
  return _combine(matrix, x, in_axis, out_axis), None


def _linear_combine_bwd(matrix, in_axis, out_axis, _, ct):
  return (_linear_combine(tuple(zip(*matrix)), ct, out_axis, in_axis),)


_linear_combine.defvjp(_linear_combine_fwd, _linear_combine_bwd)


def _as_tuple(matrix) -> tuple[tuple[float, ...], ...]:
  return tuple(tuple(float(v) for v in row) for row in np.asarray(matrix))


def _conv2d_winograd(x_BxHxWxC, kernel_3x3xCxO, padding: int, m: int):
  """3x3 stride-1 ``torch.nn.Conv2d`` by Winograd F(m x m, 3x3), any size (extend, crop)."""
  b, h, w, c = x_BxHxWxC.shape
  o = kernel_3x3xCxO.shape[-1]
  if kernel_3x3xCxO.shape[:2] != (3, 3):
    raise ValueError(f"Winograd F({m}x{m}, 3x3) needs a 3x3 kernel, got {kernel_3x3xCxO.shape}.")
  bt, g, at = _WINOGRAD[m]
  bt, at = _as_tuple(bt), _as_tuple(at)
  p = padding
  ho, wo = h + 2 * p - 2, w + 2 * p - 2
  th, tw = -(-ho // m), -(-wo // m)  # m x m output tiles
  # Tile t reads padded rows m t .. m t + m + 1: group t and the first two rows of group t + 1
  # (reshapes and slices only: strided slicing was measured to give wrong gradients).
  xp = pad_hw(x_BxHxWxC, p, m * th + m - h - p, p, m * tw + m - w - p)
  groups = xp.reshape(b, th + 1, m, tw + 1, m, c)
  tiles = jnp.concatenate([groups[:, :-1], groups[:, 1:, :2]], axis=2)  # (B, th, m+2, tw+1, m, C)
  tiles = jnp.concatenate([tiles[:, :, :, :-1], tiles[:, :, :, 1:, :2]], axis=4)
  n = (m + 2) ** 2
  v = _linear_combine(bt, tiles, 2, 0)  # B^T d: (i, B, th, tw, m+2, C)
  v_NxTxC = _linear_combine(bt, v, 4, 1).reshape(n, b * th * tw, c)  # B^T d B: (i, j, ...)
  gk = jnp.asarray(g, x_BxHxWxC.dtype)
  u_NxCxO = jnp.einsum("ia,abco,jb->ijco", gk, kernel_3x3xCxO.astype(gk.dtype), gk).reshape(n, c, o)
  prod = jnp.matmul(v_NxTxC, u_NxCxO).reshape(m + 2, m + 2, b, th, tw, o)
  y = _linear_combine(at, prod, 0, 3)  # A^T M: (j, B, th, r, tw, O)
  y = _linear_combine(at, y, 0, 4)  # A^T M A: (B, th, r, tw, s, O)
  return y.reshape(b, m * th, m * tw, o)[:, :ho, :wo]


def conv2d_winograd(x_BxHxWxC, kernel_3x3xCxO, padding: int = 1):
  """3x3 stride-1 ``torch.nn.Conv2d`` by Winograd F(2x2, 3x3)."""
  return _conv2d_winograd(x_BxHxWxC, kernel_3x3xCxO, padding, 2)


def conv2d_winograd4(x_BxHxWxC, kernel_3x3xCxO, padding: int = 1):
  """3x3 stride-1 ``torch.nn.Conv2d`` by Winograd F(4x4, 3x3)."""
  return _conv2d_winograd(x_BxHxWxC, kernel_3x3xCxO, padding, 4)
