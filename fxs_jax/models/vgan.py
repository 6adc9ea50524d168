"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016, "Generating Videos with Scene Dynamics"): a
two-stream video generator (a moving foreground with its mask over a static background) and a
3-D convolutional discriminator.

Topology after the official Torch code (``cvondrick/videogan``, ``main.lua``), in NTHWC / NHWC,
with the class one-hot added to the noise (the categorical variant, as MoCoGAN's here):

* :class:`VideoGenerator`: ``z ~ N(0, I)`` (100-d) concatenated with the class one-hot, as a 1x1
  (x1) map, feeds two streams.

  - Foreground (``VolumetricFullConvolution``): a 3-D transposed conv to 8 ngf channels at
    ``T0 x 4 x 4``, then 4x4x4 transposed convs with stride 2 and padding 1 in time and space,
    halving the channels, each doubling the frames and the side, to ngf at half the clip's size;
    batch norm + ReLU after each. A last 4x4x4 stride-2 transposed conv gives four channels: the
    foreground video ``f`` (3, tanh) and the mask ``m`` (1, sigmoid); the reference has two
    convs from the same input, here fused into one (the same parameters, the same outputs).
  - Background (``SpatialFullConvolution``): the DCGAN image generator, a 4x4 transposed conv to
    8 ngf at 4x4 px, then 4x4 stride-2 transposed convs halving the channels, batch norm + ReLU,
    a last one to RGB with tanh: a still image ``b``.

  The clip is ``m * f + (1 - m) * b``, the background repeated over the frames. At 64 px there
  are four stride-2 layers after the first, so the clip has ``16 * T0`` frames: the reference's 32
  frames have ``T0 = 2`` (its ``2x4x4`` first kernel); SynthFaces' 16-frame clips have
  ``T0 = num_frames / 16 = 1`` (a 1x4x4 first kernel), and generally
  ``T0 = num_frames / 2**num_up_layers(image_size)``, which must be a whole number.
* :class:`FaceToVideoGenerator`: the future-from-a-still-image variant (``main_conditional.lua``):
  a 2-D encoder replaces z (4x4 stride-2 convs doubling the channels from ngf, 64 px -> 4 x 4,
  ReLU, batch norm (eps 1e-3) after all but the first), with the class one-hot added as
  constant channels of its 4 x 4 code. The foreground stream starts with a ``T0 x 1 x 1``
  transposed conv at the code's width (each code pixel spread over T0 frames), then the same
  stride-2 3-D transposed convs (halving the channels) and head; the background stream is 4x4
  stride-2 transposed convs from the code to RGB. At one ngf its widths are the noise
  generator's; the reference's conditional network is twice as wide (encoder 128 -> 1024,
  streams 1024 -> 128 at 64 px), i.e. ngf 128 here (``configs/vgan.py:from_face``).
* :class:`VideoCritic`: 4x4x4 convs with stride 2 and padding 1 in time and space, channels
  doubling from ndf (64 -> 512 in the reference's four), batch norm (eps 1e-3, the reference's)
  after all but the first, LeakyReLU(0.2); a head conv whose kernel covers the remaining (time,
  height, width) extent (the reference's 2x4x4 at 32 frames and 64 px, 1x4x4 at 16 frames) to
  ``1 + num_classes`` outputs: the real/fake logit and the class logits
  (``fxs_jax.models.mocogan.VideoCriticOutput``, as MoCoGAN's video critic). The reference's head
  has two outputs under a 2-way softmax cross-entropy (real, fake), which is the logistic loss of
  their difference: one logit here.

The 3-D convs are ``fxs_jax.nn.conv3d``'s matmul forms (XLA:CPU's own are one to two orders of
magnitude slower). Every conv has a bias and an N(0, 0.01) kernel, as the reference's ``weights_init`` (which also
draws the batch norms' scales from N(1, 0.02); here they start at 1). The critic's batch norms
normalise every call with its own batch (``fxs_jax.models.mocogan.BatchStatNorm``: the reference
runs its discriminator in training mode only); the generator's use batch statistics while
training and their running averages once viewed frozen (``fxs_jax.nn.layers.frozen``), so that
a sampled clip does not depend on the others in its batch.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.models.mocogan import LEAKY_SLOPE
from fxs_jax.models.mocogan import BatchStatNorm
from fxs_jax.models.mocogan import VideoCriticOutput
from fxs_jax.models.mocogan import num_up_layers
from fxs_jax.nn.conv3d import Conv3d
from fxs_jax.nn.conv3d import ConvTranspose3d
from fxs_jax.nn.init import gan_normal
from fxs_jax.nn.layers import Conv2d
from fxs_jax.nn.layers import ConvTranspose2d

INIT_STDDEV = 0.01  # the reference's weights_init: every conv kernel N(0, 0.01), biases 0
CRITIC_EPS = 1e-3  # VolumetricBatchNormalization(c, 1e-3) in the reference's discriminator


def first_frames(num_frames: int, image_size: int) -> int:
  """T0: the frames of the foreground stream's first map (the clip has T0 * 2**up frames)."""
  num_up = num_up_layers(image_size)
  scale = 2 ** num_up
  if num_frames < scale or num_frames % scale:
    raise ValueError(f"the foreground stream doubles the frames {num_up} times after its first "
                     f"layer at {image_size} px, so num_frames must be a multiple of {scale}; "
                     f"got {num_frames}.")
  return num_frames // scale


def critic_head_extent(num_frames: int, image_size: int, num_layers: int) -> tuple[int, int]:
  """(frames, side) left for the critic's head after ``num_layers`` stride-2 3-D convs."""
  scale = 2 ** max(num_layers, 0)
  if num_layers < 1 or num_frames % scale or image_size % scale:
    raise ValueError(f"the video critic's {num_layers} stride-2 3-D convs need num_layers >= 1 "
                     f"and num_frames and image_size divisible by {scale}; got {num_frames} "
                     f"frames of {image_size} px.")
  return num_frames // scale, image_size // scale


def batch_norm(channels: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
  """The generator's batch norm: ``nn.*BatchNormalization`` (momentum 0.1, eps 1e-5)."""
  return nnx.BatchNorm(channels, momentum=0.9, epsilon=1e-5, rngs=rngs)


class VideoOutput(NamedTuple):
  frames_BxTxHxWx3: jax.Array  # m * f + (1 - m) * b, in [-1, 1]
  foreground_BxTxHxWx3: jax.Array  # f, tanh
  mask_BxTxHxWx1: jax.Array  # m, sigmoid
  background_BxHxWx3: jax.Array  # b, tanh


def two_streams(gen, code) -> VideoOutput:
  """The clip ``m * f + (1 - m) * b`` of a generator's foreground (f, m) and background (b)
  streams, both fed ``code``; b is repeated over the frames."""
  f, m = gen.foreground(code)
  b = gen.background(code)
  return VideoOutput(m * f + (1.0 - m) * b[:, None], f, m, b)


class VideoGenerator(nnx.Module):
  """(z, class) -> a clip from a foreground stream, its mask and a background stream; see the
  module docstring."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *, z_dim: int = 100,
               base_channels: int = 64, rngs: nnx.Rngs):
    num_up = num_up_layers(image_size)
    t0 = first_frames(num_frames, image_size)
    self.num_frames, self.image_size, self.num_classes = num_frames, image_size, num_classes
    self.z_dim, self.latent_dim = z_dim, z_dim + num_classes
    channels = [base_channels * 2 ** (num_up - 1 - i) for i in range(num_up)]
    up = dict(stddev=INIT_STDDEV, rngs=rngs)
    convs = [ConvTranspose3d(self.latent_dim, channels[0], kernel=(t0, 4, 4), from_vector=True,
                             **up)]
    convs += [ConvTranspose3d(c_in, c_out, **up)
              for c_in, c_out in zip(channels[:-1], channels[1:])]
    self.foreground_convs = nnx.List(convs)
    self.foreground_norms = nnx.List([batch_norm(c, rngs) for c in channels])
    # f (3 channels, tanh) and m (1, sigmoid): the reference's two output convs side by side.
    self.foreground_head = ConvTranspose3d(channels[-1], 4, **up)
    background = dict(kernel_init=gan_normal(INIT_STDDEV), rngs=rngs)
    self.background_convs = nnx.List(
        [ConvTranspose2d(self.latent_dim, channels[0], 4, 1, 0, **background)]
        + [ConvTranspose2d(c_in, c_out, 4, 2, 1, **background)
           for c_in, c_out in zip(channels, channels[1:] + [3])])
    self.background_norms = nnx.List([batch_norm(c, rngs) for c in channels])

  def latents(self, z_BxZ: jax.Array, label_B: jax.Array) -> jax.Array:
    """``[z, one-hot class]`` (B, Z + K)."""
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=z_BxZ.dtype)
    return jnp.concatenate([z_BxZ, onehot], axis=-1)

  def foreground(self, latents_BxL: jax.Array) -> tuple[jax.Array, jax.Array]:
    """f (B, T, H, W, 3) in [-1, 1] and m (B, T, H, W, 1) in [0, 1]."""
    h = latents_BxL
    for conv, norm in zip(self.foreground_convs, self.foreground_norms):
      h = conv(h)
      h = jax.nn.relu(norm(h).astype(h.dtype))
    out = self.foreground_head(h)
    return jnp.tanh(out[..., :3]), jax.nn.sigmoid(out[..., 3:])

  def background(self, latents_BxL: jax.Array) -> jax.Array:
    """b (B, H, W, 3) in [-1, 1]: one still image per clip."""
    h = latents_BxL.reshape(latents_BxL.shape[0], 1, 1, -1)
    for conv, norm in zip(self.background_convs, self.background_norms):
      h = jax.nn.relu(norm(conv(h)).astype(h.dtype))
    return jnp.tanh(self.background_convs[-1](h))

  def __call__(self, z_BxZ: jax.Array, label_B: jax.Array) -> VideoOutput:
    return two_streams(self, self.latents(z_BxZ, label_B))


class FaceToVideoGenerator(nnx.Module):
  """(face (B, H, W, 3), class) -> a clip starting from that face: the encoder in place of z;
  see the module docstring."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *,
               base_channels: int = 64, rngs: nnx.Rngs):
    num_up = num_up_layers(image_size)
    t0 = first_frames(num_frames, image_size)
    self.num_frames, self.image_size, self.num_classes = num_frames, image_size, num_classes
    top = base_channels * 2 ** (num_up - 1)  # the noise generator's first width
    encoder = [base_channels * 2 ** i for i in range(num_up)]  # ngf .. top
    init = dict(kernel_init=gan_normal(INIT_STDDEV), rngs=rngs)
    self.encoder_convs = nnx.List([Conv2d(c_in, c_out, 4, 2, 1, **init)
                                   for c_in, c_out in zip([3] + encoder[:-1], encoder)])
    self.encoder_norms = nnx.List([nnx.BatchNorm(c, momentum=0.9, epsilon=CRITIC_EPS, rngs=rngs)
                                   for c in encoder[1:]])
    code = top + num_classes  # the code's channels and the class one-hot
    channels = [top // 2 ** i for i in range(num_up)]  # top .. top / 2**(num_up - 1)
    up = dict(stddev=INIT_STDDEV, rngs=rngs)
    # T0 x 1 x 1, stride 1: each code pixel spread over the first T0 frames (a matmul).
    self.time_kernel = nnx.Param(gan_normal(INIT_STDDEV)(rngs.params(), (t0, code, top)))
    self.time_bias = nnx.Param(jnp.zeros((top,), jnp.float32))
    self.foreground_convs = nnx.List([ConvTranspose3d(c_in, c_out, **up)
                                      for c_in, c_out in zip(channels[:-1], channels[1:])])
    self.foreground_norms = nnx.List([batch_norm(c, rngs) for c in channels])
    self.foreground_head = ConvTranspose3d(channels[-1], 4, **up)
    self.background_convs = nnx.List(
        [ConvTranspose2d(c_in, c_out, 4, 2, 1, **init)
         for c_in, c_out in zip([code] + channels[1:], channels[1:] + [3])])
    self.background_norms = nnx.List([batch_norm(c, rngs) for c in channels[1:]])

  def encode(self, face_BxHxWx3: jax.Array, label_B: jax.Array) -> jax.Array:
    """The face's code (B, 4, 4, top) and the class one-hot as constant channels."""
    h = jax.nn.relu(self.encoder_convs[0](face_BxHxWx3))
    for conv, norm in zip(self.encoder_convs[1:], self.encoder_norms):
      h = conv(h)
      h = jax.nn.relu(norm(h).astype(h.dtype))
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=h.dtype)
    tiled = jnp.broadcast_to(onehot[:, None, None], (*h.shape[:3], self.num_classes))
    return jnp.concatenate([h, tiled], axis=-1)

  def foreground(self, code_BxHxWxC: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = jnp.einsum("bhwc,tco->bthwo", code_BxHxWxC, self.time_kernel[...].astype(
        code_BxHxWxC.dtype)) + self.time_bias[...].astype(code_BxHxWxC.dtype)
    h = jax.nn.relu(self.foreground_norms[0](h).astype(h.dtype))
    for conv, norm in zip(self.foreground_convs, self.foreground_norms[1:]):
      h = conv(h)
      h = jax.nn.relu(norm(h).astype(h.dtype))
    out = self.foreground_head(h)
    return jnp.tanh(out[..., :3]), jax.nn.sigmoid(out[..., 3:])

  def background(self, code_BxHxWxC: jax.Array) -> jax.Array:
    h = code_BxHxWxC
    for conv, norm in zip(self.background_convs, self.background_norms):
      h = jax.nn.relu(norm(conv(h)).astype(h.dtype))
    return jnp.tanh(self.background_convs[-1](h))

  def __call__(self, face_BxHxWx3: jax.Array, label_B: jax.Array) -> VideoOutput:
    return two_streams(self, self.encode(face_BxHxWx3, label_B))


class VideoCritic(nnx.Module):
  """D(clip (B, T, H, W, 3)) -> ``VideoCriticOutput`` (logit, class logits); see the module
  docstring."""

  def __init__(self, num_frames: int, image_size: int, num_classes: int, *,
               base_channels: int = 64, num_layers: int = 4, rngs: nnx.Rngs):
    frames, side = critic_head_extent(num_frames, image_size, num_layers)
    convs, norms, c_in = [], [], 3
    for i in range(num_layers):
      c_out = base_channels * 2 ** i
      convs.append(Conv3d(c_in, c_out, stddev=INIT_STDDEV, rngs=rngs))
      norms.append(BatchStatNorm(c_out, eps=CRITIC_EPS) if i else None)
      c_in = c_out
    self.convs, self.norms = nnx.List(convs), nnx.List(norms)
    self.num_classes = num_classes
    self.head = Conv3d(c_in, 1 + num_classes, kernel=(frames, side, side), whole=True,
                       stddev=INIT_STDDEV, rngs=rngs)

  def __call__(self, video_BxTxHxWx3: jax.Array, key: jax.Array | None = None
               ) -> VideoCriticOutput:
    del key  # no instance noise in VGAN
    h = video_BxTxHxWx3
    for conv, norm in zip(self.convs, self.norms):
      h = conv(h)
      if norm is not None:
        h = norm(h)
      h = jax.nn.leaky_relu(h, LEAKY_SLOPE)
    out = self.head(h)  # (B, 1 + K): the head covers the remaining extent
    return VideoCriticOutput(out[:, 0], out[:, 1:])

