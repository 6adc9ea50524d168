"""cGAN expression transfer (the survey's cGAN-P1) and its pix2pix baseline.

No code was published; this follows the paper's abstract and the survey (choices in the "paper vs
fxs_jax" table of ``docs/papers/cgan_transfer.md``):

* **Facial feature point fusion module** (``LandmarkFusion``): the source face's landmarks Ls and
  the target face's Lt are encoded (by convolutional encoders of their keypoint images, the
  abstract's "face key feature point images", or, ``encoder="coords"``, by MLPs on the 68 x 2
  coordinates); the two codes and Lt go into a decoder whose output is a *deviation* added to Lt:
  L_gen = Lt + deviation, the target's face wearing the source's expression. The deviation head
  starts at zero, so an untrained module returns Lt.
* **Expression transfer module** (``UNet``): a U-Net (strided 4x4 convs down, x2 up-sampling
  blocks up, skip connections, tanh) on the target image concatenated with J_gen, the keypoint
  image of L_gen (``fxs_jax.nn.keypoints``). pix2pix's U-Net with ``upsample="transpose"`` and
  the source image in place of J_gen is the baseline.
* **Critic**: a PatchGAN (``fxs_jax.nn.PatchCritic``) with spectral normalisation on the output
  concatenated with its condition.

Landmarks are (x, y) pixels; the networks see them scaled to [-1, 1] (``normalise``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn import keypoints
from fxs_jax.nn.blocks import COLOURS
from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.blocks import DownBlock
from fxs_jax.nn.blocks import PatchCritic
from fxs_jax.nn.blocks import colour_mask
from fxs_jax.nn.blocks import up_block
from fxs_jax.nn.init import gan_normal

ENCODERS = ("image", "coords")
NUM_LANDMARKS = 68


def normalise(landmarks_Bx68x2: jax.Array, size: int) -> jax.Array:
  """Pixel coordinates (centres at 0 .. size - 1) -> [-1, 1]."""
  return landmarks_Bx68x2 * (2.0 / (size - 1)) - 1.0


def denormalise(coords_Bx68x2: jax.Array, size: int) -> jax.Array:
  return (coords_Bx68x2 + 1.0) * ((size - 1) / 2.0)


def keypoint_image(landmarks_Bx68x2: jax.Array, size: int, kind: str, sigma: float
                   ) -> jax.Array:
  """J of a landmark set as the transfer networks and critics see it: the keypoint image
  (``fxs_jax.nn.keypoints``) scaled to [-1, 1], the range of the images beside it."""
  return 2.0 * keypoints.render_keypoints(landmarks_Bx68x2, size, kind, sigma) - 1.0


class UNet(nnx.Module):
  """pix2pix's U-Net generator, depth ``num_down`` (default: down to 1 x 1).

  Down: conv4x4 stride 2 (no norm on the first and the innermost, as pix2pix), LeakyReLU(0.2),
  channels doubling from ``base_channels`` up to 8x. Up: ``upsample`` blocks (instance norm, ReLU)
  on the previous up output concatenated with the mirror down output; the last block goes to
  ``out_channels`` with tanh and no norm. Instance norm stands in for pix2pix's batch norm (its
  batch size is 1, where the two agree; instance norm keeps it so at any batch size).
  """

  def __init__(self, in_channels: int, image_size: int, out_channels: int = 3, *,
               base_channels: int = 64, num_down: int | None = None, upsample: str = "resize",
               rngs: nnx.Rngs):
    depth = int(math.log2(image_size)) if num_down is None else num_down
    if depth < 2 or image_size % 2 ** depth:
      raise ValueError(f"image_size {image_size} must be divisible by 2**num_down = "
                       f"{2 ** depth} (num_down >= 2).")
    channels = [min(base_channels * 2 ** i, 8 * base_channels) for i in range(depth)]
    downs, c_in = [], in_channels
    for i, c in enumerate(channels):
      plain = i == 0 or i == depth - 1  # pix2pix: no norm on the outermost and innermost downs
      # No biases on the way down, as pix2pix with its default batch norm.
      downs.append(DownBlock(c_in, c, norm="none" if plain else "instance",
                             activation="leaky_relu", negative_slope=0.2, use_bias=False,
                             rngs=rngs))
      c_in = c
    self.down = nnx.List(downs)
    ups = []
    for i in reversed(range(1, depth)):  # up to the resolution of down output i - 1
      c_up_in = channels[i] if i == depth - 1 else 2 * channels[i]
      ups.append(up_block(upsample, c_up_in, channels[i - 1], rngs=rngs))
    self.up = nnx.List(ups)
    self.out = up_block(upsample, 2 * channels[0], out_channels, norm="none", activation="tanh",
                        use_bias=True, rngs=rngs)

  def out_kernel(self) -> nnx.Param:
    """The last (tanh) layer's kernel."""
    block = self.out.conv  # ConvNormAct of a resize block, or the transposed conv itself
    return block.conv.kernel if isinstance(block, ConvNormAct) else block.kernel

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    skips, h = [], x_BxHxWxC
    for block in self.down:
      h = block(h)
      skips.append(h)
    for block, skip in zip(self.up, reversed(skips[:-1])):
      h = jnp.concatenate([block(h), skip], axis=-1)
    return self.out(h)


class _ConvEncoder(nnx.Module):
  """Keypoint image -> code: stride-2 convs down to 4 x 4, then a linear layer."""

  def __init__(self, in_channels: int, image_size: int, code_dim: int, base_channels: int, *,
               rngs: nnx.Rngs):
    layers, c_in, size, c = [], in_channels, image_size, base_channels
    while size > 4:
      layers.append(DownBlock(c_in, c, norm="none", activation="leaky_relu",
                              negative_slope=0.2, use_bias=True, rngs=rngs))
      c_in, size, c = c, size // 2, min(2 * c, 8 * base_channels)
    self.trunk = nnx.List(layers)
    self.linear = nnx.Linear(c_in * size * size, code_dim, kernel_init=gan_normal(), rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    h = x_BxHxWxC
    for layer in self.trunk:
      h = layer(h)
    return jax.nn.leaky_relu(self.linear(h.reshape(h.shape[0], -1)), 0.2)


class _MLP(nnx.Module):
  def __init__(self, sizes: list[int], *, rngs: nnx.Rngs):
    self.layers = nnx.List([nnx.Linear(a, b, kernel_init=gan_normal(), rngs=rngs)
                            for a, b in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x: jax.Array) -> jax.Array:
    for layer in self.layers:
      x = jax.nn.leaky_relu(layer(x), 0.2)
    return x


class LandmarkFusion(nnx.Module):
  """(Ls, Lt) -> L_gen = Lt + deviation, in pixels (B, 68, 2).

  ``encoder="image"``: each landmark set is drawn as a keypoint image (``keypoint_kind``,
  ``sigma``) and encoded by its own conv encoder; ``"coords"``: by its own MLP on the normalised
  coordinates. Decoder: an MLP on [code_s, code_t, Lt] -> 136 numbers (zero-initialised last
  layer), the deviation in normalised units.
  """

  def __init__(self, image_size: int, *, encoder: str = "image", code_dim: int = 128,
               base_channels: int = 32, hidden: int = 256, keypoint_kind: str = "heatmaps",
               sigma: float = 1.0, rngs: nnx.Rngs):
    if encoder not in ENCODERS:
      raise ValueError(f"Unknown landmark encoder {encoder!r}; expected one of {ENCODERS}.")
    self.image_size, self.encoder = image_size, encoder
    self.keypoint_kind, self.sigma = keypoint_kind, sigma
    if encoder == "image":
      channels = keypoints.num_channels(keypoint_kind)
      self.encode_source = _ConvEncoder(channels, image_size, code_dim, base_channels, rngs=rngs)
      self.encode_target = _ConvEncoder(channels, image_size, code_dim, base_channels, rngs=rngs)
    else:
      self.encode_source = _MLP([2 * NUM_LANDMARKS, hidden, code_dim], rngs=rngs)
      self.encode_target = _MLP([2 * NUM_LANDMARKS, hidden, code_dim], rngs=rngs)
    self.decode = _MLP([2 * code_dim + 2 * NUM_LANDMARKS, hidden, hidden], rngs=rngs)
    self.deviation = nnx.Linear(hidden, 2 * NUM_LANDMARKS, kernel_init=nnx.initializers.zeros,
                                rngs=rngs)

  def _code(self, encode: nnx.Module, landmarks_Bx68x2: jax.Array) -> jax.Array:
    if self.encoder == "image":
      return encode(keypoints.render_keypoints(landmarks_Bx68x2, self.image_size,
                                               self.keypoint_kind, self.sigma))
    return encode(normalise(landmarks_Bx68x2, self.image_size).reshape(-1, 2 * NUM_LANDMARKS))

  def __call__(self, source_Bx68x2: jax.Array, target_Bx68x2: jax.Array) -> jax.Array:
    target_n = normalise(target_Bx68x2, self.image_size).reshape(-1, 2 * NUM_LANDMARKS)
    h = jnp.concatenate([self._code(self.encode_source, source_Bx68x2),
                         self._code(self.encode_target, target_Bx68x2), target_n], axis=-1)
    deviation = self.deviation(self.decode(h)).reshape(-1, NUM_LANDMARKS, 2)
    return denormalise(normalise(target_Bx68x2, self.image_size) + deviation, self.image_size)


class TransferCritic(nnx.Module):
  """PatchGAN on an image concatenated with its condition (J_gen, or pix2pix's source image)."""

  def __init__(self, in_channels: int, image_size: int, *, num_layers: int = 3,
               base_channels: int = 64, norm: str = "spectral", rngs: nnx.Rngs):
    self.patch = PatchCritic(in_channels, image_size, num_layers=num_layers,
                             base_channels=base_channels, norm=norm, negative_slope=0.2,
                             rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array, condition_BxHxWxC: jax.Array) -> jax.Array:
    return self.patch(jnp.concatenate([img_BxHxWx3, condition_BxHxWxC], axis=-1)).map_BxhxWx1


VARIANTS = ("cgan", "pix2pix", "keypoints")


class TransferOutput(NamedTuple):
  image_BxHxWx3: jax.Array  # the transferred face
  condition_BxHxWxC: jax.Array  # what the U-Net saw beside the target (J_gen, or the source)
  landmarks_Bx68x2: jax.Array | None  # L_gen (cGAN only)


class TransferGenerator(nnx.Module):
  """``variant="cgan"``: fusion module -> J_gen -> U-Net(target, J_gen). ``"pix2pix"``: the
  U-Net on (target, source image), no landmarks. ``"keypoints"`` (TextureGAN, the CGAN
  baseline): no fusion module, the U-Net on (target, J of ``source_lms`` as given, landmarks
  already on the target's face);
  the output's ``landmarks_Bx68x2`` is None (nothing is predicted).

  ``output``: ``"absolute"`` (pix2pix: the U-Net's tanh is the image) or ``"residual"`` (the
  image is ``clip(target + 2 * tanh, -1, 1)``, last kernel zero at init: the generator starts
  as copy-the-target; ``fxs_jax.nn.blocks.colour_mask``)."""

  def __init__(self, image_size: int, *, variant: str = "cgan", base_channels: int = 64,
               num_down: int | None = None, upsample: str = "resize",
               keypoint_kind: str = "heatmaps", sigma: float = 1.0, encoder: str = "image",
               fusion_channels: int = 32, output: str = "absolute", rngs: nnx.Rngs):
    if variant not in VARIANTS:
      raise ValueError(f"Unknown transfer variant {variant!r}; expected one of {VARIANTS}.")
    if output not in COLOURS:
      raise ValueError(f"Unknown transfer output {output!r}; expected one of {COLOURS}.")
    self.variant, self.image_size, self.output = variant, image_size, output
    self.keypoint_kind, self.sigma = keypoint_kind, sigma
    self.fusion = (LandmarkFusion(image_size, encoder=encoder, base_channels=fusion_channels,
                                  keypoint_kind=keypoint_kind, sigma=sigma, rngs=rngs)
                   if variant == "cgan" else None)
    self.condition_channels = (3 if variant == "pix2pix"
                               else keypoints.num_channels(keypoint_kind))
    self.unet = UNet(3 + self.condition_channels, image_size, base_channels=base_channels,
                     num_down=num_down, upsample=upsample, rngs=rngs)
    if output == "residual":  # starts as copy-the-target
      kernel = self.unet.out_kernel()
      kernel.set_value(jnp.zeros_like(kernel[...]))

  def keypoint_image(self, landmarks_Bx68x2: jax.Array) -> jax.Array:
    """J of a landmark set, as the U-Net and the critic see it (values in [-1, 1])."""
    return keypoint_image(landmarks_Bx68x2, self.image_size, self.keypoint_kind, self.sigma)

  def __call__(self, source_BxHxWx3: jax.Array, source_lms_Bx68x2: jax.Array | None,
               target_BxHxWx3: jax.Array, target_lms_Bx68x2: jax.Array | None
               ) -> TransferOutput:
    if self.variant == "pix2pix":
      condition, landmarks = source_BxHxWx3, None
    elif self.variant == "keypoints":
      condition, landmarks = self.keypoint_image(source_lms_Bx68x2), None
    else:
      landmarks = self.fusion(source_lms_Bx68x2, target_lms_Bx68x2)
      condition = self.keypoint_image(landmarks)
    head = self.unet(jnp.concatenate([target_BxHxWx3, condition], axis=-1))
    return TransferOutput(colour_mask(self.output, head, target_BxHxWx3), condition, landmarks)
