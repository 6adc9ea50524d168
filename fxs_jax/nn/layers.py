"""Layers with PyTorch semantics in NHWC: conv, transposed conv, instance norm, spectral norm.

The papers' reference code is PyTorch, so padding, output shapes, parameter counts and the
normalisation formulas follow ``torch.nn`` exactly (explicit symmetric padding, never 'SAME').
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.init import gan_normal

_CONV_DIMS = ("NHWC", "HWIO", "NHWC")


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
  """Spatial output size of ``torch.nn.Conv2d(k, s, p)`` (dilation 1)."""
  return (size + 2 * padding - kernel_size) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0) -> int:
  """Spatial output size of ``torch.nn.ConvTranspose2d(k, s, p, output_padding)``."""
  return (size - 1) * stride - 2 * padding + kernel_size + output_padding


class SpectralVector(nnx.Variable):
  """Power-iteration state of spectral norm (PyTorch's ``weight_u`` / ``weight_v`` buffers).

  Not an ``nnx.Param``: optimisers filtered on ``nnx.Param`` leave it alone, and the training
  forward overwrites it, so a jitted step must return ``nnx.state(model, SpectralVector)``.
  NNX only lets a Variable be mutated in the trace that created it: inside ``jax.grad`` merge
  with ``nnx.merge(graphdef, params, rest, copy=True)``, and give ``jax.grad`` over *inputs*
  (the gradient penalty) a frozen ``nnx.view(model, use_running_average=True)``.
  """


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  # PyTorch's F.normalize: divide by max(||x||, eps) so a zero vector stays finite.
  return x / jnp.maximum(jnp.linalg.norm(x), eps)


def spectral_normalize(kernel: jax.Array, u_O: jax.Array, v_K: jax.Array, *, update: bool,
                       num_iterations: int = 1, eps: float = 1e-12):
  """Divides ``kernel`` by its largest singular value, estimated by power iteration.

  The kernel's last axis is the output-channel axis; the matrix is ``W_OxK`` with K the product
  of the other axes (PyTorch reshapes the same way, ``dim=0`` for Conv2d, ``dim=1`` for
  ConvTranspose2d). As in PyTorch, ``u`` and ``v`` carry no gradient; ``sigma = u^T W v`` does.

  Returns ``(kernel / sigma, new_u_O, new_v_K, sigma)``; with ``update=False`` the vectors are
  returned unchanged (PyTorch's eval mode).
  """
  out_channels = kernel.shape[-1]
  w_OxK = kernel.reshape(-1, out_channels).T
  if update:
    w_const_OxK = jax.lax.stop_gradient(w_OxK)
    for _ in range(num_iterations):
      v_K = _l2_normalize(w_const_OxK.T @ u_O, eps)
      u_O = _l2_normalize(w_const_OxK @ v_K, eps)
  u_O, v_K = jax.lax.stop_gradient(u_O), jax.lax.stop_gradient(v_K)
  sigma = u_O @ (w_OxK @ v_K)
  return kernel / sigma, u_O, v_K, sigma


class _ConvBase(nnx.Module):
  """Kernel (kh, kw, in, out), optional bias and optional spectral norm shared by both convs."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
               padding: int, *, use_bias: bool, spectral_norm: bool, kernel_init,
               rngs: nnx.Rngs):
    self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
    kernel_init = kernel_init or gan_normal()
    shape = (kernel_size, kernel_size, in_channels, out_channels)
    self.kernel = nnx.Param(kernel_init(rngs.params(), shape, jnp.float32))
    self.bias = nnx.Param(jnp.zeros((out_channels,), jnp.float32)) if use_bias else None
    self.spectral_norm = spectral_norm
    if spectral_norm:
      k_dim = kernel_size * kernel_size * in_channels
      self.sn_u = SpectralVector(_l2_normalize(jax.random.normal(rngs.params(), (out_channels,))))
      self.sn_v = SpectralVector(_l2_normalize(jax.random.normal(rngs.params(), (k_dim,))))
      # Named like BatchNorm's flag so that ``model.eval()`` freezes the power iteration and
      # ``model.train()`` resumes it, as ``module.eval()`` does for PyTorch's spectral_norm.
      self.use_running_average = False

  def set_view(self, use_running_average: bool | None = None):
    """Used by ``nnx.view(model, use_running_average=True)``: a frozen view whose forward
    leaves the power-iteration vectors alone (needed inside ``jax.grad`` over inputs, e.g. the
    gradient penalty, where NNX forbids mutating a Variable created outside that trace)."""
    if use_running_average is not None and self.spectral_norm:
      self.use_running_average = use_running_average

  def _effective_kernel(self) -> jax.Array:
    kernel = self.kernel[...]
    if not self.spectral_norm:
      return kernel
    update = not self.use_running_average
    kernel, u_O, v_K, _ = spectral_normalize(kernel, self.sn_u[...], self.sn_v[...], update=update)
    if update:
      self.sn_u.set_value(u_O)
      self.sn_v.set_value(v_K)
    return kernel

  def _add_bias(self, y: jax.Array) -> jax.Array:
    return y if self.bias is None else y + self.bias[...]


class Conv2d(_ConvBase):
  """``torch.nn.Conv2d(in, out, k, stride, padding, bias)`` in NHWC with zero padding."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0, *, use_bias: bool = True, spectral_norm: bool = False,
               kernel_init=None, rngs: nnx.Rngs):
    super().__init__(in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
                     spectral_norm=spectral_norm, kernel_init=kernel_init, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    if ((self.kernel_size, self.stride, self.padding) == (4, 2, 1)
        and x_BxHxWxC.shape[1] % 2 == 0 and x_BxHxWxC.shape[2] % 2 == 0):
      return self._add_bias(_conv_4x4_s2_space_to_depth(x_BxHxWxC, self._effective_kernel()))
    pad = ((self.padding, self.padding), (self.padding, self.padding))
    y = jax.lax.conv_general_dilated(x_BxHxWxC, self._effective_kernel(),
                                     window_strides=(self.stride, self.stride), padding=pad,
                                     dimension_numbers=_CONV_DIMS)
    return self._add_bias(y)


class ConvTranspose2d(_ConvBase):
  """``torch.nn.ConvTranspose2d(in, out, k, stride, padding, output_padding, bias)`` in NHWC.

  ``kernel[a, b, c_in, c_out]`` plays the role of PyTorch's ``weight[c_in, c_out, a, b]``: input
  pixel i scatters into output pixel ``i * stride - padding + a``. It is computed as a
  stride-1 correlation of the stride-dilated input with the spatially flipped kernel.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0, output_padding: int = 0, *, use_bias: bool = True,
               spectral_norm: bool = False, kernel_init=None, rngs: nnx.Rngs):
    super().__init__(in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
                     spectral_norm=spectral_norm, kernel_init=kernel_init, rngs=rngs)
    self.output_padding = output_padding

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    if (self.kernel_size, self.stride, self.padding, self.output_padding) == (4, 2, 1, 0):
      return self._add_bias(_conv_transpose_4x4_s2_subpixel(x_BxHxWxC, self._effective_kernel()))
    lo = self.kernel_size - 1 - self.padding
    pad = ((lo, lo + self.output_padding), (lo, lo + self.output_padding))
    kernel_flipped = self._effective_kernel()[::-1, ::-1]
    y = jax.lax.conv_general_dilated(x_BxHxWxC, kernel_flipped, window_strides=(1, 1),
                                     padding=pad, lhs_dilation=(self.stride, self.stride),
                                     dimension_numbers=_CONV_DIMS)
    return self._add_bias(y)


def _conv_4x4_s2_space_to_depth(x_BxHxWxC: jax.Array, kernel_4x4xCxO: jax.Array) -> jax.Array:
  """PyTorch's Conv2d(4, stride=2, padding=1) on even sizes, exactly, as a stride-1 2x2 conv.

  Pad by 1, fold each 2x2 pixel block into channels (space-to-depth), and rearrange the kernel to
  match: tap (2u + du, 2v + dv) of the 4x4 kernel becomes tap (u, v) on channel block (du, dv).
  XLA:CPU differentiates this (notably twice, in the gradient penalty) far faster than a strided
  conv; strided slicing instead of space-to-depth was measured to give wrong gradients here.
  """
  b, h, w, c = x_BxHxWxC.shape
  out = kernel_4x4xCxO.shape[-1]
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (1, 1), (1, 1), (0, 0)))
  hp, wp = (h + 2) // 2, (w + 2) // 2
  x_s2d = xp.reshape(b, hp, 2, wp, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, 4 * c)
  k = kernel_4x4xCxO.reshape(2, 2, 2, 2, c, out).transpose(0, 2, 1, 3, 4, 5).reshape(16 * c, out)
  # im2col: the 2x2 taps as shifted views concatenated on channels, then one matmul (XLA:CPU's
  # double backward of this is several times faster than of the equivalent conv).
  patches = jnp.concatenate([x_s2d[:, u:u + hp - 1, v:v + wp - 1] for u in (0, 1) for v in (0, 1)],
                            axis=-1)
  return jnp.dot(patches, k)


# Kernel taps used by each output phase of a 4x4 / stride 2 / pad 1 transposed conv: output row
# 2m + 0 = x[m-1] * w[3] + x[m] * w[1]; output row 2m + 1 = x[m] * w[2] + x[m+1] * w[0].
_SUBPIXEL_TAPS = ((3, 1), (2, 0))


def _conv_transpose_4x4_s2_subpixel(x_BxHxWxC: jax.Array, kernel_4x4xCxO: jax.Array) -> jax.Array:
  """PyTorch's ConvTranspose2d(4, stride=2, padding=1), exactly, as one stride-1 2x2 conv.

  The four output phases (even/odd row x even/odd column) are each a 2x2 correlation of the
  zero-padded input; their kernels are stacked on the output axis and the phases interleaved
  (depth-to-space). Same function as the dilated-input formulation, but XLA:CPU's backward
  pass of an input-dilated conv is ~50x slower than that of this plain conv.
  """
  b, h, w, _ = x_BxHxWxC.shape
  out = kernel_4x4xCxO.shape[-1]
  rows = [jnp.stack([kernel_4x4xCxO[jnp.array(tr)][:, jnp.array(tc)] for tc in _SUBPIXEL_TAPS],
                    axis=-2) for tr in _SUBPIXEL_TAPS]  # each (2, 2, C, 2, O): per column phase
  channels = kernel_4x4xCxO.shape[2]
  kernel_2x2xCx4O = jnp.stack(rows, axis=-3).reshape(2, 2, channels, 2 * 2 * out)
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = jax.lax.conv_general_dilated(xp, kernel_2x2xCx4O, (1, 1), "VALID",
                                   dimension_numbers=_CONV_DIMS)  # (B, H+1, W+1, 4*O)
  y = y.reshape(b, h + 1, w + 1, 2, 2, out)
  phases = [[y[:, r:r + h, c:c + w, r, c] for c in (0, 1)] for r in (0, 1)]
  y = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)  # (B, H, 2, W, 2, O)
  return y.reshape(b, 2 * h, 2 * w, out)


class InstanceNorm(nnx.Module):
  """``torch.nn.InstanceNorm2d(C, affine, eps=1e-5)``: per sample and channel, over H and W.

  Always uses the sample's own statistics (no running averages), in training and evaluation:
  PyTorch 0.3, which the GANimation code targets, did the same whatever ``.eval()`` said.
  Scale starts at 1 and bias at 0 (PyTorch >= 1.0). PyTorch 0.3 drew the scale from U(0, 1),
  and GANimation's ``init_weights`` (matching only 'Conv' and 'BatchNorm2d') left it so.
  """

  def __init__(self, num_features: int, *, affine: bool = True, eps: float = 1e-5):
    self.eps = eps
    if affine:
      self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
      self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
    else:
      self.scale = None
      self.bias = None

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    # Statistics and normalisation in float32 even under bfloat16 compute (a no-op in float32):
    # bf16's 8-bit mantissa would bias the variance (fxs_jax/train/precision.py).
    x32 = x_BxHxWxC.astype(jnp.float32)
    mean_Bx1x1xC = jnp.mean(x32, axis=(1, 2), keepdims=True)
    # Biased variance, as PyTorch normalises with.
    var_Bx1x1xC = jnp.mean(jnp.square(x32 - mean_Bx1x1xC), axis=(1, 2), keepdims=True)
    y = (x32 - mean_Bx1x1xC) * jax.lax.rsqrt(var_Bx1x1xC + self.eps)
    if self.scale is not None:
      y = y * self.scale[...] + self.bias[...]
    return y.astype(x_BxHxWxC.dtype)
