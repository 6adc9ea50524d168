"""GANimation (Pumarola et al., ECCV 2018): AU-conditioned generator and WGAN-GP critic.

Topology, biases and norms follow the official PyTorch code (albertpumarola/GANimation,
``networks/generator_wasserstein_gan.py`` and ``discriminator_wasserstein_gan.py``):

* generator convs carry no bias (each is followed by an InstanceNorm, or is a head);
  InstanceNorms are affine;
* critic trunk convs DO carry a bias (no normalisation follows them); both heads have none.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.blocks import COLOURS
from fxs_jax.nn.blocks import colour_mask
from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.blocks import fused_heads
from fxs_jax.nn.blocks import PatchCritic
from fxs_jax.nn.blocks import run_star_trunk
from fxs_jax.nn.blocks import star_trunk


class Generator(nnx.Module):
  """G(image, AUs) -> (colour C, attention A); compose with ``fxs_jax.nn.compose(A, C, image)``.

  Input: the image concatenated with the AU vector tiled over every pixel (3 + num_aus
  channels). conv7x7 -> 2 down blocks -> ``num_res_blocks`` residual blocks -> 2 up blocks
  -> two conv7x7 heads: colour (tanh, in [-1, 1]) and attention (sigmoid, in [0, 1]).
  ``upsample``: the up blocks' kind (``fxs_jax.nn.blocks.up_block``; the official code's is
  ``"transpose"``). ``colour``: how the colour head makes C (``fxs_jax.nn.blocks.colour_mask``;
  GANimation's is ``"absolute"``); a ``"residual"`` head starts at zero (the identity editor).
  """

  def __init__(self, image_size: int, num_aus: int = 17, base_channels: int = 64,
               num_res_blocks: int = 6, *, upsample: str = "transpose",
               colour: str = "absolute", rngs: nnx.Rngs):
    if image_size % 4:
      raise ValueError(f"image_size must be divisible by 4 (two stride-2 downsamplings), "
                       f"got {image_size}.")
    if colour not in COLOURS:
      raise ValueError(f"Unknown colour mask {colour!r}; expected one of {COLOURS}.")
    self.image_size = image_size
    self.num_aus = num_aus
    self.colour = colour
    c = base_channels
    self.stem, self.down, self.bottleneck, self.up = star_trunk(
        3 + num_aus, c, num_res_blocks, upsample, rngs=rngs)
    self.color_head = ConvNormAct(c, 3, 7, 1, 3, norm="none", activation="tanh",
                                  use_bias=False, rngs=rngs)
    self.attention_head = ConvNormAct(c, 1, 7, 1, 3, norm="none", activation="sigmoid",
                                      use_bias=False, rngs=rngs)
    if colour == "residual":
      self.color_head.conv.kernel.set_value(jnp.zeros_like(self.color_head.conv.kernel[...]))

  def __call__(self, img_BxHxWx3: jax.Array, aus_BxA: jax.Array):
    """Returns ``(color_BxHxWx3, attention_BxHxWx1)``."""
    h = run_star_trunk(self, img_BxHxWx3, aus_BxA)  # the AUs tiled as input channels
    color, attention = fused_heads(h, self.color_head, self.attention_head)
    return colour_mask(self.colour, color, img_BxHxWx3), attention


class Critic(nnx.Module):
  """D(image) -> (real/fake map, AU regression).

  ``num_layers`` conv4x4 stride 2 with LeakyReLU(0.01), channels doubling from
  ``base_channels`` (64 -> 2048 with 6 layers), no normalisation (WGAN-GP). The map head is a
  conv3x3 (2x2 map at 128 px); the AU head's kernel covers the whole ``image_size /
  2**num_layers`` feature map.
  """

  def __init__(self, image_size: int, num_aus: int = 17, base_channels: int = 64,
               num_layers: int = 6, *, rngs: nnx.Rngs):
    self.patch = PatchCritic(3, image_size, num_layers=num_layers, base_channels=base_channels,
                             norm="none", negative_slope=0.01, num_aus=num_aus, rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array):
    """Returns ``(map_BxhxWx1, aus_BxA)``."""
    out = self.patch(img_BxHxWx3)
    return out.map_BxhxWx1, out.aus_BxA
