"""Blocks the four papers share: conv-norm-act, residual, down/up, PatchGAN critic, composition."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn import fastconv
from fxs_jax.nn.layers import Conv2d
from fxs_jax.nn.layers import ConvTranspose2d
from fxs_jax.nn.layers import InstanceNorm

NORMS = ("none", "instance", "batch", "spectral")
ACTIVATIONS = ("none", "relu", "leaky_relu", "tanh", "sigmoid")


def _activate(x: jax.Array, activation: str, negative_slope: float) -> jax.Array:
  if activation == "none":
    return x
  if activation == "relu":
    return jax.nn.relu(x)
  if activation == "leaky_relu":
    return jax.nn.leaky_relu(x, negative_slope)
  if activation == "tanh":
    return jnp.tanh(x)
  if activation == "sigmoid":
    return jax.nn.sigmoid(x)
  raise ValueError(f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}.")


class ConvNormAct(nnx.Module):
  """Conv (or transposed conv) -> optional instance or batch norm -> activation.

  ``norm``: ``"none"``; ``"instance"`` (affine InstanceNorm after the conv); ``"batch"``
  (``torch.nn.BatchNorm2d``'s defaults: momentum 0.1, i.e. running averages decayed by 0.9, eps
  1e-5; batch statistics unless viewed with ``use_running_average=True``, see
  ``layers.frozen``); ``"spectral"`` (spectral-normalised conv weight, no feature
  normalisation). ``use_bias=None`` picks PyTorch's usual choice: no bias before an instance or
  batch norm (its mean subtraction cancels a bias). ``affine=False``: an instance norm without
  learned scale and bias (``InstanceNorm2d``'s default, as CycleGAN uses it).
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0, *, norm: str = "instance", activation: str = "relu",
               negative_slope: float = 0.2, use_bias: bool | None = None,
               transpose: bool = False, output_padding: int = 0, affine: bool = True,
               rngs: nnx.Rngs):
    if norm not in NORMS:
      raise ValueError(f"Unknown norm {norm!r}; expected one of {NORMS}.")
    if activation not in ACTIVATIONS:
      raise ValueError(f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}.")
    if use_bias is None:
      use_bias = norm not in ("instance", "batch")
    common = dict(use_bias=use_bias, spectral_norm=norm == "spectral", rngs=rngs)
    if transpose:
      self.conv = ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                  output_padding, **common)
    else:
      self.conv = Conv2d(in_channels, out_channels, kernel_size, stride, padding, **common)
    self.norm = (InstanceNorm(out_channels, affine=affine) if norm == "instance"
                 else nnx.BatchNorm(out_channels, momentum=0.9, epsilon=1e-5, rngs=rngs)
                 if norm == "batch" else None)
    self.activation = activation
    self.negative_slope = negative_slope

  def __call__(self, x_BxHxWxC: jax.Array, const_BxN: jax.Array | None = None) -> jax.Array:
    """``const_BxN``: input channels constant over the pixels (e.g. a tiled AU vector), given
    untiled so that the conv can fold them out (see ``Conv2d``); plain convs only."""
    if const_BxN is None:
      y = self.conv(x_BxHxWxC)
    elif isinstance(self.conv, Conv2d):
      y = self.conv(x_BxHxWxC, const_BxN)
    else:
      raise ValueError("Constant input channels are folded into plain convs only.")
    return self.normalize_activate(y)

  def normalize_activate(self, y: jax.Array) -> jax.Array:
    """What follows the conv: the norm, then the activation."""
    if self.norm is not None:
      y = self.norm(y).astype(y.dtype)  # batch norm computes in its float32 parameters' type
    return _activate(y, self.activation, self.negative_slope)



def fused_heads(x_BxHxWxC: jax.Array, *heads: ConvNormAct) -> tuple[jax.Array, ...]:
  """``tuple(head(x) for head in heads)`` computed as ONE conv when the heads are plain convs
  (no norm) of the same geometry: their kernels are concatenated on the output axis at call
  time (parameters unchanged), then each head's bias and activation apply to its channels. A
  conv's cost barely depends on a few output channels (GANimation's colour + attention heads,
  7x7 on 64 channels at full resolution: one pass over the input instead of two)."""
  convs = [head.conv for head in heads]
  if not all(head.norm is None and isinstance(conv, Conv2d) for head, conv in zip(heads, convs)) \
      or len({(c.kernel_size, c.stride, c.padding) for c in convs}) != 1:
    return tuple(head(x_BxHxWxC) for head in heads)
  kernels = [conv._effective_kernel() for conv in convs]  # pylint: disable=protected-access
  y = fastconv.conv2d(x_BxHxWxC, jnp.concatenate(kernels, axis=-1), convs[0].stride,
                      convs[0].padding)
  outs, start = [], 0
  for head, conv, kernel in zip(heads, convs, kernels):
    part = conv._add_bias(y[..., start:start + kernel.shape[-1]])  # pylint: disable=protected-access
    outs.append(_activate(part, head.activation, head.negative_slope))
    start += kernel.shape[-1]
  return tuple(outs)

class ResidualBlock(nnx.Module):
  """``x + IN(conv3x3(ReLU(IN(conv3x3(x)))))``, channels unchanged (StarGAN / GANimation;
  CycleGAN's with ``use_bias=True, affine=False``)."""

  def __init__(self, channels: int, *, use_bias: bool = False, affine: bool = True,
               rngs: nnx.Rngs):
    self.conv_norm_relu = ConvNormAct(channels, channels, 3, 1, 1, norm="instance",
                                      activation="relu", use_bias=use_bias, affine=affine,
                                      rngs=rngs)
    self.conv_norm = ConvNormAct(channels, channels, 3, 1, 1, norm="instance",
                                 activation="none", use_bias=use_bias, affine=affine, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    return x_BxHxWxC + self.conv_norm(self.conv_norm_relu(x_BxHxWxC))


class DownBlock(ConvNormAct):
  """Conv 4x4 stride 2 padding 1 (halves H and W) -> norm -> activation."""

  def __init__(self, in_channels: int, out_channels: int, *, norm: str = "instance",
               activation: str = "relu", negative_slope: float = 0.2,
               use_bias: bool | None = None, rngs: nnx.Rngs):
    super().__init__(in_channels, out_channels, 4, 2, 1, norm=norm, activation=activation,
                     negative_slope=negative_slope, use_bias=use_bias, rngs=rngs)


class UpBlock(ConvNormAct):
  """Transposed conv 4x4 stride 2 padding 1 (doubles H and W) -> norm -> activation."""

  def __init__(self, in_channels: int, out_channels: int, *, norm: str = "instance",
               activation: str = "relu", negative_slope: float = 0.2,
               use_bias: bool | None = None, rngs: nnx.Rngs):
    super().__init__(in_channels, out_channels, 4, 2, 1, norm=norm, activation=activation,
                     negative_slope=negative_slope, use_bias=use_bias, transpose=True, rngs=rngs)


class ResizeConvUpBlock(nnx.Module):
  """Nearest x2 upsample -> conv k x k (same size) -> norm -> activation.

  The cGAN-P1 paper's up path: resize-then-convolve avoids the checkerboard artefacts a strided
  transposed conv leaves (Odena et al., 2016).
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *,
               norm: str = "instance", activation: str = "relu", negative_slope: float = 0.2,
               use_bias: bool | None = None, affine: bool = True, rngs: nnx.Rngs):
    if kernel_size % 2 != 1:
      raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}.")
    self.conv = ConvNormAct(in_channels, out_channels, kernel_size, 1, kernel_size // 2,
                            norm=norm, activation=activation, negative_slope=negative_slope,
                            use_bias=use_bias, affine=affine, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    conv = self.conv.conv  # upsampling and conv in one (``fastconv.upsample_conv2d``)
    y = fastconv.upsample_conv2d(x_BxHxWxC, conv._effective_kernel(), conv.padding)  # pylint: disable=protected-access
    return self.conv.normalize_activate(conv._add_bias(y))  # pylint: disable=protected-access


UPSAMPLINGS = ("transpose", "resize")


def up_block(kind: str, in_channels: int, out_channels: int, *, norm: str = "instance",
             activation: str = "relu", use_bias: bool | None = None, rngs: nnx.Rngs
             ) -> nnx.Module:
  """A x2 up-sampling block -> norm -> activation (default instance norm, ReLU): ``"transpose"``
  (4x4 stride-2 transposed conv, StarGAN / GANimation / pix2pix) or ``"resize"`` (nearest x2
  then 3x3 conv: no checkerboard; with the fast convs, as cheap as the transposed conv)."""
  common = dict(norm=norm, activation=activation, use_bias=use_bias, rngs=rngs)
  if kind == "transpose":
    return UpBlock(in_channels, out_channels, **common)
  if kind == "resize":
    return ResizeConvUpBlock(in_channels, out_channels, **common)
  raise ValueError(f"Unknown up-sampling {kind!r}; expected one of {UPSAMPLINGS}.")



def star_trunk(in_channels: int, base_channels: int, num_res_blocks: int, upsample: str, *,
               rngs: nnx.Rngs) -> tuple[ConvNormAct, nnx.List, nnx.List, nnx.List]:
  """StarGAN's generator body, shared by StarGAN and GANimation: ``(stem, down, bottleneck,
  up)``: conv7x7 ``in_channels`` -> c, two 4x4 stride-2 down blocks (c -> 4c),
  ``num_res_blocks`` residual blocks, two ``upsample`` up blocks (4c -> c); instance norms,
  ReLUs, no biases. The caller keeps the four as attributes (their names are the parameter
  paths) and runs them with :func:`run_star_trunk`; its head(s) read the c-channel output."""
  c = base_channels
  stem = ConvNormAct(in_channels, c, 7, 1, 3, norm="instance", activation="relu",
                     use_bias=False, rngs=rngs)
  down = nnx.List([DownBlock(c, 2 * c, use_bias=False, rngs=rngs),
                   DownBlock(2 * c, 4 * c, use_bias=False, rngs=rngs)])
  bottleneck = nnx.List([ResidualBlock(4 * c, use_bias=False, rngs=rngs)
                         for _ in range(num_res_blocks)])
  up = nnx.List([up_block(upsample, 4 * c, 2 * c, use_bias=False, rngs=rngs),
                 up_block(upsample, 2 * c, c, use_bias=False, rngs=rngs)])
  return stem, down, bottleneck, up


def run_star_trunk(module: nnx.Module, img_BxHxWx3: jax.Array, cond_BxK: jax.Array
                   ) -> jax.Array:
  """The trunk of ``module`` (its ``stem``, ``down``, ``bottleneck``, ``up`` from
  :func:`star_trunk`) on the image with the condition tiled over the pixels as extra input
  channels (passed untiled: the fast conv folds them out of the 7x7 stem, same function)."""
  h = module.stem(img_BxHxWx3, cond_BxK.astype(img_BxHxWx3.dtype))
  for block in (*module.down, *module.bottleneck, *module.up):
    h = block(h)
  return h


class CriticOutput(NamedTuple):
  """A PatchGAN critic's outputs; heads that were not configured are ``None``."""
  map_BxhxWx1: jax.Array
  aus_BxA: jax.Array | None = None
  logits_BxK: jax.Array | None = None


class PatchCritic(nnx.Module):
  """PatchGAN critic: ``num_layers`` conv4x4 stride 2, channels doubling, + optional aux heads.

  Heads on the last feature map (side ``image_size / 2**num_layers``): a conv3x3 stride 1 pad 1
  without bias giving a 1-channel real/fake map, and for ``num_aus`` / ``num_classes`` > 0 a
  conv whose kernel covers the whole map (valid, no bias) giving a (B, n) vector (StarGAN,
  GANimation). ``norm``: "none" (WGAN-GP: the penalty is per sample), "instance" (all but the
  first layer, as pix2pix) or "spectral" (every conv, heads included).
  """

  def __init__(self, in_channels: int, image_size: int, *, num_layers: int,
               base_channels: int = 64, max_channels: int | None = None, norm: str = "none",
               negative_slope: float = 0.01, num_aus: int = 0, num_classes: int = 0,
               rngs: nnx.Rngs):
    if image_size % (2 ** num_layers):
      raise ValueError(f"image_size {image_size} is not divisible by 2**num_layers "
                       f"= {2 ** num_layers}.")
    self.final_size = image_size // 2 ** num_layers
    layers = []
    channels_in, channels = in_channels, base_channels
    for i in range(num_layers):
      layer_norm = "none" if (i == 0 and norm == "instance") else norm
      layers.append(DownBlock(channels_in, channels, norm=layer_norm, activation="leaky_relu",
                              negative_slope=negative_slope, rngs=rngs))
      channels_in = channels
      channels = channels * 2 if max_channels is None else min(channels * 2, max_channels)
    self.trunk = nnx.List(layers)
    spectral = norm == "spectral"
    self.map_head = Conv2d(channels_in, 1, 3, 1, 1, use_bias=False, spectral_norm=spectral,
                           rngs=rngs)
    self.aus_head = (Conv2d(channels_in, num_aus, self.final_size, use_bias=False,
                            spectral_norm=spectral, rngs=rngs) if num_aus else None)
    self.class_head = (Conv2d(channels_in, num_classes, self.final_size, use_bias=False,
                              spectral_norm=spectral, rngs=rngs) if num_classes else None)

  def __call__(self, img_BxHxWxC: jax.Array) -> CriticOutput:
    h = img_BxHxWxC
    for layer in self.trunk:
      h = layer(h)
    batch = img_BxHxWxC.shape[0]
    aus = None if self.aus_head is None else self.aus_head(h).reshape(batch, -1)
    logits = None if self.class_head is None else self.class_head(h).reshape(batch, -1)
    return CriticOutput(self.map_head(h), aus, logits)


COLOURS = ("absolute", "residual")


def colour_mask(kind: str, head_BxHxWx3: jax.Array, image_BxHxWx3: jax.Array) -> jax.Array:
  """The colour mask C from the colour head's tanh output ``head`` (in [-1, 1]).

  ``"absolute"`` (GANimation): C = head. ``"residual"``: C = clip(image + 2 * head, -1, 1), a
  change of the input (any colour stays reachable); with a zero-initialised head the editor
  starts as the identity, so the colour mask cannot tint what the attention opens before it has
  learned an edit.
  """
  if kind == "absolute":
    return head_BxHxWx3
  if kind == "residual":
    return jnp.clip(image_BxHxWx3 + 2.0 * head_BxHxWx3, -1.0, 1.0)
  raise ValueError(f"Unknown colour mask {kind!r}; expected one of {COLOURS}.")


def compose(attention_BxHxWx1: jax.Array, color_BxHxWx3: jax.Array,
            image_BxHxWx3: jax.Array) -> jax.Array:
  """GANimation's composition ``A * image + (1 - A) * C``: A = 1 keeps the input pixel."""
  return attention_BxHxWx1 * image_BxHxWx3 + (1.0 - attention_BxHxWx1) * color_BxHxWx3
