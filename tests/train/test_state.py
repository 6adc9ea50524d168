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


def test_ema_decay_warms_up_like_tensorflows_moving_average():
  """min(decay, (1 + n) / (10 + n)): 2/11 at the first update, the set decay once n is large."""
  np.testing.assert_allclose(state_lib.ema_decay_at(0.999, 1), 2 / 11, rtol=1e-6)
  np.testing.assert_allclose(state_lib.ema_decay_at(0.999, 8), 9 / 18, rtol=1e-6)
  np.testing.assert_allclose(state_lib.ema_decay_at(0.9, 1000), 0.9, rtol=1e-6)


def test_ema_update_on_hand_computed_values():
  ema = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(4.0)}
  params = {"w": jnp.array([3.0, 2.0]), "b": jnp.array(0.0)}
  out = state_lib.ema_update(ema, params, jnp.float32(0.75))
  np.testing.assert_allclose(out["w"], [0.75 * 1 + 0.25 * 3, 0.75 * -2 + 0.25 * 2])
  np.testing.assert_allclose(out["b"], 3.0)


def test_items_round_trip_keeps_the_average_for_inference_and_the_live_weights_for_training():
  live, average = {"w": jnp.array([1.0])}, {"w": jnp.array([5.0])}
  state = state_lib.GANState(step=jnp.int32(3), gen_params=live, gen_rest={}, critic_params={},
                             critic_rest={}, gen_opt=(), critic_opt=(), gen_ema=average)
  items = state_lib.to_items(state)
  # What fxs_jax.load reads is the average; resuming gets both back.
  assert float(items[state_lib.GENERATOR_ITEM]["params"]["w"][0]) == 5.0
  back = state_lib.from_items(items)
  assert float(back.gen_params["w"][0]) == 1.0 and float(back.gen_ema["w"][0]) == 5.0
  assert float(state_lib.inference_params(back, use_ema=False)["w"][0]) == 1.0
  # Without an average nothing is saved twice.
  plain = state_lib.to_items(state.replace(gen_ema=None))
  assert "gen_params" not in plain[state_lib.TRAIN_ITEM]
  assert state_lib.from_items(plain).gen_ema is None
