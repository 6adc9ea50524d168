"""Layers with PyTorch semantics in NHWC: conv, transposed conv, instance norm, spectral norm.

The papers' reference code is PyTorch, so padding, output shapes, parameter counts and the
normalisation formulas follow ``torch.nn`` exactly (explicit symmetric padding, never 'SAME').
The convolutions are computed by ``fxs_jax.nn.fastconv`` (plain ``lax.conv`` or an exact faster
formulation, per ``config.compute.conv_impl``); the parameters are the same either way.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn import fastconv
from fxs_jax.nn.init import gan_normal


def frozen(module: nnx.Module) -> nnx.Module:
  """``module`` as a fixed function: a view whose spectral norms leave their power-iteration
  vectors alone (``nnx.view(..., use_running_average=True)``); the module itself when nothing
  in it has such state."""
  try:
    return nnx.view(module, use_running_average=True)
  except ValueError as e:
    if "Unused keys" not in str(e):
      raise
    return module


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

  def __call__(self, x_BxHxWxC: jax.Array, const_BxN: jax.Array | None = None) -> jax.Array:
    """``const_BxN``: extra input channels constant over the pixels (an AU or class vector), as
    if tiled and concatenated after ``x``'s channels; the kernel has C + N input channels."""
    kernel = self._effective_kernel()
    x_BxHxWxC = x_BxHxWxC.astype(kernel.dtype)  # e.g. float32 noise into a bfloat16 network
    if const_BxN is None:
      y = fastconv.conv2d(x_BxHxWxC, kernel, self.stride, self.padding)
    else:
      y = fastconv.conv2d_with_constant_channels(x_BxHxWxC, const_BxN.astype(kernel.dtype),
                                                 kernel, self.stride, self.padding)
    return self._add_bias(y)


class ConvTranspose2d(_ConvBase):
  """``torch.nn.ConvTranspose2d(in, out, k, stride, padding, output_padding, bias)`` in NHWC.

  ``kernel[a, b, c_in, c_out]`` plays the role of PyTorch's ``weight[c_in, c_out, a, b]``: input
  pixel i scatters into output pixel ``i * stride - padding + a``.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0, output_padding: int = 0, *, use_bias: bool = True,
               spectral_norm: bool = False, kernel_init=None, rngs: nnx.Rngs):
    super().__init__(in_channels, out_channels, kernel_size, stride, padding, use_bias=use_bias,
                     spectral_norm=spectral_norm, kernel_init=kernel_init, rngs=rngs)
    self.output_padding = output_padding

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    kernel = self._effective_kernel()
    y = fastconv.conv_transpose2d(x_BxHxWxC.astype(kernel.dtype), kernel, self.stride,
                                  self.padding, self.output_padding)
    return self._add_bias(y)


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
    c = x32.shape[-1]
    # The affine parameters too (bfloat16 compute hands them in as bfloat16): the custom VJP's
    # cotangents must have its inputs' types, and a critic's gradient penalty differentiates it.
    scale = jnp.ones((c,), jnp.float32) if self.scale is None else self.scale[...]
    bias = jnp.zeros((c,), jnp.float32) if self.bias is None else self.bias[...]
    return _instance_norm(x32, scale.astype(jnp.float32), bias.astype(jnp.float32),
                          self.eps).astype(x_BxHxWxC.dtype)


def _instance_norm_forward(x32, scale, bias, eps):
  mean_Bx1x1xC = jnp.mean(x32, axis=(1, 2), keepdims=True)
  # Biased variance, as PyTorch normalises with.
  var_Bx1x1xC = jnp.mean(jnp.square(x32 - mean_Bx1x1xC), axis=(1, 2), keepdims=True)
  rstd_Bx1x1xC = jax.lax.rsqrt(var_Bx1x1xC + eps)
  xhat = (x32 - mean_Bx1x1xC) * rstd_Bx1x1xC
  return xhat * scale + bias, (xhat, rstd_Bx1x1xC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _instance_norm(x32, scale, bias, eps):
  """Affine instance norm with its gradient written out (two reductions and one elementwise
  pass over the activation instead of autodiff's longer chain: the GANimation generator step
  3% faster); differentiable again (tested to second order)."""
  return _instance_norm_forward(x32, scale, bias, eps)[0]


def _instance_norm_fwd(x32, scale, bias, eps):
  y, (xhat, rstd) = _instance_norm_forward(x32, scale, bias, eps)
  return y, (xhat, rstd, scale)


def _instance_norm_bwd(eps, residuals, dy):
  del eps
  xhat, rstd_Bx1x1xC, scale = residuals
  dscale = jnp.sum(dy * xhat, axis=(0, 1, 2))
  dbias = jnp.sum(dy, axis=(0, 1, 2))
  g = dy * scale
  mean_g = jnp.mean(g, axis=(1, 2), keepdims=True)
  mean_gx = jnp.mean(g * xhat, axis=(1, 2), keepdims=True)
  return rstd_Bx1x1xC * (g - mean_g - xhat * mean_gx), dscale, dbias


_instance_norm.defvjp(_instance_norm_fwd, _instance_norm_bwd)
