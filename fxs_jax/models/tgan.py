"""TGAN (Saito, Matsumoto & Saito, ICCV 2017): a temporal generator of per-frame latents, an
image generator of frames from them, and a 3-D convolutional video critic.

Topology after the official Chainer code (``pfnet-research/tgan``: ``models/*.py`` as its
``configs/ucf101/ucf101_wgan_svd_zdim-100_no-beta.yml`` assembles them), in NTHWC:

* :class:`TemporalGenerator` G0 (``FrameSeedGeneratorNoBetaInitDefault``): ``[z0, one-hot
  class]`` -> a linear layer to ``8 c`` channels on a length-1 sequence (the official 1x1
  ``DeconvolutionND``) -> 1-D transposed convs (kernel 4, stride 2, padding 1), each doubling the
  length, to ``T = num_frames`` latents ``z1^t`` (``frame_dim`` each) with tanh. Channels
  ``8c, 4c, 2c, 2c`` (512, 256, 128, 128 at c = 64, 16 frames), then ``frame_dim``; batch norm
  without bias (``use_beta=False``) + ReLU after all but the last; every layer has a bias.
* :class:`ImageGenerator` G1 (``VideoGeneratorInitUniform``): ``[z0, class]`` and ``z1^t`` each
  through a bias-free linear layer to ``(C / 2) x 4 x 4`` (batch norm over those features +
  ReLU), concatenated to ``C x 4 x 4`` (C = 512 at 64 px), then bias-free 4x4 stride-2 transposed
  convs halving the channels to ``image_size`` (batch norm + ReLU), and a 3x3 stride-1 transposed
  conv with bias to RGB, tanh. Weights U(-0.01, 0.01) (the config's ``wscale``).
* :class:`VideoCritic` (``VideoDiscriminatorNoBetaInitDefault``): 3-D convs with 4x4x4 kernels,
  stride 2 and padding 1 in time and space, with biases, channels doubling (64 -> 512),
  LeakyReLU(0.2), batch norm without bias after all but the first; a head conv with bias over the
  remaining (time, height, width) extent (the official 4x4 ``Convolution2D`` on the 1-frame,
  4x4 map left at 16 frames and 64 px) to ``1 + num_classes``: the score and the class logits
  of the categorical variant (``fxs_jax.recipes.video_from_noise``).

Chainer's default initialiser (LeCun normal, ``N(0, 1 / fan_in)``, fan_in of a transposed conv
counted on its output channels as Chainer does) for G0 and the critic; biases 0, norm scales 1.
The critic's batch norms normalise with each batch's own statistics (the reference calls its
critic in training mode only) and keep a running average of the batch variances (Chainer's
``avg_var``: decay 0.9, unbiased, from 1) that singular value clipping bounds their scales with
(``fxs_jax.nn.spectral``); frozen (``fxs_jax.nn.layers.frozen``, the generator's update) they
leave it alone. The generators' batch norms (``nnx.BatchNorm``, eps 2e-5 as Chainer's) use
batch statistics while training and their running averages once frozen.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.models.mocogan import LEAKY_SLOPE
from fxs_jax.models.mocogan import VideoCriticOutput
from fxs_jax.models.mocogan import num_up_layers
from fxs_jax.nn import conv3d
from fxs_jax.nn.layers import ConvTranspose2d

BN_EPS = 2e-5  # chainer.links.BatchNormalization's
BN_DECAY = 0.9  # its running averages' decay


def lecun_normal(transpose: bool = False) -> jax.nn.initializers.Initializer:
  """Chainer's ``LeCunNormal``: N(0, 1 / fan_in), untruncated; a transposed conv's (and G0's
  first, 1x1 transposed, layer's) fan_in is its output channels times its kernel."""
  axes = dict(in_axis=-1, out_axis=-2) if transpose else {}
  return jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal", **axes)


def uniform(scale: float) -> jax.nn.initializers.Initializer:
  """Chainer's ``Uniform(scale)``: U(-scale, scale)."""
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


def num_time_layers(num_frames: int) -> int:
  """G0's stride-2 transposed convs: log2(num_frames)."""
  n = int(round(math.log2(max(num_frames, 1))))
  if num_frames < 2 or 2 ** n != num_frames:
    raise ValueError(f"num_frames must be a power of two >= 2 (G0 doubles a length-1 sequence), "
                     f"got {num_frames}.")
  return n


def temporal_channels(base_channels: int, num_layers: int) -> list[int]:
  """G0's hidden channels: ``8c, 4c, 2c, 2c, ...`` (512, 256, 128, 128 at c = 64)."""
  return [max(8 * base_channels // 2 ** i, 2 * base_channels) for i in range(num_layers)]


def critic_head_extent(num_frames: int, image_size: int, num_layers: int) -> tuple[int, int]:
  """(frames, side) left for the critic's head after ``num_layers`` stride-2 3-D convs."""
  step = 2 ** num_layers
  if num_layers < 1 or num_frames % step or image_size % step:
    raise ValueError(f"the critic's {num_layers} stride-2 3-D convs need num_frames and "
                     f"image_size divisible by {2 ** max(num_layers, 0)}; got {num_frames} "
                     f"frames of {image_size} px.")
  return num_frames // step, image_size // step


def _batch_norm(features: int, use_bias: bool, rngs: nnx.Rngs) -> nnx.BatchNorm:
  return nnx.BatchNorm(features, momentum=BN_DECAY, epsilon=BN_EPS, use_bias=use_bias, rngs=rngs)


class TemporalGenerator(nnx.Module):
  """G0: ``[z0, class]`` (B, Z + K) -> frame latents ``z1`` (B, T, frame_dim) in (-1, 1)."""

  def __init__(self, in_dim: int, num_frames: int, frame_dim: int, base_channels: int,
               rngs: nnx.Rngs):
    channels = temporal_channels(base_channels, num_time_layers(num_frames))
    self.first = nnx.Linear(in_dim, channels[0], kernel_init=lecun_normal(transpose=True),
                            rngs=rngs)
    outs = channels[1:] + [frame_dim]
    self.ups = nnx.List([nnx.ConvTranspose(c_in, c_out, (4,), (2,), padding=((2, 2),),
                                           kernel_init=lecun_normal(transpose=True), rngs=rngs)
                         for c_in, c_out in zip(channels, outs)])
    self.norms = nnx.List([_batch_norm(c, False, rngs) for c in channels])

  def __call__(self, z_BxZ: jax.Array) -> jax.Array:
    h = jax.nn.relu(self.norms[0](self.first(z_BxZ)[:, None]))  # (B, 1, 8c)
    for i, up in enumerate(self.ups):
      h = up(h)  # the length doubles
      h = jax.nn.relu(self.norms[i + 1](h)) if i + 1 < len(self.norms) else jnp.tanh(h)
    return h


class ImageGenerator(nnx.Module):
  """G1: ``[z0, class]`` (N, Z + K) and ``z1`` (N, frame_dim) -> frames (N, H, W, 3)."""

  def __init__(self, in_dim: int, frame_dim: int, image_size: int, base_channels: int,
               wscale: float, rngs: nnx.Rngs):
    num_up = num_up_layers(image_size)
    top = base_channels * 2 ** num_up  # C at 4x4 px: 512 at 64 px, c = 32
    self.half = top // 2
    w = uniform(wscale)
    self.slow = nnx.Linear(in_dim, 16 * self.half, use_bias=False, kernel_init=w, rngs=rngs)
    self.fast = nnx.Linear(frame_dim, 16 * self.half, use_bias=False, kernel_init=w, rngs=rngs)
    self.slow_norm = _batch_norm(16 * self.half, True, rngs)
    self.fast_norm = _batch_norm(16 * self.half, True, rngs)
    channels = [top // 2 ** i for i in range(num_up + 1)]
    self.ups = nnx.List([ConvTranspose2d(c_in, c_out, 4, 2, 1, use_bias=False, kernel_init=w,
                                         rngs=rngs)
                         for c_in, c_out in zip(channels[:-1], channels[1:])])
    self.norms = nnx.List([_batch_norm(c, True, rngs) for c in channels[1:]])
    self.out = ConvTranspose2d(channels[-1], 3, 3, 1, 1, use_bias=True, kernel_init=w, rngs=rngs)

  def __call__(self, slow_NxZ: jax.Array, fast_NxF: jax.Array) -> jax.Array:
    n = slow_NxZ.shape[0]
    slow = jax.nn.relu(self.slow_norm(self.slow(slow_NxZ))).reshape(n, 4, 4, self.half)
    fast = jax.nn.relu(self.fast_norm(self.fast(fast_NxF))).reshape(n, 4, 4, self.half)
    h = jnp.concatenate([slow, fast], axis=-1)
    for up, norm in zip(self.ups, self.norms):
      h = jax.nn.relu(norm(up(h)))
    return jnp.tanh(self.out(h))


class VideoOutput(NamedTuple):
  frames_BxTxHxWx3: jax.Array  # in [-1, 1]
  frame_latents_BxTxF: jax.Array  # z1^t, G0's output


class VideoGenerator(nnx.Module):
  """(z0, class) -> a clip of ``num_frames`` frames: G0's latents, G1 on every frame."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *, z_dim: int = 100,
               frame_dim: int = 100, temporal_base_channels: int = 64,
               base_channels: int = 32, wscale: float = 0.01, rngs: nnx.Rngs):
    self.num_frames, self.num_classes = num_frames, num_classes
    self.temporal = TemporalGenerator(z_dim + num_classes, num_frames, frame_dim,
                                      temporal_base_channels, rngs)
    self.image = ImageGenerator(z_dim + num_classes, frame_dim, image_size, base_channels,
                                wscale, rngs)

  def __call__(self, z0_BxZ: jax.Array, label_B: jax.Array) -> VideoOutput:
    """The image generator sees all B x T frames at once (its batch statistics while training
    are over every frame of every clip, as the reference's); z0 and the class are the same for
    every frame of a clip."""
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=z0_BxZ.dtype)
    slow = jnp.concatenate([z0_BxZ, onehot], axis=-1)
    fast = self.temporal(slow)
    b, t, f = fast.shape
    slow_frames = jnp.broadcast_to(slow[:, None], (b, t, slow.shape[-1])).reshape(b * t, -1)
    frames = self.image(slow_frames, fast.reshape(b * t, f))
    return VideoOutput(frames.reshape(b, t, *frames.shape[1:]), fast)


class CriticNorm(nnx.Module):
  """Batch norm as the reference's critic uses it: batch statistics (biased variance, eps 2e-5),
  a scale and no bias (``use_beta=False``), and a running average of the unbiased batch variance
  (``running_var``, decay 0.9, from 1) for singular value clipping; not updated when frozen."""

  def __init__(self, num_features: int):
    self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
    self.running_var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
    self.use_running_average = False

  def set_view(self, use_running_average: bool | None = None):
    """``nnx.view(..., use_running_average=True)`` (``frozen``): leave ``running_var`` alone."""
    if use_running_average is not None:
      self.use_running_average = use_running_average

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x32, axis=axes)
    var = jnp.mean(jnp.square(x32 - mean), axis=axes)
    if not self.use_running_average:
      m = x32.size // x32.shape[-1]
      unbiased = jax.lax.stop_gradient(var) * (m / max(m - 1, 1))
      self.running_var.set_value(BN_DECAY * self.running_var[...] + (1 - BN_DECAY) * unbiased)
    y = (x32 - mean) * jax.lax.rsqrt(var + BN_EPS) * self.scale[...]
    return y.astype(x.dtype)


class VideoCritic(nnx.Module):
  """D(clip (B, T, H, W, 3)) -> ``VideoCriticOutput`` (score, class logits); see the module
  docstring. ``key`` is accepted for the shared recipe's calls and unused (no instance noise)."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *,
               base_channels: int = 64, num_layers: int = 4, rngs: nnx.Rngs):
    frames, side = critic_head_extent(num_frames, image_size, num_layers)
    convs, norms, c_in = [], [], 3
    for i in range(num_layers):
      c_out = base_channels * 2 ** i
      convs.append(conv3d.Conv3d(c_in, c_out, kernel_init=lecun_normal(), rngs=rngs))
      norms.append(CriticNorm(c_out) if i else None)
      c_in = c_out
    self.convs, self.norms = nnx.List(convs), nnx.List(norms)
    self.head = conv3d.Conv3d(c_in, 1 + num_classes, kernel=(frames, side, side),
                              whole=True, kernel_init=lecun_normal(), rngs=rngs)

  def __call__(self, video_BxTxHxWx3: jax.Array, key: jax.Array | None = None
               ) -> VideoCriticOutput:
    del key
    h = video_BxTxHxWx3
    for conv, norm in zip(self.convs, self.norms):
      h = conv(h)
      if norm is not None:
        h = norm(h)
      h = jax.nn.leaky_relu(h, LEAKY_SLOPE)
    out = self.head(h)  # (B, 1 + K)
    return VideoCriticOutput(out[:, 0], out[:, 1:])

