"""Pixel and vector reconstruction losses (L1, MSE, cycle consistency)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def l1_loss(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute error over all elements (``torch.nn.L1Loss()``)."""
  return jnp.mean(jnp.abs(prediction - target))


def mse_loss(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error over all elements (``torch.nn.MSELoss()``), e.g. AU regression."""
  return jnp.mean(jnp.square(prediction - target))


def cycle_loss(reconstructed_BxHxWxC: jax.Array, original_BxHxWxC: jax.Array) -> jax.Array:
  """Cycle consistency ``mean |G(G(x, c_target), c_source) - x|`` (GANimation, StarGAN)."""
  return l1_loss(reconstructed_BxHxWxC, original_BxHxWxC)
