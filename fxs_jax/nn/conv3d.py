"""3-D convs of the video GANs (4x4x4, stride 2, padding 1, and whole-extent ones) as matmuls.

XLA:CPU runs a strided 3-D ``lax.conv`` slowly and its gradients and the stride-dilated form of
a transposed 3-D conv very slowly (seconds to minutes for one 64 px clip batch: an order of
magnitude or two below a matmul), so the video GANs here compute them as one matmul plus slices,
pads and reshapes, whose gradients are the same cheap operations. The same functions as
``lax.conv`` with PyTorch's conventions (``conv3d_plain`` / ``conv_transpose3d_plain``, which the
tests compare them with), in NTHWC with kernels (t, h, w, in, out); for a transposed conv,
``kernel[a, b, c]`` plays the role of PyTorch's ``weight[:, :, a, b, c]``: input voxel i
scatters into output voxel ``i * stride - padding + a`` (as ``fxs_jax.nn.layers.ConvTranspose2d``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.init import gan_normal

_DIMS = ("NDHWC", "DHWIO", "NDHWC")
# A 4-tap stride-2 transposed conv with padding 1, per axis: output 2m + r takes, from the input
# padded by one (index m + d is input m + d - 1), the taps (d, a) of phase r.
_PHASE_TAPS = {0: ((0, 3), (1, 1)), 1: ((1, 2), (2, 0))}


def conv3d_plain(x, kernel, stride: int, padding: int):
  """``torch.nn.Conv3d(..., stride, padding, bias=False)`` as ``lax.conv`` (the reference)."""
  return jax.lax.conv_general_dilated(x, kernel, (stride,) * 3, [(padding, padding)] * 3,
                                      dimension_numbers=_DIMS)


def conv_transpose3d_plain(x, kernel, stride: int, padding: int):
  """``torch.nn.ConvTranspose3d(..., stride, padding, bias=False)``: a stride-1 correlation of
  the stride-dilated input with the flipped kernel (the reference)."""
  pads = [(k - 1 - padding, k - 1 - padding) for k in kernel.shape[:3]]
  return jax.lax.conv_general_dilated(x, kernel[::-1, ::-1, ::-1], (1, 1, 1), pads,
                                      lhs_dilation=(stride,) * 3, dimension_numbers=_DIMS)


def conv3d_folded(x_BxTxHxWxC: jax.Array, kernel_KtxKhxKwxCxO: jax.Array,
                  strides=(2, 2, 2), padding=(1, 1, 1)) -> jax.Array:
  """``Conv3d(C, O, kernel, stride=strides, padding=padding, bias=False)`` (per axis: stride 1
  or 2, zero padding at both ends) as one matmul: the padded input folded by the strides (a
  reshape), each tap of the kernel a plain slice of the fold, the taps concatenated in the
  kernel's (t, h, w, C) order."""
  b, c = x_BxTxHxWxC.shape[0], x_BxTxHxWxC.shape[-1]
  kernel_size = kernel_KtxKhxKwxCxO.shape[:3]
  if any(s not in (1, 2) for s in strides):
    raise ValueError(f"conv3d_folded takes strides of 1 or 2, got {strides}.")
  pads, folds, outs = [(0, 0)], [b], []
  for n, k, s, p in zip(x_BxTxHxWxC.shape[1:4], kernel_size, strides, padding):
    size = n + 2 * p
    if size < k:
      raise ValueError(f"a kernel of {kernel_size} does not fit an input of "
                       f"{x_BxTxHxWxC.shape[1:4]} padded by {padding}.")
    outs.append((size - k) // s + 1)
    extra = -size % s  # to a multiple of the stride; never read by a tap
    pads.append((p, p + extra))
    folds += [(size + extra) // s, s]
  x = jnp.pad(x_BxTxHxWxC, pads + [(0, 0)])
  fold = x.reshape(*folds, c)
  (st, sh, sw), (ot, oh, ow) = strides, outs
  taps = [fold[:, i // st:i // st + ot, i % st, j // sh:j // sh + oh, j % sh,
               k // sw:k // sw + ow, k % sw]
          for i, j, k in itertools.product(*(range(n) for n in kernel_size))]
  kernel = kernel_KtxKhxKwxCxO.reshape(-1, kernel_KtxKhxKwxCxO.shape[-1]).astype(x.dtype)
  return jnp.concatenate(taps, axis=-1) @ kernel


def conv3d_stride2(x_BxTxHxWxC: jax.Array, kernel_4x4x4xCxO: jax.Array) -> jax.Array:
  """``Conv3d(C, O, 4, stride=2, padding=1)``: ``conv3d_folded`` folding the input 2x2x2."""
  if kernel_4x4x4xCxO.shape[:3] != (4, 4, 4):
    raise ValueError(f"conv3d_stride2 needs a 4x4x4 kernel, got {kernel_4x4x4xCxO.shape[:3]}.")
  return conv3d_folded(x_BxTxHxWxC, kernel_4x4x4xCxO, (2, 2, 2), (1, 1, 1))


def conv_transpose3d_stride2(x_BxTxHxWxC: jax.Array, kernel_4x4x4xCxO: jax.Array) -> jax.Array:
  """``ConvTranspose3d(C, O, 4, stride=2, padding=1)`` as 8 sub-voxel phases: output voxel
  ``2m + r`` (per axis) takes 2 taps per axis of the input padded by one, so each phase is one
  matmul of 8 shifted slices concatenated (no multiplications by the zeros of a stride-dilated
  input); the phases interleaved: (B, 2T, 2H, 2W, O). (Multiplying every voxel by every tap and
  summing shifted slices of the product is the same function but an order of magnitude slower
  to differentiate on XLA:CPU.)"""
  b, t, h, w, _ = x_BxTxHxWxC.shape
  o = kernel_4x4x4xCxO.shape[-1]
  if kernel_4x4x4xCxO.shape[:3] != (4, 4, 4):
    raise ValueError(f"conv_transpose3d_stride2 needs a 4x4x4 kernel, got "
                     f"{kernel_4x4x4xCxO.shape[:3]}.")
  k = kernel_4x4x4xCxO.astype(x_BxTxHxWxC.dtype)
  xp = jnp.pad(x_BxTxHxWxC, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0)))
  phases = []
  for rt, rh, rw in itertools.product((0, 1), repeat=3):
    taps = list(itertools.product(_PHASE_TAPS[rt], _PHASE_TAPS[rh], _PHASE_TAPS[rw]))
    patches = jnp.concatenate([xp[:, dt:dt + t, dh:dh + h, dw:dw + w]
                               for (dt, _), (dh, _), (dw, _) in taps], axis=-1)
    phases.append(patches @ jnp.concatenate([k[at, ah, aw] for (_, at), (_, ah), (_, aw) in taps]))
  out = jnp.stack(phases).reshape(2, 2, 2, b, t, h, w, o)
  return out.transpose(3, 4, 0, 5, 1, 6, 2, 7).reshape(b, 2 * t, 2 * h, 2 * w, o)


class Conv3d(nnx.Module):
  """A 3-D conv with bias, N(0, ``stddev``) kernel (t, h, w, in, out) unless ``kernel_init``
  is given: ``strides`` (1 or 2 per axis) and ``padding`` (default 4x4x4 stride 2 padding 1,
  ``conv3d_folded``), or with ``whole=True`` a kernel covering its whole input (the critics'
  heads: one output position, one matmul), (B, O)."""

  def __init__(self, in_channels: int, out_channels: int, *, kernel=(4, 4, 4),
               strides=(2, 2, 2), padding=(1, 1, 1), whole: bool = False,
               use_bias: bool = True, stddev: float = 0.02,
               kernel_init: jax.nn.initializers.Initializer | None = None, rngs: nnx.Rngs):
    shape = (*kernel, in_channels, out_channels)
    init = kernel_init or gan_normal(stddev)
    self.kernel = nnx.Param(init(rngs.params(), shape, jnp.float32))
    self.bias = nnx.Param(jnp.zeros((out_channels,), jnp.float32)) if use_bias else None
    self.whole, self.strides, self.padding = whole, tuple(strides), tuple(padding)

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...]
    if self.whole:
      if x.shape[1:] != kernel.shape[:-1]:
        raise ValueError(f"the kernel covers {kernel.shape[:-1]}, got an input {x.shape[1:]}.")
      y = x.reshape(x.shape[0], -1) @ kernel.reshape(-1, kernel.shape[-1]).astype(x.dtype)
    else:
      y = conv3d_folded(x, kernel, self.strides, self.padding)
    return y if self.bias is None else y + self.bias[...].astype(y.dtype)


class ConvTranspose3d(nnx.Module):
  """A 3-D transposed conv with bias, N(0, ``stddev``) kernel (t, h, w, in, out): 4x4x4 stride 2
  padding 1 (``conv_transpose3d_stride2``), or with ``from_vector=True`` from a 1x1x1 input
  (given as (B, C)) with stride 1 and no padding: the kernel's extent, one matmul."""

  def __init__(self, in_channels: int, out_channels: int, *, kernel=(4, 4, 4),
               from_vector: bool = False, use_bias: bool = True, stddev: float = 0.02,
               rngs: nnx.Rngs):
    shape = (*kernel, in_channels, out_channels)
    self.kernel = nnx.Param(gan_normal(stddev)(rngs.params(), shape, jnp.float32))
    self.bias = nnx.Param(jnp.zeros((out_channels,), jnp.float32)) if use_bias else None
    self.from_vector = from_vector

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...].astype(x.dtype)
    if self.from_vector:
      y = jnp.einsum("bc,thwco->bthwo", x.reshape(x.shape[0], -1), kernel)
    else:
      y = conv_transpose3d_stride2(x, kernel)
    return y if self.bias is None else y + self.bias[...].astype(y.dtype)
