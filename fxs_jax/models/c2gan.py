"""C2GAN (Tang et al., ACM MM 2019, "Cycle In Cycle Generative Adversarial Networks for
Keypoint-Guided Image Generation"): the survey's C2GAN baseline of expression transfer.

The official code (``Ha0Tang/C2GAN``, ``models/c2gan_model.py``) builds, all from pix2pix's
blocks: an image generator G_I, a U-Net on [image, keypoint image] -> image; a keypoint
generator G_K, a U-Net of the same size on an image -> keypoint image; a PatchGAN D_I on
[input image, keypoint image, output image]; a PatchGAN D_K on [image, keypoint image].

Here (``fxs_jax.models.cgan_transfer``'s blocks): both generators are ``UNet`` (pix2pix's, down
to 1 x 1 px by default) and both critics ``TransferCritic`` (PatchGAN). The keypoint images are
``cgan_transfer.keypoint_image``'s (5 channels in [-1, 1], one per face part), where the official
code draws the landmarks as a 3-channel RGB figure; G_K ends in tanh on those channels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.models.cgan_transfer import TransferCritic
from fxs_jax.models.cgan_transfer import UNet
from fxs_jax.models.cgan_transfer import keypoint_image
from fxs_jax.nn import keypoints
from fxs_jax.nn.blocks import COLOURS
from fxs_jax.nn.blocks import colour_mask


class C2GANGenerator(nnx.Module):
  """G_I (``image_gen``) and G_K (``keypoint_gen``): everything ``fxs_jax.load`` restores.

  ``output``: ``"absolute"`` (the official code: G_I's tanh is the image) or ``"residual"``
  (``clip(input + 2 * tanh, -1, 1)``, G_I's last kernel zero at init: it starts as
  copy-the-input, as the cGAN transfer's ``:demo``).
  """

  def __init__(self, image_size: int, *, base_channels: int = 64,
               keypoint_base_channels: int = 64, num_down: int | None = None,
               upsample: str = "transpose", keypoint_kind: str = "heatmaps",
               sigma: float = 1.0, output: str = "absolute", rngs: nnx.Rngs):
    if output not in COLOURS:
      raise ValueError(f"Unknown C2GAN output {output!r}; expected one of {COLOURS}.")
    self.image_size, self.output = image_size, output
    self.keypoint_kind, self.sigma = keypoint_kind, sigma
    self.keypoint_channels = keypoints.num_channels(keypoint_kind)
    self.image_gen = UNet(3 + self.keypoint_channels, image_size, 3,
                          base_channels=base_channels, num_down=num_down, upsample=upsample,
                          rngs=rngs)
    self.keypoint_gen = UNet(3, image_size, self.keypoint_channels,
                             base_channels=keypoint_base_channels, num_down=num_down,
                             upsample=upsample, rngs=rngs)
    if output == "residual":
      kernel = self.image_gen.out_kernel()
      kernel.set_value(jnp.zeros_like(kernel[...]))

  def keypoint_image(self, landmarks_Bx68x2: jax.Array) -> jax.Array:
    """The keypoint image of a landmark set (B, H, W, C) in [-1, 1], as G_I, G_K and D_K see
    it."""
    return keypoint_image(landmarks_Bx68x2, self.image_size, self.keypoint_kind, self.sigma)

  def generate(self, image_BxHxWx3: jax.Array, keypoints_BxHxWxC: jax.Array) -> jax.Array:
    """G_I: ``image`` redrawn with the keypoints of ``keypoints``."""
    head = self.image_gen(jnp.concatenate([image_BxHxWx3, keypoints_BxHxWxC], axis=-1))
    return colour_mask(self.output, head, image_BxHxWx3)

  def keypoints_of(self, image_BxHxWx3: jax.Array) -> jax.Array:
    """G_K: the keypoint image (B, H, W, C) in [-1, 1] of a face."""
    return self.keypoint_gen(image_BxHxWx3)

  def __call__(self, image_BxHxWx3: jax.Array, keypoints_BxHxWxC: jax.Array) -> jax.Array:
    return self.generate(image_BxHxWx3, keypoints_BxHxWxC)


class C2GANCritic(nnx.Module):
  """D_I (``image_critic``) on (output image, [input image, keypoint image]) and D_K
  (``keypoint_critic``) on (image, keypoint image): PatchGANs (training only)."""

  def __init__(self, image_size: int, keypoint_channels: int, *, num_layers: int = 3,
               base_channels: int = 64, norm: str = "instance", rngs: nnx.Rngs):
    common = dict(num_layers=num_layers, base_channels=base_channels, norm=norm, rngs=rngs)
    self.image_critic = TransferCritic(3 + 3 + keypoint_channels, image_size, **common)
    self.keypoint_critic = TransferCritic(3 + keypoint_channels, image_size, **common)

  def judge_image(self, output_BxHxWx3: jax.Array, input_BxHxWx3: jax.Array,
                  keypoints_BxHxWxC: jax.Array) -> jax.Array:
    """D_I's patch map of ``output`` drawn from ``input`` with ``keypoints``."""
    return self.image_critic(output_BxHxWx3,
                             jnp.concatenate([input_BxHxWx3, keypoints_BxHxWxC], axis=-1))

  def judge_keypoints(self, image_BxHxWx3: jax.Array, keypoints_BxHxWxC: jax.Array
                      ) -> jax.Array:
    """D_K's patch map of the pair (image, its keypoint image)."""
    return self.keypoint_critic(image_BxHxWx3, keypoints_BxHxWxC)
