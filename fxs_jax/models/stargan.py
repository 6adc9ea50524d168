"""StarGAN (Choi et al., CVPR 2018): one generator for every target class, a PatchGAN critic
with a class head.

Topology, biases and norms follow the official PyTorch code (yunjey/stargan, ``model.py``):

* generator: the target's one-hot tiled over the pixels as extra input channels, conv7x7 ->
  two 4x4 stride-2 down blocks -> ``num_res_blocks`` residual blocks -> two up blocks ->
  conv7x7 -> tanh; instance norms (affine), ReLUs, no biases. It draws the whole face: no
  attention mask, no composition with the input (what GANimation and LGP-GAN add);
* critic: ``num_layers`` conv4x4 stride 2 with bias and LeakyReLU(0.01), no normalisation
  (WGAN-GP), a 3x3 real/fake map head and a class head whose kernel covers the final map, both
  without bias (``fxs_jax.nn.blocks.PatchCritic``).
"""

from __future__ import annotations

import jax
from flax import nnx

from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.nn.blocks import PatchCritic
from fxs_jax.nn.blocks import run_star_trunk
from fxs_jax.nn.blocks import star_trunk


class Generator(nnx.Module):
  """G(image, class vector) -> the edited image in [-1, 1]."""

  def __init__(self, image_size: int, num_classes: int = 8, base_channels: int = 64,
               num_res_blocks: int = 6, *, upsample: str = "transpose", rngs: nnx.Rngs):
    if image_size % 4:
      raise ValueError(f"image_size must be divisible by 4 (two stride-2 downsamplings), "
                       f"got {image_size}.")
    self.image_size = image_size
    self.num_classes = num_classes
    self.stem, self.down, self.bottleneck, self.up = star_trunk(
        3 + num_classes, base_channels, num_res_blocks, upsample, rngs=rngs)
    self.head = ConvNormAct(base_channels, 3, 7, 1, 3, norm="none", activation="tanh",
                            use_bias=False, rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array, target_BxK: jax.Array) -> jax.Array:
    """Edits ``img`` towards ``target`` (one-hot or soft class vectors, (B, num_classes))."""
    return self.head(run_star_trunk(self, img_BxHxWx3, target_BxK))


class Critic(nnx.Module):
  """D(image) -> ``CriticOutput(map, None, class logits)``."""

  def __init__(self, image_size: int, num_classes: int = 8, base_channels: int = 64,
               num_layers: int = 6, *, rngs: nnx.Rngs):
    self.patch = PatchCritic(3, image_size, num_layers=num_layers, base_channels=base_channels,
                             norm="none", negative_slope=0.01, num_classes=num_classes,
                             rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array) -> CriticOutput:
    return self.patch(img_BxHxWx3)
