"""Losses shared by the four papers: adversarial, reconstruction and attention-mask terms."""

from fxs_jax.losses.adversarial import gradient_penalty
from fxs_jax.losses.adversarial import hinge_critic_loss
from fxs_jax.losses.adversarial import hinge_generator_loss
from fxs_jax.losses.adversarial import lsgan_critic_loss
from fxs_jax.losses.adversarial import lsgan_generator_loss
from fxs_jax.losses.adversarial import nonsaturating_critic_loss
from fxs_jax.losses.adversarial import nonsaturating_generator_loss
from fxs_jax.losses.adversarial import wgan_critic_loss
from fxs_jax.losses.adversarial import wgan_generator_loss
from fxs_jax.losses.masks import attention_l2_penalty
from fxs_jax.losses.masks import attention_mean_penalty
from fxs_jax.losses.masks import total_variation
from fxs_jax.losses.reconstruction import changed_pixels
from fxs_jax.losses.reconstruction import cycle_loss
from fxs_jax.losses.reconstruction import l1_loss
from fxs_jax.losses.reconstruction import masked_l1_loss
from fxs_jax.losses.reconstruction import mse_loss

__all__ = [
    "attention_l2_penalty",
    "attention_mean_penalty",
    "cycle_loss",
    "gradient_penalty",
    "hinge_critic_loss",
    "hinge_generator_loss",
    "l1_loss",
    "lsgan_critic_loss",
    "lsgan_generator_loss",
    "mse_loss",
    "nonsaturating_critic_loss",
    "nonsaturating_generator_loss",
    "total_variation",
    "wgan_critic_loss",
    "wgan_generator_loss",
]
