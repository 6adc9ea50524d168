"""Pixel and vector reconstruction losses (L1, MSE, cycle consistency)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fxs_jax.data.augment import CHANGE_THRESHOLD


def l1_loss(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute error over all elements (``torch.nn.L1Loss()``)."""
  return jnp.mean(jnp.abs(prediction - target))


def masked_l1_loss(prediction_BxHxWxC: jax.Array, target_BxHxWxC: jax.Array,
                   mask_BxHxWx1: jax.Array) -> jax.Array:
  """Mean absolute error over the pixels where ``mask`` is 1 (every channel); 0 if it is empty."""
  count = jnp.sum(mask_BxHxWx1) * prediction_BxHxWxC.shape[-1]
  return jnp.sum(mask_BxHxWx1 * jnp.abs(prediction_BxHxWxC - target_BxHxWxC)) / jnp.maximum(count, 1)


def changed_pixels(input_BxHxWx3: jax.Array, truth_BxHxWx3: jax.Array,
                   threshold: float = CHANGE_THRESHOLD) -> jax.Array:
  """(B, H, W, 1) float: 1 where the truth differs from the input by more than ``threshold`` in
  some channel (the region an edit has to change; the evaluators' ``error_where_changed``)."""
  diff = jnp.max(jnp.abs(input_BxHxWx3 - truth_BxHxWx3), axis=-1, keepdims=True)
  return (diff > threshold).astype(input_BxHxWx3.dtype)


def mse_loss(prediction: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error over all elements (``torch.nn.MSELoss()``), e.g. AU regression."""
  return jnp.mean(jnp.square(prediction - target))


def cycle_loss(reconstructed_BxHxWxC: jax.Array, original_BxHxWxC: jax.Array) -> jax.Array:
  """Cycle consistency ``mean |G(G(x, c_target), c_source) - x|`` (GANimation, StarGAN)."""
  return l1_loss(reconstructed_BxHxWxC, original_BxHxWxC)
