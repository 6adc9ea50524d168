"""Weight initialisers shared by every network of the four papers."""

from __future__ import annotations

import jax

GAN_STDDEV = 0.02
"""DCGAN's N(0, 0.02), used by GANimation, StarGAN and pix2pix for every conv weight."""


def gan_normal(stddev: float = GAN_STDDEV) -> jax.nn.initializers.Initializer:
  """N(0, stddev) initialiser for conv kernels (biases stay 0, norm scales 1)."""
  return jax.nn.initializers.normal(stddev=stddev)
