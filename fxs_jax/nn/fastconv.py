"""Exact fast formulations of convolution, and the switch that picks them.

Every function here computes *the same function* as the plain op (PyTorch's ``Conv2d`` /
``ConvTranspose2d``: NHWC, kernel HWIO, explicit symmetric zero padding) from the same kernel, so
parameters, checkpoints and PyTorch-converted weights are valid whatever the setting; only the
floating-point summation order differs (~1e-6 relative in float32). They exist because XLA:CPU
differentiates strided, input-dilated and large convolutions slowly, above all twice (the WGAN-GP
gradient penalty); see ``experiments/bench/convs.py`` for the measurements behind the choices.

Formulations (``x`` is (B, H, W, C), any H and W, odd included):

* ``conv2d_plain`` / ``conv_transpose2d_plain``: ``lax.conv_general_dilated`` (the transposed conv
  as a stride-1 correlation of the stride-dilated input with the flipped kernel). The oracle.
* ``conv2d_im2col`` (stride 1): the kh*kw shifted views of the padded input concatenated on
  channels, then one ``jnp.dot`` with the kernel reshaped to (kh*kw*C, O).
* ``conv2d_space_to_depth`` (stride 2, any kernel, padding and size): the padded input is
  cropped / zero-extended to the rows and columns the outputs read and folded 2x2 (a reshape);
  each tap is then a plain slice of the fold, the patches are concatenated in the kernel's
  (kh, kw, C) order and multiplied by the kernel reshaped to (kh*kw*C, O), never transposed. No
  strided slicing (it was measured to give wrong gradients inside im2col).
* ``conv2d_winograd`` (3x3, stride 1): Winograd F(2x2, 3x3): overlapping 4x4 input tiles at
  stride 2 (built from row / column pairs, again no strided slicing), ``B^T d B``, 16 batched
  matmuls with ``G g G^T``, ``A^T m A``; odd outputs are computed on a zero-extended input and
  cropped. ``conv2d_winograd4``: F(4x4, 3x3), 6x6 tiles at stride 4, 36 batched matmuls (2.25
  products per output instead of 4). The tile transforms are written out as adds of slices with
  a hand-written transpose (``fxs_jax.nn.winograd``): XLA fuses them into loops, where einsums
  became narrow matmuls plus transposes (one residual conv forward + both gradients at 128 px,
  batch 8: 46 ms vs 80 ms; plain ``lax``: 168 ms).
* ``conv_transpose2d_subpixel`` (stride 2, any kernel, padding, output_padding): the 2x2 output
  phases are each a stride-1 correlation of the input with every other (flipped) kernel tap;
  the four kernels are stacked on the output axis (one im2col correlation), the phases
  interleaved (depth-to-space) and the result cropped by the padding.
* ``upsample_conv3x3_subpixel``: nearest x2 upsampling then a 3x3 conv (padding 1) is a 4x4
  stride-2 transposed conv with folded taps: 4 products per output pixel instead of 9.
* ``conv2d_with_constant_channels``: conv of ``concat(x, tile(c))`` where ``c`` (B, N) is the same
  at every pixel (GANimation's AU vector, LGP-GAN's class vector). The tiled part contributes, at
  each output pixel, the sum over the kernel taps that land inside the image of ``c @ K_c[tap]``:
  a per-channel constant except near the zero-padded border. Computed from the (B, kh, kw, O)
  tap products and 0/1 masks, so the conv itself only sees the image channels.

What "fast" uses (``conv2d`` / ``conv_transpose2d`` dispatch; measured at GANimation 128 px,
batch 8, on the 2-core CPU this project develops on):

* stride 2 conv: space-to-depth; transposed stride 2 and resize-conv: sub-pixel phases;
* 3x3 stride 1 with outputs of at least ``WINOGRAD_MIN_SIZE`` pixels a side: Winograd (the
  residual blocks), F(4x4, 3x3) (``WINOGRAD_TILE``; the GANimation generator update at 128 px,
  batch 8: 3.6 s vs 4.05 s with F(2x2, 3x3), idle machine);
* stride 1 with a single output pixel (a head whose kernel covers the map): im2col, one matmul;
* other stride-1 convs: plain ``lax.conv`` (measured faster for the 7x7 convs, whose im2col
  matrix would be 1.6 GB at 128 px, and for the critic's 3x3 map head on 2x2 maps);
* a conv given constant channels: folded, the image part dispatched as above;
* anything else (stride 3+, dilation): plain.

The setting is read when a function is TRACED, from the innermost ``with conv_impl(impl):`` around
the trace (a context variable, "auto" outside any): the code that traces a network enters it,
e.g. each jitted step of ``fxs_jax.train.trainer`` with ``config.compute.conv_impl`` inside its
body, so that it holds while that step is traced, whoever calls it, and nowhere else. A function
jitted under one setting keeps it in its compile cache. ``"auto"`` is fast on the CPU backend and
plain on GPU/TPU, whose convolution libraries need no help (unless measured otherwise).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from fxs_jax.nn.winograd import conv2d_winograd
from fxs_jax.nn.winograd import conv2d_winograd4
from fxs_jax.nn.winograd import pad_hw as _pad_hw

CONV_IMPLS = ("auto", "fast", "plain")
# Below this output side Winograd's tiles are mostly zero padding and its transforms cost more
# than the products they save (the critic's 3x3 map head on 2x2 maps: plain was 8x faster).
WINOGRAD_TILE = 4  # output tile of the residual 3x3 convs' Winograd: 4 = F(4x4,3x3), 2 = F(2x2,3x3)
WINOGRAD_MIN_SIZE = 4

_DIMS = ("NHWC", "HWIO", "NHWC")
_CONV_IMPL = contextvars.ContextVar("fxs_jax_conv_impl", default="auto")


def _check_impl(impl: str) -> str:
  if impl not in CONV_IMPLS:
    raise ValueError(f"conv_impl must be one of {', '.join(CONV_IMPLS)}, got {impl!r}.")
  return impl


@contextlib.contextmanager
def conv_impl(impl: str) -> Iterator[None]:
  """``with conv_impl("plain"): ...`` traces the enclosed code with ``impl`` ("auto", "fast" or
  "plain"); the setting around it is back on exit (also on an error)."""
  token = _CONV_IMPL.set(_check_impl(impl))
  try:
    yield
  finally:
    _CONV_IMPL.reset(token)


def resolve_conv_impl(impl: str | None = None) -> str:
  """"fast" or "plain": ``impl`` (default: the innermost :func:`conv_impl`'s, else "auto") with
  "auto" resolved."""
  impl = _check_impl(_CONV_IMPL.get() if impl is None else impl)
  if impl == "auto":
    return "fast" if jax.default_backend() == "cpu" else "plain"
  return impl


# ---------------------------------------------------------------------------------------------
# Plain ops (the oracle).


def conv2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride: int = 1, padding: int = 0):
  """``torch.nn.Conv2d`` with ``lax.conv_general_dilated``."""
  return jax.lax.conv_general_dilated(x_BxHxWxC, kernel_KhxKwxCxO, (stride, stride),
                                      ((padding, padding), (padding, padding)),
                                      dimension_numbers=_DIMS)


def conv_transpose2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride: int = 1, padding: int = 0,
                           output_padding: int = 0):
  """``torch.nn.ConvTranspose2d``: input pixel i scatters into ``i * stride - padding + a``.

  A stride-1 correlation of the stride-dilated input with the spatially flipped kernel.
  """
  kh, kw = kernel_KhxKwxCxO.shape[:2]
  pad = ((kh - 1 - padding, kh - 1 - padding + output_padding),
         (kw - 1 - padding, kw - 1 - padding + output_padding))
  return jax.lax.conv_general_dilated(x_BxHxWxC, kernel_KhxKwxCxO[::-1, ::-1], (1, 1), pad,
                                      lhs_dilation=(stride, stride), dimension_numbers=_DIMS)


# ---------------------------------------------------------------------------------------------
# Fast exact formulations.


def _correlate_valid_im2col(x_BxHxWxC, kernel_KhxKwxCxO):
  """Stride-1 'VALID' correlation: shifted views concatenated on channels, one matmul."""
  kh, kw, c, o = kernel_KhxKwxCxO.shape
  ho, wo = x_BxHxWxC.shape[1] - kh + 1, x_BxHxWxC.shape[2] - kw + 1
  views = [x_BxHxWxC[:, a:a + ho, b:b + wo] for a in range(kh) for b in range(kw)]
  patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
  return jnp.dot(patches, kernel_KhxKwxCxO.reshape(kh * kw * c, o))


def conv2d_im2col(x_BxHxWxC, kernel_KhxKwxCxO, padding: int = 0):
  """Stride-1 ``torch.nn.Conv2d`` as one matmul over the im2col patch matrix."""
  p = padding
  return _correlate_valid_im2col(_pad_hw(x_BxHxWxC, p, p, p, p), kernel_KhxKwxCxO)


def conv2d_space_to_depth(x_BxHxWxC, kernel_KhxKwxCxO, padding: int = 0):
  """Stride-2 ``torch.nn.Conv2d`` as one matmul over patches gathered after a 2x2 fold.

  The padded input is viewed as (B, H/2, 2, W/2, 2, C) (a reshape: no strided slicing, which was
  measured to give wrong gradients inside im2col); tap (2a + p, 2b + q) of output (i, j) is
  element (i + a, p, j + b, q). The patches are concatenated in the kernel's own (kh, kw, C)
  order, so the kernel is only reshaped: the critic's largest kernels (134 MB at 128 px) are not
  copied at every step.
  """
  b, h, w, c = x_BxHxWxC.shape
  kh, kw, _, o = kernel_KhxKwxCxO.shape
  p = padding
  ho, wo = (h + 2 * p - kh) // 2 + 1, (w + 2 * p - kw) // 2 + 1
  th, tw = -(-kh // 2), -(-kw // 2)  # taps per 2x2 cell
  # Output m reads padded rows 2m .. 2m + 2th - 1 (the extra row of an odd kernel meets a zero
  # tap): exactly 2 (ho + th - 1) rows, cropped from or zero-extended past the padded input.
  rows, cols = 2 * (ho + th - 1), 2 * (wo + tw - 1)
  xp = _pad_hw(x_BxHxWxC, p, rows - h - p, p, cols - w - p)
  folded = xp.reshape(b, rows // 2, 2, cols // 2, 2, c)
  views = [folded[:, a:a + ho, dy % 2, bb:bb + wo, dx % 2]
           for dy in range(kh) for dx in range(kw) for a, bb in [(dy // 2, dx // 2)]]
  patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
  return jnp.dot(patches, kernel_KhxKwxCxO.reshape(kh * kw * c, o))


def conv_transpose2d_subpixel(x_BxHxWxC, kernel_KhxKwxCxO, padding: int = 0,
                              output_padding: int = 0):
  """Stride-2 ``torch.nn.ConvTranspose2d`` as 4 sub-pixel phases of one stride-1 correlation.

  Uncropped output row ``2m + r`` (phase r) is ``sum_j x[m - j] k[2j + r]``: a full correlation
  of x with phase r's taps reversed. PyTorch's output is rows ``padding ..`` of it.
  """
  b, h, w, c = x_BxHxWxC.shape
  kh, kw, _, o = kernel_KhxKwxCxO.shape
  ho = (h - 1) * 2 - 2 * padding + kh + output_padding
  wo = (w - 1) * 2 - 2 * padding + kw + output_padding
  th, tw = -(-kh // 2), -(-kw // 2)
  k = jnp.pad(kernel_KhxKwxCxO, ((0, 2 * th - kh), (0, 2 * tw - kw), (0, 0), (0, 0)))
  # k[2t + r, 2u + s] -> phase (r, s), tap (th-1-t, tw-1-u): reversed, phases on the output axis.
  k = k.reshape(th, 2, tw, 2, c, o)[::-1, :, ::-1].transpose(0, 2, 4, 1, 3, 5)
  xp = _pad_hw(x_BxHxWxC, th - 1, th - 1, tw - 1, tw - 1)
  y = _correlate_valid_im2col(xp, k.reshape(th, tw, c, 4 * o))  # (B, h+th-1, w+tw-1, 4 O)
  hf, wf = h + th - 1, w + tw - 1
  full = y.reshape(b, hf, wf, 2, 2, o).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * hf, 2 * wf, o)
  return _pad_hw(full[:, padding:, padding:], 0, ho - (2 * hf - padding), 0,
                 wo - (2 * wf - padding))


def upsample_nearest_2x(x_BxHxWxC):
  """Nearest-neighbour x2 upsampling (each pixel becomes a 2x2 block)."""
  return jnp.repeat(jnp.repeat(x_BxHxWxC, 2, axis=1), 2, axis=2)


def upsample_conv3x3_subpixel(x_BxHxWxC, kernel_3x3xCxO):
  """``conv2d(upsample_nearest_2x(x), kernel, padding=1)`` as ONE stride-2 transposed conv.

  Output row ``2m`` of the resize-conv reads input rows m-1 (tap 0) and m (taps 1 + 2); row
  ``2m + 1`` reads rows m (taps 0 + 1) and m + 1 (tap 2). A 4x4 transposed conv, stride 2,
  padding 1, sends input row m to output rows 2m - 1 + a, so it is the same function with
  taps ``[k2, k1 + k2, k0 + k1, k0]`` on each axis (adds of slices: an einsum with a 0/1 matrix
  was 3x slower on a 256-channel kernel).
  """
  def fold(k, axis):
    k0, k1, k2 = (jax.lax.index_in_dim(k, i, axis) for i in range(3))
    return jnp.concatenate([k2, k1 + k2, k0 + k1, k0], axis=axis)
  return conv_transpose2d_subpixel(x_BxHxWxC, fold(fold(kernel_3x3xCxO, 0), 1), padding=1)


def _constant_channels_contribution(const_BxN, kernel_KhxKwxNxO, size_hw, stride, padding):
  """Conv of ``const`` tiled over an (h, w) image with zero padding, without tiling it."""
  kh, kw = kernel_KhxKwxNxO.shape[:2]
  masks = []
  for size, k in zip(size_hw, (kh, kw)):
    out = (size + 2 * padding - k) // stride + 1
    row = np.arange(out)[:, None] * stride - padding + np.arange(k)[None, :]
    masks.append(jnp.asarray((row >= 0) & (row < size), kernel_KhxKwxNxO.dtype))  # (out, k)
  taps_BxKhxKwxO = jnp.einsum("bn,hwno->bhwo", const_BxN.astype(kernel_KhxKwxNxO.dtype),
                              kernel_KhxKwxNxO)
  cols_BxKhxWoxO = jnp.einsum("xw,bhwo->bhxo", masks[1], taps_BxKhxKwxO)
  return jnp.einsum("yh,bhxo->byxo", masks[0], cols_BxKhxWoxO)


def conv2d_with_constant_channels(x_BxHxWxC, const_BxN, kernel_KhxKwxCNxO, stride: int = 1,
                                  padding: int = 0, *, impl: str | None = None):
  """``torch.nn.Conv2d`` of ``concat(x, const tiled over every pixel)`` (kernel: C + N inputs).

  "plain" concatenates and convolves; "fast" convolves only x and adds the constant channels'
  exact contribution (see the module docstring).
  """
  c = x_BxHxWxC.shape[-1]
  if resolve_conv_impl(impl) == "plain":
    b, h, w, _ = x_BxHxWxC.shape
    tiled = jnp.broadcast_to(const_BxN[:, None, None, :].astype(x_BxHxWxC.dtype),
                             (b, h, w, const_BxN.shape[-1]))
    return conv2d_plain(jnp.concatenate([x_BxHxWxC, tiled], axis=-1), kernel_KhxKwxCNxO,
                        stride, padding)
  y = conv2d(x_BxHxWxC, kernel_KhxKwxCNxO[:, :, :c], stride, padding, impl="fast")
  return y + _constant_channels_contribution(const_BxN, kernel_KhxKwxCNxO[:, :, c:],
                                             x_BxHxWxC.shape[1:3], stride, padding)


# ---------------------------------------------------------------------------------------------
# Dispatch.


def conv2d(x_BxHxWxC, kernel_KhxKwxCxO, stride: int = 1, padding: int = 0, *,
           impl: str | None = None):
  """``torch.nn.Conv2d(stride, padding)`` (zero padding, no bias) with the chosen formulation."""
  if resolve_conv_impl(impl) == "plain":
    return conv2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride, padding)
  h, w = x_BxHxWxC.shape[1:3]
  kh, kw = kernel_KhxKwxCxO.shape[:2]
  if stride == 2:
    return conv2d_space_to_depth(x_BxHxWxC, kernel_KhxKwxCxO, padding)
  if stride != 1:
    return conv2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride, padding)
  ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
  if (kh, kw) == (3, 3) and min(ho, wo) >= WINOGRAD_MIN_SIZE:
    if WINOGRAD_TILE == 4:
      return conv2d_winograd4(x_BxHxWxC, kernel_KhxKwxCxO, padding)
    return conv2d_winograd(x_BxHxWxC, kernel_KhxKwxCxO, padding)
  if ho == wo == 1:
    return conv2d_im2col(x_BxHxWxC, kernel_KhxKwxCxO, padding)
  return conv2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride, padding)


def upsample_conv2d(x_BxHxWxC, kernel_KhxKwxCxO, padding: int = 0, *, impl: str | None = None):
  """Nearest x2 upsampling then ``torch.nn.Conv2d(stride=1, padding)``."""
  if (resolve_conv_impl(impl) == "fast" and kernel_KhxKwxCxO.shape[:2] == (3, 3)
      and padding == 1):
    return upsample_conv3x3_subpixel(x_BxHxWxC, kernel_KhxKwxCxO)
  return conv2d(upsample_nearest_2x(x_BxHxWxC), kernel_KhxKwxCxO, 1, padding, impl=impl)


def conv_transpose2d(x_BxHxWxC, kernel_KhxKwxCxO, stride: int = 1, padding: int = 0,
                     output_padding: int = 0, *, impl: str | None = None):
  """``torch.nn.ConvTranspose2d(stride, padding, output_padding)`` with the chosen formulation."""
  if resolve_conv_impl(impl) == "fast" and stride == 2:
    return conv_transpose2d_subpixel(x_BxHxWxC, kernel_KhxKwxCxO, padding, output_padding)
  return conv_transpose2d_plain(x_BxHxWxC, kernel_KhxKwxCxO, stride, padding, output_padding)
