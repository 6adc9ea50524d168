"""AttGAN (He et al., TIP 2019): an encoder-decoder generator conditioned on an attribute
vector, a critic with an adversarial and an attribute head.

Topology, biases, norms and activations follow the official TensorFlow code
(LynnHo/AttGAN-Tensorflow, ``module.py``, ``model_128``):

* generator: ``num_layers`` conv4x4 stride-2 encoder layers (c, 2c, ... capped at 1024) with
  batch norm and LeakyReLU(0.2), no biases. The decoder takes the last encoder map with the
  attribute vector tiled over its pixels as extra channels, then ``num_layers - 1`` x2
  up-sampling layers (the encoder's channels in reverse) with batch norm and ReLU, no biases,
  and a last up-sampling layer to 3 channels with a bias and tanh. After the first
  ``shortcut_layers`` of them the encoder map of the same size is concatenated (a U-Net skip),
  after the first ``inject_layers`` the tiled attribute vector again. It draws the whole face:
  no mask, no composition with the input;
* critic: ``num_layers`` conv4x4 stride 2 (c ... capped at 1024) with instance norm (every layer,
  the first too) and LeakyReLU(0.2), no biases; on the flattened map two heads, each a fully
  connected layer to ``fc_dim`` with LeakyReLU(0.2) then one to 1 (real/fake) or to K
  (attribute logits), all with biases.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.nn.blocks import DownBlock
from fxs_jax.nn.blocks import up_block
from fxs_jax.nn.init import gan_normal

MAX_CHANNELS = 1024  # the official MAX_DIM (64 * 16)
NEGATIVE_SLOPE = 0.2  # tf.nn.leaky_relu's default


def _widths(base_channels: int, num_layers: int) -> list[int]:
  """The encoder's (and critic's) channels, layer by layer."""
  return [min(base_channels * 2 ** i, MAX_CHANNELS) for i in range(num_layers)]


def _check_size(image_size: int, num_layers: int) -> None:
  if image_size % 2 ** num_layers:
    raise ValueError(f"image_size {image_size} is not divisible by 2**num_layers "
                     f"= {2 ** num_layers}.")


def _tile_concat(h_BxHxWxC: jax.Array, v_BxK: jax.Array) -> jax.Array:
  """``h`` with ``v`` tiled over its pixels as extra channels (after h's own)."""
  b, hh, ww, _ = h_BxHxWxC.shape
  tiled = jnp.broadcast_to(v_BxK[:, None, None, :], (b, hh, ww, v_BxK.shape[-1]))
  return jnp.concatenate([h_BxHxWxC, tiled.astype(h_BxHxWxC.dtype)], axis=-1)


class Generator(nnx.Module):
  """G(image, attribute vector) = Gdec(Genc(image), attributes), in [-1, 1].

  The attribute vector (B, num_classes) is what the decoder reads as given: the recipe scales a
  class vector to it (``(v * 2 - 1) * thres_int``). Batch norms use batch statistics unless the
  generator is viewed frozen (``fxs_jax.nn.layers.frozen``: running averages).
  """

  def __init__(self, image_size: int, num_classes: int = 8, base_channels: int = 64,
               num_layers: int = 5, shortcut_layers: int = 1, inject_layers: int = 1, *,
               upsample: str = "transpose", rngs: nnx.Rngs):
    _check_size(image_size, num_layers)
    self.image_size = image_size
    self.num_classes = num_classes
    # As the official code: at most one fewer than the decoder's layers.
    self.shortcut_layers = min(shortcut_layers, num_layers - 1)
    self.inject_layers = min(inject_layers, num_layers - 1)
    widths = _widths(base_channels, num_layers)
    self.encoder = nnx.List([
        DownBlock(c_in, c_out, norm="batch", activation="leaky_relu",
                  negative_slope=NEGATIVE_SLOPE, rngs=rngs)
        for c_in, c_out in zip([3] + widths[:-1], widths)])
    decoder, c_in = [], widths[-1] + num_classes
    for i in range(num_layers - 1):
      c_out = widths[num_layers - 1 - i]
      decoder.append(up_block(upsample, c_in, c_out, norm="batch", activation="relu", rngs=rngs))
      c_in = c_out
      if i < self.shortcut_layers:
        c_in += widths[num_layers - 2 - i]
      if i < self.inject_layers:
        c_in += num_classes
    decoder.append(up_block(upsample, c_in, 3, norm="none", activation="tanh", rngs=rngs))
    self.decoder = nnx.List(decoder)

  def encode(self, img_BxHxWx3: jax.Array) -> list[jax.Array]:
    """Every encoder layer's output, the bottleneck last."""
    zs, h = [], img_BxHxWx3
    for layer in self.encoder:
      h = layer(h)
      zs.append(h)
    return zs

  def decode(self, zs: list[jax.Array], attributes_BxK: jax.Array) -> jax.Array:
    """The image decoded from ``encode``'s maps with ``attributes`` (B, num_classes)."""
    n = len(self.decoder)
    h = _tile_concat(zs[-1], attributes_BxK)
    for i, layer in enumerate(self.decoder):
      h = layer(h)
      if i < self.shortcut_layers:
        h = jnp.concatenate([h, zs[n - 2 - i]], axis=-1)
      if i < self.inject_layers:
        h = _tile_concat(h, attributes_BxK)
    return h

  def __call__(self, img_BxHxWx3: jax.Array, attributes_BxK: jax.Array) -> jax.Array:
    return self.decode(self.encode(img_BxHxWx3), attributes_BxK)


class Critic(nnx.Module):
  """D(image) -> ``CriticOutput(real/fake score (B, 1, 1, 1), None, attribute logits (B, K))``."""

  def __init__(self, image_size: int, num_classes: int = 8, base_channels: int = 64,
               num_layers: int = 5, fc_dim: int = 1024, *, rngs: nnx.Rngs):
    _check_size(image_size, num_layers)
    widths = _widths(base_channels, num_layers)
    self.trunk = nnx.List([
        DownBlock(c_in, c_out, norm="instance", activation="leaky_relu",
                  negative_slope=NEGATIVE_SLOPE, rngs=rngs)
        for c_in, c_out in zip([3] + widths[:-1], widths)])
    flat = widths[-1] * (image_size // 2 ** num_layers) ** 2

    def fc(n_in, n_out):
      return nnx.Linear(n_in, n_out, kernel_init=gan_normal(), rngs=rngs)

    self.adv_hidden, self.adv_out = fc(flat, fc_dim), fc(fc_dim, 1)
    self.cls_hidden, self.cls_out = fc(flat, fc_dim), fc(fc_dim, num_classes)

  def __call__(self, img_BxHxWx3: jax.Array) -> CriticOutput:
    h = img_BxHxWx3
    for layer in self.trunk:
      h = layer(h)
    h = h.reshape(h.shape[0], -1)
    score = self.adv_out(jax.nn.leaky_relu(self.adv_hidden(h), NEGATIVE_SLOPE))
    logits = self.cls_out(jax.nn.leaky_relu(self.cls_hidden(h), NEGATIVE_SLOPE))
    return CriticOutput(score.reshape(-1, 1, 1, 1), None, logits)
