"""CycleGAN (Zhu et al., ICCV 2017): two ResNet generators, two PatchGAN discriminators.

Topology, biases and norms follow the official PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py`` with ``norm='instance'``, whose ``InstanceNorm2d`` has no learned scale and
bias, so that every conv keeps its bias):

* generator (``ResnetGenerator``): conv7x7 3 -> c, two 3x3 stride-2 convs (c -> 4c),
  ``num_res_blocks`` residual blocks, two x2 up-samplings back to c (``"transpose"``: 3x3 stride-2
  transposed convs with output padding 1, the official; ``"resize"``: nearest x2 then a 3x3 conv),
  conv7x7 -> 3, tanh; instance norms, ReLUs. The official code pads the 7x7 convs and the residual
  3x3 convs by reflection (``ReflectionPad2d``); fxs_jax's convs pad with zeros;
* discriminator (``NLayerDiscriminator``, the 70x70 PatchGAN at ``num_layers=3``): conv4x4
  stride 2 to c without norm, ``num_layers - 1`` conv4x4 stride 2 doubling the channels (at most
  8c) with norm, one conv4x4 stride 1 to ``min(2**num_layers, 8) c`` with norm, a conv4x4 stride 1
  to a 1-channel map; padding 1, biases, LeakyReLU(0.2). The map is the image side / 2**num_layers
  - 2 (14x14 at 128 px).

The trainer sees one generator and one critic: ``CycleGenerator`` holds ``g_ab`` (domain A -> B)
and ``g_ba``; ``CycleCritic`` holds ``d_a`` (judges domain A images) and ``d_b`` (the official
``D_A`` judges B: named here by the domain judged), and the history of fakes each is shown
(``ImagePool``, the official ``util/image_pool.py``), as critic state its own loss updates.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.blocks import ConvNormAct
from fxs_jax.nn.blocks import ResidualBlock
from fxs_jax.nn.blocks import ResizeConvUpBlock
from fxs_jax.nn.blocks import UPSAMPLINGS
from fxs_jax.nn.layers import Conv2d
from fxs_jax.nn.layers import conv_output_size

# The official instance norm: no learned scale and bias, so the convs before it keep theirs.
_NORM = dict(norm="instance", affine=False, use_bias=True)


def _up(kind: str, in_channels: int, out_channels: int, rngs: nnx.Rngs) -> nnx.Module:
  """x2 up-sampling -> instance norm -> ReLU."""
  if kind == "transpose":
    return ConvNormAct(in_channels, out_channels, 3, 2, 1, transpose=True, output_padding=1,
                       activation="relu", **_NORM, rngs=rngs)
  if kind == "resize":
    return ResizeConvUpBlock(in_channels, out_channels, 3, activation="relu", **_NORM,
                             rngs=rngs)
  raise ValueError(f"Unknown up-sampling {kind!r}; expected one of {UPSAMPLINGS}.")


class ResnetGenerator(nnx.Module):
  """G(image) -> the translated image in [-1, 1] (one direction)."""

  def __init__(self, image_size: int, base_channels: int = 64, num_res_blocks: int = 6, *,
               upsample: str = "transpose", rngs: nnx.Rngs):
    if image_size % 4:
      raise ValueError(f"image_size must be divisible by 4 (two stride-2 downsamplings), "
                       f"got {image_size}.")
    c = base_channels
    self.stem = ConvNormAct(3, c, 7, 1, 3, activation="relu", **_NORM, rngs=rngs)
    self.down = nnx.List([ConvNormAct(c, 2 * c, 3, 2, 1, activation="relu", **_NORM, rngs=rngs),
                          ConvNormAct(2 * c, 4 * c, 3, 2, 1, activation="relu", **_NORM,
                                      rngs=rngs)])
    self.bottleneck = nnx.List([ResidualBlock(4 * c, use_bias=True, affine=False, rngs=rngs)
                                for _ in range(num_res_blocks)])
    self.up = nnx.List([_up(upsample, 4 * c, 2 * c, rngs), _up(upsample, 2 * c, c, rngs)])
    self.head = ConvNormAct(c, 3, 7, 1, 3, norm="none", activation="tanh", use_bias=True,
                            rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    h = self.stem(img_BxHxWx3)
    for block in (*self.down, *self.bottleneck, *self.up):
      h = block(h)
    return self.head(h)


class PatchDiscriminator(nnx.Module):
  """D(image) -> (B, h, w, 1) real/fake scores of overlapping patches (LSGAN: no sigmoid)."""

  def __init__(self, image_size: int, base_channels: int = 64, num_layers: int = 3, *,
               rngs: nnx.Rngs):
    c, act = base_channels, dict(activation="leaky_relu", negative_slope=0.2)
    layers = [ConvNormAct(3, c, 4, 2, 1, norm="none", use_bias=True, **act, rngs=rngs)]
    size, mult = conv_output_size(image_size, 4, 2, 1), 1
    for n in range(1, num_layers + 1):
      stride = 2 if n < num_layers else 1
      prev, mult = mult, min(2 ** n, 8)
      layers.append(ConvNormAct(c * prev, c * mult, 4, stride, 1, **_NORM, **act, rngs=rngs))
      size = conv_output_size(size, 4, stride, 1)
    self.map_size = conv_output_size(size, 4, 1, 1)
    if self.map_size < 1:
      raise ValueError(f"image_size {image_size} is too small for a {num_layers}-layer PatchGAN: "
                       "its score map would be empty.")
    self.trunk = nnx.List(layers)
    self.head = Conv2d(c * mult, 1, 4, 1, 1, use_bias=True, rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    h = img_BxHxWx3
    for layer in self.trunk:
      h = layer(h)
    return self.head(h)


class CycleGenerator(nnx.Module):
  """The two generators: ``g_ab`` (domain A -> B) and ``g_ba`` (B -> A)."""

  def __init__(self, image_size: int, base_channels: int = 64, num_res_blocks: int = 6, *,
               upsample: str = "transpose", rngs: nnx.Rngs):
    self.g_ab = ResnetGenerator(image_size, base_channels, num_res_blocks, upsample=upsample,
                                rngs=rngs)
    self.g_ba = ResnetGenerator(image_size, base_channels, num_res_blocks, upsample=upsample,
                                rngs=rngs)


class FakeHistory(nnx.Variable):
  """Images a discriminator was shown before, and their count: critic state, not a parameter
  (no gradient, no optimiser), written by the critic's loss and checkpointed with the critic."""


def query_pool(pool_NxHxWxC: jax.Array, count: jax.Array, images_BxHxWxC: jax.Array,
               key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The official ``ImagePool.query``, image by image in batch order: while the pool holds fewer
  than N images, an image is stored (slot ``count``) and returned; once full, with probability
  1/2 it replaces a uniformly drawn stored image, which is returned instead, else it is returned
  and the pool is unchanged. Returns ``(images for the discriminator, pool, count)``."""
  size = pool_NxHxWxC.shape[0]

  def one(carry, inputs):
    pool, count = carry
    image, k = inputs
    k_swap, k_slot = jax.random.split(k)
    filling = count < size
    swap = jnp.logical_and(jnp.logical_not(filling), jax.random.uniform(k_swap) < 0.5)
    slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, size, count.dtype))
    old = pool[slot]
    pool = pool.at[slot].set(jnp.where(jnp.logical_or(filling, swap), image, old))
    return (pool, jnp.minimum(count + 1, size).astype(count.dtype)), jnp.where(swap, old, image)

  keys = jax.random.split(key, images_BxHxWxC.shape[0])
  (pool, count), out = jax.lax.scan(
      one, (pool_NxHxWxC, count), (images_BxHxWxC.astype(pool_NxHxWxC.dtype), keys))
  return out, pool, count


class ImagePool(nnx.Module):
  """A history of ``size`` generated images (``query_pool``), zeros until filled."""

  def __init__(self, size: int, image_size: int):
    self.images = FakeHistory(jnp.zeros((size, image_size, image_size, 3), jnp.float32))
    self.count = FakeHistory(jnp.zeros((), jnp.int32))

  def query(self, images_BxHxWx3: jax.Array, key: jax.Array) -> jax.Array:
    """What the discriminator is shown for ``images`` (the pool updated in place)."""
    out, pool, count = query_pool(self.images[...], self.count[...], images_BxHxWx3, key)
    self.images.set_value(pool)
    self.count.set_value(count)
    return out


class CycleCritic(nnx.Module):
  """The two discriminators (``d_a`` judges domain A images, ``d_b`` domain B) and, with
  ``pool_size`` > 0, the fakes each was shown (``pool_a``: G_BA's, ``pool_b``: G_AB's)."""

  def __init__(self, image_size: int, base_channels: int = 64, num_layers: int = 3,
               pool_size: int = 50, *, rngs: nnx.Rngs):
    self.d_a = PatchDiscriminator(image_size, base_channels, num_layers, rngs=rngs)
    self.d_b = PatchDiscriminator(image_size, base_channels, num_layers, rngs=rngs)
    self.pool_a = ImagePool(pool_size, image_size) if pool_size else None
    self.pool_b = ImagePool(pool_size, image_size) if pool_size else None
