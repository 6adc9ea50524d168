"""LGP-GAN (Xia et al., TCSVT 2022): local (eyes, mouth) and global generators and critics.

No code was published; this follows the survey's description (see ``fxs_jax/recipes/lgpgan.py``
for the list of choices). Every generator is GANimation's attention generator
(``fxs_jax.models.ganimation.Generator``) whose conditioning channels are the one-hot target
expression tiled over the pixels (StarGAN's conditioning), and outputs a colour mask C and an
attention mask A composed as ``A * input + (1 - A) * C``.

* Stage I: the eye and mouth crops (fixed size, located by the landmarks, see
  ``fxs_jax.nn.crops``) are edited by their local generator and pasted back into the input
  (hard-edged, or blended over ``paste_feather`` pixels at the crop's border).
* Stage II: the global generator edits that Stage I composite (only it: outside the crops it
  equals the input) into the final face; A = 1 keeps the Stage I pixel.

Critics: three PatchGANs (eyes, mouth, face) with an expression-classification head each.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from flax import nnx

from fxs_jax.models.ganimation import Generator
from fxs_jax.nn import crops
from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.nn.blocks import PatchCritic
from fxs_jax.nn.blocks import compose
from fxs_jax.nn.init import gan_normal

REGIONS = ("eyes", "mouth")


class LGPOutput(NamedTuple):
  """Everything one LGP-GAN pass produces (crops are (B, h, w, .) in their region's size)."""
  output_BxHxWx3: jax.Array  # the final face (Stage II)
  stage1_BxHxWx3: jax.Array  # the input with the Stage I crops pasted back
  attention_BxHxWx1: jax.Array  # Stage II attention
  color_BxHxWx3: jax.Array  # Stage II colour
  crops_in: dict  # region -> input crop
  crops_out: dict  # region -> Stage I output crop
  crop_attention: dict  # region -> Stage I attention
  offsets: dict  # region -> (B, 2) int32 (top, left)


class LGPGenerator(nnx.Module):
  """The three generators in one module (the trainer holds one generator and one critic)."""

  def __init__(self, image_size: int, crop_sizes: dict, num_classes: int = 8, *,
               base_channels: int = 64, num_res_blocks: int = 6,
               local_base_channels: int = 64, local_num_res_blocks: int = 6,
               upsample: str = "transpose", colour: str = "absolute", paste_feather: int = 0,
               rngs: nnx.Rngs):
    for region, (h, w) in crop_sizes.items():
      if h % 4 or w % 4 or h > image_size or w > image_size:
        raise ValueError(f"{region} crop {h}x{w} must be divisible by 4 (two stride-2 "
                         f"downsamplings) and fit in {image_size} px.")
    self.image_size = image_size
    self.num_classes = num_classes
    self.crop_sizes = {r: tuple(int(v) for v in crop_sizes[r]) for r in REGIONS}
    self.paste_feather = paste_feather
    self.eyes = Generator(self.crop_sizes["eyes"][0], num_classes, local_base_channels,
                          local_num_res_blocks, upsample=upsample, colour=colour, rngs=rngs)
    self.mouth = Generator(self.crop_sizes["mouth"][0], num_classes, local_base_channels,
                           local_num_res_blocks, upsample=upsample, colour=colour, rngs=rngs)
    self.face = Generator(image_size, num_classes, base_channels, num_res_blocks,
                          upsample=upsample, colour=colour, rngs=rngs)

  def offsets(self, landmarks_Bx68x2: jax.Array) -> dict:
    """region -> (B, 2) int32 crop offsets (top, left) from the landmarks."""
    size = (self.image_size, self.image_size)
    return {r: crops.region_offsets(landmarks_Bx68x2, r, self.crop_sizes[r], size)
            for r in REGIONS}

  def __call__(self, img_BxHxWx3: jax.Array, landmarks_Bx68x2: jax.Array,
               target_BxK: jax.Array) -> LGPOutput:
    """Edits ``img`` towards ``target`` (one-hot or soft class vectors, (B, num_classes))."""
    offsets = self.offsets(landmarks_Bx68x2)
    stage1 = img_BxHxWx3
    crops_in, crops_out, crop_attention = {}, {}, {}
    for region in REGIONS:
      patch = crops.crop(img_BxHxWx3, offsets[region], self.crop_sizes[region])
      color, attention = getattr(self, region)(patch, target_BxK)
      edited = compose(attention, color, patch)
      stage1 = crops.paste(stage1, edited, offsets[region], feather=self.paste_feather)
      crops_in[region], crops_out[region], crop_attention[region] = patch, edited, attention
    color, attention = self.face(stage1, target_BxK)
    return LGPOutput(compose(attention, color, stage1), stage1, attention, color, crops_in,
                     crops_out, crop_attention, offsets)


class RegionCritic(nnx.Module):
  """PatchGAN critic of an h x w region with an expression-classification head.

  The trunk and 3x3 real/fake map head are ``PatchCritic``'s (no normalisation: WGAN-GP); the
  class head is StarGAN's "conv whose kernel covers the whole final map", written as a linear
  layer on the flattened map because that map is rectangular (same function, same parameters).
  """

  def __init__(self, height: int, width: int, num_classes: int = 8, *, num_layers: int,
               base_channels: int = 64, rngs: nnx.Rngs):
    if height % 2 ** num_layers or width % 2 ** num_layers:
      raise ValueError(f"region {height}x{width} is not divisible by 2**num_layers "
                       f"= {2 ** num_layers}.")
    self.patch = PatchCritic(3, height, num_layers=num_layers, base_channels=base_channels,
                             norm="none", negative_slope=0.01, rngs=rngs)
    channels = base_channels * 2 ** (num_layers - 1)
    final = (height // 2 ** num_layers) * (width // 2 ** num_layers) * channels
    self.class_head = nnx.Linear(final, num_classes, use_bias=False, kernel_init=gan_normal(),
                                 rngs=rngs)

  def __call__(self, img_BxhxWx3: jax.Array) -> CriticOutput:
    h = img_BxhxWx3
    for layer in self.patch.trunk:
      h = layer(h)
    logits = self.class_head(h.reshape(h.shape[0], -1))
    return CriticOutput(self.patch.map_head(h), None, logits)


class LGPCritic(nnx.Module):
  """The three critics in one module: ``eyes`` and ``mouth`` (crops) and ``face`` (image)."""

  def __init__(self, image_size: int, crop_sizes: dict, num_classes: int = 8, *,
               base_channels: int = 64, num_layers: int = 6, local_base_channels: int = 64,
               local_num_layers: int = 4, rngs: nnx.Rngs):
    self.eyes = RegionCritic(*crop_sizes["eyes"], num_classes, num_layers=local_num_layers,
                             base_channels=local_base_channels, rngs=rngs)
    self.mouth = RegionCritic(*crop_sizes["mouth"], num_classes, num_layers=local_num_layers,
                              base_channels=local_base_channels, rngs=rngs)
    self.face = PatchCritic(3, image_size, num_layers=num_layers, base_channels=base_channels,
                            norm="none", negative_slope=0.01, num_classes=num_classes, rngs=rngs)

  def __call__(self, images: dict) -> dict:
    """``{"eyes", "mouth", "face"} -> image batch`` to ``name -> CriticOutput``."""
    return {name: getattr(self, name)(images[name]) for name in images}

