"""The generic trainer on GANimation's `:smoke` config: steps, checkpoints, resume, devices."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.train import state as state_lib
from fxs_jax.train import trainer as trainer_lib
from fxs_jax.train.checkpoint import Checkpointer

DRIVER = Path(__file__).with_name("smoke_driver.py")


def _batch(trainer, source, recipe, size):
  host = next(iter(pipeline.train_dataset(source, size, seed=0, num_threads=1)))
  return sharding.to_device(recipe.prepare_batch(host, np.random.default_rng(0)), trainer.mesh)


def test_one_real_train_iteration_updates_both_networks(smoke_stills, smoke_config):
  config = smoke_config(ganimation_config)
  recipe = GANimation(config)
  trainer = trainer_lib.GANTrainer(recipe, config)
  state = trainer.init_state()
  before = jax.device_get((state.gen_params, state.critic_params))
  batch = _batch(trainer, smoke_stills.as_data_source("train"), recipe, 2)
  state, metrics = trainer.train_iteration(state, batch, 0)  # critic_steps=1 in smoke
  metrics = jax.device_get(metrics)
  for name in ("critic/loss", "critic/gp", "critic/au", "gen/loss", "gen/cycle", "gen/mask"):
    assert np.isfinite(metrics[name]), name
  assert int(state.step) == 1
  for old, new in zip(before, (state.gen_params, state.critic_params)):
    diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(a - b).max()), old, new))
    assert max(diffs) > 0


def test_lr_schedule_is_constant_then_linear_to_zero():
  config = ganimation_config.get_config()
  config.optim.lr, config.optim.decay_start_step = 1e-4, 20
  schedule = state_lib.lr_schedule(config.optim, 30)
  np.testing.assert_allclose([schedule(s) for s in (0, 19, 20, 25, 30)],
                             [1e-4, 1e-4, 1e-4, 0.5e-4, 0.0], rtol=1e-6, atol=1e-12)


def test_generator_lr_follows_iterations_not_its_own_update_count():
  config = ganimation_config.get_config()
  config.optim.lr, config.optim.decay_start_step, config.optim.critic_steps = 1.0, 0, 5
  gen_tx, _ = state_lib.optimizers(config.optim, 100)
  # After 10 generator updates, 50 iterations have passed: lr = 0.5 (Adam's first step = lr).
  params = {"w": np.zeros(())}
  opt = gen_tx.init(params)
  for _ in range(10):
    _, opt = gen_tx.update({"w": np.ones(())}, opt, params)
  updates, _ = gen_tx.update({"w": np.ones(())}, opt, params)
  # Adam's normalised step is 1 for a constant gradient: the update is -lr.
  np.testing.assert_allclose(-updates["w"], 0.5, rtol=1e-4)


def test_critic_lr_follows_iterations_when_it_updates_twice_per_iteration():
  config = ganimation_config.get_config()
  config.optim.lr, config.optim.decay_start_step = 1.0, 0
  _, critic_tx = state_lib.optimizers(config.optim, 100, critic_updates_per_step=2)
  params = {"w": np.zeros(())}
  opt = critic_tx.init(params)
  for _ in range(100):  # 50 iterations of (adversarial, penalty) updates
    _, opt = critic_tx.update({"w": np.ones(())}, opt, params)
  updates, _ = critic_tx.update({"w": np.ones(())}, opt, params)
  np.testing.assert_allclose(-updates["w"], 0.5, rtol=1e-4)  # lr at iteration 50 of 100


def test_checkpoint_round_trip_restores_identical_state(smoke_stills, smoke_config, tmp_path):
  config = smoke_config(ganimation_config)
  recipe = GANimation(config)
  trainer = trainer_lib.GANTrainer(recipe, config)
  state = trainer.init_state()
  batch = _batch(trainer, smoke_stills.as_data_source("train"), recipe, 2)
  state, _ = trainer.train_iteration(state, batch, 0)
  expected = jax.device_get(state)
  ckpt = Checkpointer(tmp_path / "ckpt", config)
  ckpt.save(1, state_lib.to_items(state), None)
  ckpt.wait()
  restored = state_lib.from_items(ckpt.restore(1, trainer.abstract_items()))
  ckpt.close()
  assert jax.tree.structure(restored) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(jax.device_get(restored))):
    np.testing.assert_array_equal(a, b)


def _drive(workdir, tfds_dir, steps, *extra, env=None):
  env = env or dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, str(DRIVER), str(workdir), str(tfds_dir), str(steps),
                         *extra], capture_output=True, text=True, env=env, timeout=600)


def _losses(workdir):
  """Per-step logged losses; a re-run step (after a resume) overrides the earlier line."""
  by_step = {}
  for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    if "critic/loss" in row:
      by_step[row["step"]] = (row["critic/loss"], row["gen/loss"])
  return by_step


def test_resume_after_sigkill_matches_uninterrupted_run(smoke_stills, tfds_dir, tmp_path):
  straight = _drive(tmp_path / "a", tfds_dir, 10)
  assert straight.returncode == 0, straight.stderr[-2000:]
  killed = _drive(tmp_path / "b", tfds_dir, 10, "--kill-at=7")
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
  assert not (tmp_path / "b" / "checkpoints" / "10").exists()
  resumed = _drive(tmp_path / "b", tfds_dir, 10)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "Resumed the run from its checkpoint at step" in resumed.stdout
  a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
  assert sorted(a) == sorted(b) == list(range(1, 11))
  np.testing.assert_allclose([b[s] for s in range(1, 11)], [a[s] for s in range(1, 11)],
                             rtol=1e-6)


def test_sigterm_checkpoints_and_stops(smoke_stills, tfds_dir, tmp_path):
  proc = _drive(tmp_path, tfds_dir, 20, "--sigterm-at=5")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "SIGTERM" in proc.stdout
  # The step in flight when the signal came completes and is saved (step 6); nothing after.
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert steps[-1] == 6


def test_same_losses_on_1_and_8_devices(smoke_stills, tfds_dir, tmp_path, devices_env):
  one = _drive(tmp_path / "one", tfds_dir, 3, "--batch=8")
  eight = _drive(tmp_path / "eight", tfds_dir, 3, "--batch=8", env=devices_env(8))
  assert one.returncode == 0 and eight.returncode == 0, (one.stderr + eight.stderr)[-3000:]
  a, b = _losses(tmp_path / "one"), _losses(tmp_path / "eight")
  assert sorted(a) == sorted(b) == [1, 2, 3]
  np.testing.assert_allclose([b[s] for s in a], [a[s] for s in a], rtol=2e-4, atol=1e-5)




def test_nan_guard_names_step_and_loss_and_keeps_last_good_checkpoint(
    smoke_stills, smoke_config, tmp_path, monkeypatch):
  config = smoke_config(ganimation_config, num_train_steps=6)
  config.checkpoint.every_steps = 2
  original = trainer_lib._host_batch  # pylint: disable=protected-access

  def poisoned(data_iter, recipe, step, seed):
    batch = original(data_iter, recipe, step, seed)
    if step == 4:
      batch["image"] = np.full_like(batch["image"], np.nan)
    return batch

  monkeypatch.setattr(trainer_lib, "_host_batch", poisoned)
  sources = {s: smoke_stills.as_data_source(s) for s in ("train", config.data.eval_split)}
  with pytest.raises(trainer_lib.TrainingDiverged, match=r"step 5: critic/.* = nan.*step 4"):
    trainer_lib.train(GANimation(config), config, tmp_path, sources)
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert steps == [2, 4]
