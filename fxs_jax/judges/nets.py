"""The independent evaluator networks: an AU regressor and an expression classifier.

They judge a GAN's outputs and are NOT the GAN's own critic: the project trains them itself
(``fxs_jax.judges.training``) on SynthFaces' exact labels (17 AU intensities on the 0-5 scale,
8 emotions). Both are the same small CNN: stride-2 conv blocks with LeakyReLU (instance norm in
the middle ones) down to a 4x4 map, then a dense head on the flattened map (default: SynthFaces
is aligned, so where a feature fires says which AU it is) or on its global average.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from fxs_jax.facs import AU_MAX
from fxs_jax.facs import NUM_AUS
from fxs_jax.facs import NUM_EMOTIONS
from fxs_jax.nn import DownBlock

KINDS = ("au_regressor", "expression_classifier")
POOLS = ("average", "flatten")
FINAL_MAP_SIZE = 4  # num_blocks=0 picks the depth that leaves a 4x4 feature map


def auto_num_blocks(image_size: int) -> int:
  """Stride-2 blocks that take ``image_size`` down to a 4x4 map (4 at 64 px, 5 at 128 px)."""
  return max(int(round(math.log2(image_size / FINAL_MAP_SIZE))), 1)


class EvaluatorCNN(nnx.Module):
  """Image in [-1, 1] (B, H, W, 3) -> (B, num_outputs) raw head outputs.

  Conv4x4/2 blocks with channels doubling from ``base_channels`` up to ``max_channels``, then
  ``pool``: "flatten" (dense head on the whole final map) or "average" (global average). The first
  block sees raw pixels and has no norm (as pix2pix); the last has none either, because instance
  norm right before a global average pooling would pin every channel's spatial mean to its bias and
  the pooling would then throw nearly everything away.
  """

  def __init__(self, image_size: int, num_outputs: int, *, base_channels: int = 32,
               max_channels: int = 256, num_blocks: int = 0, norm: str = "instance",
               negative_slope: float = 0.2, pool: str = "average", rngs: nnx.Rngs):
    if pool not in POOLS:
      raise ValueError(f"Unknown pool {pool!r}; expected one of {POOLS}.")
    num_blocks = num_blocks or auto_num_blocks(image_size)
    if image_size % 2 ** num_blocks:
      raise ValueError(f"image_size {image_size} is not divisible by 2**num_blocks "
                       f"= {2 ** num_blocks}.")
    blocks, channels_in, channels = [], 3, base_channels
    for i in range(num_blocks):
      block_norm = norm if 0 < i < num_blocks - 1 else "none"
      blocks.append(DownBlock(channels_in, channels, norm=block_norm, activation="leaky_relu",
                              negative_slope=negative_slope, rngs=rngs))
      channels_in, channels = channels, min(2 * channels, max_channels)
    self.image_size, self.pool = image_size, pool
    self.trunk = nnx.List(blocks)
    features = channels_in * (1 if pool == "average" else (image_size // 2 ** num_blocks) ** 2)
    self.head = nnx.Linear(features, num_outputs, rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    return self.head(self.features(img_BxHxWx3))

  def features(self, img_BxHxWx3: jax.Array) -> jax.Array:
    """(B, F) what the head reads: the pooled (or flattened) final feature map."""
    if img_BxHxWx3.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"Expected {self.image_size}x{self.image_size} images, got "
                       f"{img_BxHxWx3.shape[1]}x{img_BxHxWx3.shape[2]}: evaluators must be "
                       "trained at the GAN's image size.")
    h = img_BxHxWx3
    for block in self.trunk:
      h = block(h)
    if self.pool == "average":
      return jnp.mean(h, axis=(1, 2))
    return h.reshape(h.shape[0], -1)


class AURegressor(EvaluatorCNN):
  """(B, H, W, 3) in [-1, 1] -> (B, 17) AU intensities on the 0-5 scale (5 * sigmoid)."""

  def __init__(self, image_size: int, rngs: nnx.Rngs, **kwargs):
    super().__init__(image_size, NUM_AUS, rngs=rngs, **kwargs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    return AU_MAX * jax.nn.sigmoid(super().__call__(img_BxHxWx3))


class ExpressionClassifier(EvaluatorCNN):
  """(B, H, W, 3) in [-1, 1] -> (B, 8) logits over SynthFaces / RaFD's 8 emotions."""

  def __init__(self, image_size: int, rngs: nnx.Rngs, **kwargs):
    super().__init__(image_size, NUM_EMOTIONS, rngs=rngs, **kwargs)


def build(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> EvaluatorCNN:
  """The evaluator named by ``config.model_name`` with the architecture in ``config.model``."""
  m = config.model
  cls = {"au_regressor": AURegressor, "expression_classifier": ExpressionClassifier}.get(
      config.model_name)
  if cls is None:
    raise ValueError(f"Unknown evaluator {config.model_name!r}; expected one of {KINDS}.")
  return cls(m.image_size, rngs, base_channels=m.base_channels, max_channels=m.max_channels,
             num_blocks=m.num_blocks, norm=m.norm, negative_slope=m.negative_slope, pool=m.pool)
