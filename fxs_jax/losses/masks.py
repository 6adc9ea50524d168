"""Penalties on GANimation-style attention masks A (B, H, W, 1), A = 1 keeping the input pixel.

Without them the attention saturates to 1 (copy the input) and the generator learns nothing, or
the mask turns noisy; the official code pairs a mean penalty with a total-variation smoother.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fxs_jax.errors import UserError

TV_FORMS = ("official", "mean", "replicate")
ATTENTION_PENALTIES = ("l1", "l2")


def attention_mean_penalty(attention_BxHxWx1: jax.Array) -> jax.Array:
  """``mean(A)``: the official code's L1 attention loss (A >= 0 after the sigmoid)."""
  return jnp.mean(attention_BxHxWx1)


def attention_l2_penalty(attention_BxHxWx1: jax.Array) -> jax.Array:
  """``mean(A**2)``: the squared-norm attention loss the paper's text writes."""
  return jnp.mean(jnp.square(attention_BxHxWx1))


def total_variation(attention_BxHxWx1: jax.Array, form: str = "official") -> jax.Array:
  """Total variation of a batch of masks, differences between vertical and horizontal neighbours.

  ``form``:
    * ``"official"``: GANimation's ``_compute_loss_smooth``, a plain SUM over the whole batch
      (and channels) of ``|A[:, i+1, j] - A[:, i, j]|`` plus ``|A[:, i, j+1] - A[:, i, j]|``;
      it grows with batch size and resolution, which its tiny weight 1e-5 compensates.
    * ``"mean"``: the same absolute differences, each direction averaged over its elements, then
      summed; independent of batch size and resolution.
    * ``"replicate"``: donydchen/ganimation_replicate's TVLoss, SQUARED differences,
      ``2 * (mean_vertical + mean_horizontal)``.
  """
  diff_v = attention_BxHxWx1[:, 1:, :, :] - attention_BxHxWx1[:, :-1, :, :]
  diff_h = attention_BxHxWx1[:, :, 1:, :] - attention_BxHxWx1[:, :, :-1, :]
  if form == "official":
    return jnp.sum(jnp.abs(diff_v)) + jnp.sum(jnp.abs(diff_h))
  if form == "mean":
    return jnp.mean(jnp.abs(diff_v)) + jnp.mean(jnp.abs(diff_h))
  if form == "replicate":
    return 2.0 * (jnp.mean(jnp.square(diff_v)) + jnp.mean(jnp.square(diff_h)))
  raise ValueError(f"Unknown total-variation form {form!r}; expected one of {TV_FORMS}.")


def attention_penalty(name: str):
  """The mask penalty named in a config: ``"l1"`` = ``mean(A)`` (official), ``"l2"`` = ``mean(A**2)``."""
  if name not in ATTENTION_PENALTIES:
    raise ValueError(f"model.attention_penalty must be one of {ATTENTION_PENALTIES}, got {name!r}")
  return attention_mean_penalty if name == "l1" else attention_l2_penalty


def check_mask_settings(model_config) -> None:
  """Validates ``model.attention_penalty`` and ``model.tv_form`` (a UserError naming them)."""
  if model_config.attention_penalty not in ATTENTION_PENALTIES:
    raise UserError(f"model.attention_penalty must be one of {ATTENTION_PENALTIES}, "
                    f"got {model_config.attention_penalty!r}")
  if model_config.tv_form not in TV_FORMS:
    raise UserError(f"model.tv_form must be one of {TV_FORMS}, got {model_config.tv_form!r}")
