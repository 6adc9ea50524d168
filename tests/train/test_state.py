"""Optimiser schedules: the critic's two time-scale rate."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax.train import state as state_lib


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_critic_lr_scale_multiplies_the_critic_rate_only(scale):
  """Adam's first update moves each parameter by lr * g / (|g| + eps) ~ lr: the critic's step
  is ``scale`` times the generator's."""
  optim = ganimation_config.get_config("smoke").optim
  optim.critic_lr_scale = scale
  gen_tx, critic_tx = state_lib.optimizers(optim, num_steps=100)
  params, grads = jnp.zeros(3), jnp.array([0.5, -2.0, 3.0])
  gen_step, _ = gen_tx.update(grads, gen_tx.init(params), params)
  critic_step, _ = critic_tx.update(grads, critic_tx.init(params), params)
  np.testing.assert_allclose(np.abs(gen_step), optim.lr, rtol=1e-4)
  np.testing.assert_allclose(np.abs(critic_step), scale * optim.lr, rtol=1e-4)
