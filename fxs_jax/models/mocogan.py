"""MoCoGAN (Tulyakov et al., CVPR 2018): a video generator with its latent split into a content
code fixed over the clip and a recurrent motion path, an image and a video discriminator.

Topology after the official PyTorch code (``sergeytulyakov/mocogan``, ``src/models.py``), in NHWC
/ NTHWC:

* :class:`VideoGenerator`: ``z_C ~ N(0, I)`` (``content_dim``, the same for every frame), the
  class one-hot ``z_A`` (the categorical variant), and the motion codes ``z_M(t) = h_t`` of a GRU
  cell (``torch.nn.GRUCell(motion_dim, motion_dim)``: its gates, its two biases, its
  U(-1/sqrt(M), 1/sqrt(M)) initialisation) run from ``h_0 ~ N(0, I)`` on per-frame noise
  ``e_t ~ N(0, I)``, ``t = 1..T`` (``h_0`` itself is not a frame). Each frame is the DCGAN image
  generator of ``[z_C, z_A, z_M(t)]`` (as a 1x1 map): a 4x4 transposed conv to 4x4 px, then 4x4
  stride-2 transposed convs halving the channels up to ``image_size``, batch norm + ReLU after
  each but the last, which has tanh; no biases. At 64 px: 8 ngf -> 4 -> 2 -> 1 -> 3 channels.
* :class:`ImageCritic` (``PatchImageDiscriminator``): 4x4 stride-2 convs without bias, channels
  doubling, batch norm after all but the first, LeakyReLU(0.2); the last conv (to one channel,
  4x4 stride 2) gives a patch map of logits (4x4 at 64 px with 4 layers).
* :class:`VideoCritic` (``CategoricalVideoDiscriminator``): 3-D convs with 4x4x4 kernels, stride
  (1, 2, 2), padding (0, 1, 1), no bias, channels doubling, batch norm after all but the first,
  LeakyReLU(0.2); a head conv (no bias) to ``1 + num_classes`` whose kernel covers the remaining
  (time, height, width) extent: the real/fake logit and the class logits. At the reference's 16
  frames, 64 px and 4 layers the remaining extent is 4x4x4, the official head's kernel.
* Instance noise (the official ``Noise`` module, ``--use_noise --noise_sigma``): N(0, sigma^2)
  added to the input of every conv of the image critic and of every conv but the head of the
  video critic, when the call is given a key.

The critics' batch norms always normalise with the batch's own statistics and keep no running
averages (:class:`BatchStatNorm`): the reference uses its discriminators in training mode only,
also inside the generator's update, and separate calls on real and fake batches normalise each
batch on its own. The generator's batch norms (``nnx.BatchNorm`` through
``fxs_jax.nn.blocks.ConvNormAct``) use batch statistics while training and their running averages
once viewed frozen (``fxs_jax.nn.layers.frozen``): samples, evaluation and predictions, so that a
video does not depend on the others in its batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.conv3d import Conv3d
from fxs_jax.nn.layers import Conv2d

LEAKY_SLOPE = 0.2
TIME_KERNEL = 4  # the video critic's temporal kernel (stride 1, no temporal padding)


def num_up_layers(image_size: int) -> int:
  """The generator's stride-2 transposed convs after the 4x4 start: log2(image_size / 4)."""
  n = int(round(math.log2(image_size))) - 2
  if image_size < 8 or 2 ** (n + 2) != image_size:
    raise ValueError(f"image_size must be a power of two >= 8, got {image_size}.")
  return n


def video_head_extent(num_frames: int, image_size: int, num_layers: int) -> tuple[int, int]:
  """(frames, side) left for the video critic's head after ``num_layers`` 3-D convs."""
  frames = num_frames - num_layers * (TIME_KERNEL - 1)
  if num_layers < 1 or frames < 1 or image_size % 2 ** num_layers:
    raise ValueError(f"the video critic's {num_layers} 3-D convs (4 frames each, stride-2 in "
                     f"space) need num_frames >= {3 * num_layers + 1} and image_size divisible "
                     f"by {2 ** max(num_layers, 0)}; got {num_frames} frames of {image_size} px.")
  return frames, image_size // 2 ** num_layers


def add_noise(x: jax.Array, sigma: float, key: jax.Array | None) -> jax.Array:
  """``x + sigma * N(0, 1)`` (the official ``Noise`` module); ``x`` itself without a key."""
  if key is None or sigma <= 0:
    return x
  return x + (sigma * jax.random.normal(key, x.shape, jnp.float32)).astype(x.dtype)


class GRUCell(nnx.Module):
  """``torch.nn.GRUCell(input_size, hidden_size)``: gates in the order (reset, update, new),
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``; every weight
  and bias drawn from U(-1/sqrt(hidden), 1/sqrt(hidden)) as PyTorch does."""

  def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs):
    bound = 1.0 / math.sqrt(hidden_size)

    def uniform(shape):
      return nnx.Param(jax.random.uniform(rngs.params(), shape, jnp.float32, -bound, bound))

    self.input_kernel = uniform((input_size, 3 * hidden_size))
    self.input_bias = uniform((3 * hidden_size,))
    self.hidden_kernel = uniform((hidden_size, 3 * hidden_size))
    self.hidden_bias = uniform((3 * hidden_size,))

  def __call__(self, x_BxI: jax.Array, h_BxH: jax.Array) -> jax.Array:
    gi = x_BxI @ self.input_kernel[...] + self.input_bias[...]
    gh = h_BxH @ self.hidden_kernel[...] + self.hidden_bias[...]
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * h_n)
    return (1.0 - z) * n + z * h_BxH


class VideoOutput(NamedTuple):
  frames_BxTxHxWx3: jax.Array  # in [-1, 1]
  motion_BxTxM: jax.Array  # z_M(t) = h_t, t = 1..T
  latents_BxTxZ: jax.Array  # [z_C, z_A, z_M(t)] per frame


class VideoGenerator(nnx.Module):
  """(content, h_0, per-frame motion noise, class) -> a clip; see the module docstring."""

  def __init__(self, image_size: int, num_classes: int, *, content_dim: int = 50,
               motion_dim: int = 10, base_channels: int = 64, rngs: nnx.Rngs):
    num_up = num_up_layers(image_size)
    self.image_size, self.num_classes = image_size, num_classes
    self.content_dim, self.motion_dim = content_dim, motion_dim
    self.latent_dim = content_dim + num_classes + motion_dim
    self.recurrent = GRUCell(motion_dim, motion_dim, rngs=rngs)
    channels = [base_channels * 2 ** (num_up - 1 - i) for i in range(num_up)]
    layers = [ConvNormAct(self.latent_dim, channels[0], 4, 1, 0, norm="batch", activation="relu",
                          use_bias=False, transpose=True, rngs=rngs)]
    layers += [ConvNormAct(c_in, c_out, 4, 2, 1, norm="batch", activation="relu", use_bias=False,
                           transpose=True, rngs=rngs)
               for c_in, c_out in zip(channels[:-1], channels[1:])]
    layers.append(ConvNormAct(channels[-1], 3, 4, 2, 1, norm="none", activation="tanh",
                              use_bias=False, transpose=True, rngs=rngs))
    self.image_generator = nnx.List(layers)

  def motion(self, h0_BxM: jax.Array, noise_BxTxM: jax.Array) -> jax.Array:
    """z_M(t) = h_t = GRU(e_t, h_{t-1}) for t = 1..T, (B, T, M)."""
    h, codes = h0_BxM, []
    for t in range(noise_BxTxM.shape[1]):
      h = self.recurrent(noise_BxTxM[:, t], h)
      codes.append(h)
    return jnp.stack(codes, axis=1)

  def latents(self, content_BxC: jax.Array, label_B: jax.Array, motion_BxTxM: jax.Array
              ) -> jax.Array:
    """Per-frame latents (B, T, Z): the content and class repeated over time, then z_M(t)."""
    b, t = motion_BxTxM.shape[:2]
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=motion_BxTxM.dtype)
    fixed = jnp.concatenate([content_BxC.astype(motion_BxTxM.dtype), onehot], axis=-1)
    return jnp.concatenate([jnp.broadcast_to(fixed[:, None], (b, t, fixed.shape[-1])),
                            motion_BxTxM], axis=-1)

  def render(self, latents_NxZ: jax.Array) -> jax.Array:
    """The image generator: N latents -> N images (N, H, W, 3) in [-1, 1]."""
    h = latents_NxZ.reshape(latents_NxZ.shape[0], 1, 1, -1)
    for layer in self.image_generator:
      h = layer(h)
    return h

  def __call__(self, content_BxC: jax.Array, h0_BxM: jax.Array, noise_BxTxM: jax.Array,
               label_B: jax.Array) -> VideoOutput:
    """A clip of T = ``noise.shape[1]`` frames (the image generator sees all B x T at once, so
    its batch statistics while training are over every frame of every clip, as the reference's)."""
    motion = self.motion(h0_BxM, noise_BxTxM)
    z = self.latents(content_BxC, label_B, motion)
    b, t = z.shape[:2]
    frames = self.render(z.reshape(b * t, -1))
    return VideoOutput(frames.reshape(b, t, *frames.shape[1:]), motion, z)

  def images(self, content_BxC: jax.Array, h0_BxM: jax.Array, noise_BxTxM: jax.Array,
             label_B: jax.Array, frame_B: jax.Array) -> jax.Array:
    """Frame ``frame_B[i]`` of clip i alone (B, H, W, 3): the image critic's fakes, one frame of
    each of B independent clips (the reference's ``sample_images``: random rows of many clips'
    latents), the image generator run on those B latents only."""
    motion = self.motion(h0_BxM, noise_BxTxM)
    z = self.latents(content_BxC, label_B, motion)
    return self.render(z[jnp.arange(z.shape[0]), frame_B])


class BatchStatNorm(nnx.Module):
  """Batch norm as ``torch.nn.BatchNorm2d/3d`` normalises in training mode: per channel over the
  batch and every spatial (and temporal) position, biased variance, eps 1e-5, affine (scale 1,
  bias 0 at the start). No running averages: see the module docstring."""

  def __init__(self, num_features: int, eps: float = 1e-5):
    self.eps = eps
    self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x32, axis=axes)
    var = jnp.mean(jnp.square(x32 - mean), axis=axes)
    y = (x32 - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]
    return y.astype(x.dtype)


def conv2d(in_channels: int, out_channels: int, rngs: nnx.Rngs) -> Conv2d:
  """4x4 stride-2 conv, padding 1, no bias (``fxs_jax.nn.layers.Conv2d``: N(0, 0.02) kernel)."""
  return Conv2d(in_channels, out_channels, 4, 2, 1, use_bias=False, rngs=rngs)


def conv3d(in_channels: int, out_channels: int, rngs: nnx.Rngs) -> Conv3d:
  """``torch.nn.Conv3d(in, out, 4, stride=(1, 2, 2), padding=(0, 1, 1), bias=False)`` in
  NTHWC, N(0, 0.02) kernel (time, height, width, in, out), as one matmul
  (``fxs_jax.nn.conv3d``: XLA:CPU differentiates a strided 3-D ``lax.conv`` far slower)."""
  return Conv3d(in_channels, out_channels, kernel=(TIME_KERNEL, 4, 4), strides=(1, 2, 2),
                padding=(0, 1, 1), use_bias=False, rngs=rngs)


class _ConvStack(nnx.Module):
  """Strided convs (``make_conv(c_in, c_out, rngs)``), channels doubling from
  ``base_channels``, batch norm after all but the first, LeakyReLU(0.2); instance noise before
  each conv when called with a key."""

  def __init__(self, make_conv, in_channels: int, base_channels: int, num_layers: int,
               noise_sigma: float, rngs: nnx.Rngs):
    convs, norms, c_in = [], [], in_channels
    for i in range(num_layers):
      c_out = base_channels * 2 ** i
      convs.append(make_conv(c_in, c_out, rngs))
      norms.append(BatchStatNorm(c_out) if i else None)
      c_in = c_out
    self.convs, self.norms = nnx.List(convs), nnx.List(norms)
    self.out_channels, self.noise_sigma = c_in, noise_sigma

  def __call__(self, x: jax.Array, key: jax.Array | None) -> jax.Array:
    keys = [None] * len(self.convs) if key is None else list(jax.random.split(key, len(self.convs)))
    for conv, norm, k in zip(self.convs, self.norms, keys):
      x = conv(add_noise(x, self.noise_sigma, k))
      if norm is not None:
        x = norm(x)
      x = jax.nn.leaky_relu(x, LEAKY_SLOPE)
    return x


class ImageCritic(nnx.Module):
  """D_I(frame (B, H, W, 3)) -> patch logits (B, h, w): ``num_layers - 1`` conv blocks then a
  4x4 stride-2 conv to one channel (instance noise before it too, as the reference's)."""

  def __init__(self, image_size: int, *, base_channels: int = 64, num_layers: int = 4,
               noise_sigma: float = 0.0, rngs: nnx.Rngs):
    if num_layers < 2 or image_size % 2 ** num_layers:
      raise ValueError(f"the image critic's {num_layers} stride-2 convs need num_layers >= 2 "
                       f"and image_size divisible by {2 ** num_layers}, got {image_size} px.")
    self.trunk = _ConvStack(conv2d, 3, base_channels, num_layers - 1, noise_sigma, rngs)
    self.head = conv2d(self.trunk.out_channels, 1, rngs)
    self.noise_sigma = noise_sigma

  def __call__(self, image_BxHxWx3: jax.Array, key: jax.Array | None = None) -> jax.Array:
    k_trunk, k_head = (None, None) if key is None else jax.random.split(key)
    h = self.trunk(image_BxHxWx3, k_trunk)
    return self.head(add_noise(h, self.noise_sigma, k_head))[..., 0]


class VideoCriticOutput(NamedTuple):
  logit_B: jax.Array  # real/fake
  class_logits_BxK: jax.Array


class VideoOnlyCritic(nnx.Module):
  """The trainer's critic module of a baseline with a video critic alone (VGAN, TGAN):
  ``video``, as the noise-to-video recipes call it."""

  def __init__(self, video: nnx.Module):
    self.video = video


class VideoCritic(nnx.Module):
  """D_V(clip (B, T, H, W, 3)) -> ``VideoCriticOutput``; see the module docstring."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *,
               base_channels: int = 64, num_layers: int = 4, noise_sigma: float = 0.0,
               rngs: nnx.Rngs):
    frames, side = video_head_extent(num_frames, image_size, num_layers)
    self.num_classes = num_classes
    self.trunk = _ConvStack(conv3d, 3, base_channels, num_layers, noise_sigma, rngs)
    self.head = Conv3d(self.trunk.out_channels, 1 + num_classes, kernel=(frames, side, side),
                       whole=True, use_bias=False, rngs=rngs)

  def __call__(self, video_BxTxHxWx3: jax.Array, key: jax.Array | None = None
               ) -> VideoCriticOutput:
    out = self.head(self.trunk(video_BxTxHxWx3, key))  # (B, 1 + K): the head covers the map
    return VideoCriticOutput(out[:, 0], out[:, 1:])


class Critic(nnx.Module):
  """The trainer's one critic module: ``image`` (D_I) and ``video`` (D_V), disjoint weights."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *,
               image_base_channels: int = 64, image_num_layers: int = 4,
               video_base_channels: int = 64, video_num_layers: int = 4,
               noise_sigma: float = 0.0, rngs: nnx.Rngs):
    self.image = ImageCritic(image_size, base_channels=image_base_channels,
                             num_layers=image_num_layers, noise_sigma=noise_sigma, rngs=rngs)
    self.video = VideoCritic(num_frames, image_size, num_classes,
                             base_channels=video_base_channels, num_layers=video_num_layers,
                             noise_sigma=noise_sigma, rngs=rngs)
