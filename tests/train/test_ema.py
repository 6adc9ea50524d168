"""The trainer's moving average of the generator's weights, on the toy recipe (no images)."""

import jax
import numpy as np
import pytest

from fxs_jax.data import builders
from fxs_jax.data import pipeline
from fxs_jax.train import trainer as trainer_lib
from tests import toy_curves


@pytest.mark.parametrize("critic_steps", [1, 2])
def test_generator_update_moves_the_average_by_the_warmed_up_decay(tfds_dir, critic_steps):
  builders.prepare("synth_faces/sequences_smoke", str(tfds_dir))
  config = toy_curves.get_config()
  config.data.data_dir = str(tfds_dir)
  config.optim.ema_decay = 0.99
  config.optim.critic_steps = critic_steps
  recipe = toy_curves.ToyCurves(config)
  trainer = trainer_lib.GANTrainer(recipe, config)
  source = pipeline.load(config.data)["train"]
  batch = next(recipe.eval_batches(source, "train", 4, seed=0))
  state = trainer.init_state()
  np.testing.assert_array_equal(jax.tree.leaves(state.gen_ema)[0],
                                jax.tree.leaves(state.gen_params)[0])
  for step in range(2 * critic_steps):
    before = jax.tree.map(np.asarray, (state.gen_ema, state.gen_params))
    state, _ = trainer.train_iteration(state, batch, step)
    if (step + 1) % critic_steps:
      continue
    n = (step + 1) // critic_steps  # generator updates so far
    decay = min(0.99, (1 + n) / (10 + n))
    for ema_old, ema_new, live in zip(jax.tree.leaves(before[0]), jax.tree.leaves(state.gen_ema),
                                      jax.tree.leaves(state.gen_params)):
      np.testing.assert_allclose(ema_new, decay * ema_old + (1 - decay) * np.asarray(live),
                                 rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(before[1]),
                                                     jax.tree.leaves(state.gen_params)))
  # Samples come from the average, not from the live weights.
  leaves = lambda s: np.concatenate([np.ravel(x) for x in jax.tree.leaves(
      jax.device_get(trainer.sample_step(s, batch)))])
  from_average = leaves(state)
  np.testing.assert_array_equal(
      from_average, leaves(state.replace(gen_params=state.gen_ema, gen_ema=None)))
  assert not np.allclose(from_average, leaves(state.replace(gen_ema=None)))
