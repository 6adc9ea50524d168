"""The trainer's jitted steps are traced under their config's ``compute.conv_impl``, whoever
traces them, and leave no setting behind. Oracle: the lowered programs' convolution ops (plain
lowers every conv to one; the fast forms on CPU turn the stride-2 and transposed ones into
matmuls)."""

import jax
import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.nn import fastconv
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.train import trainer as trainer_lib


def _convolutions(lowered) -> int:
  return lowered.as_text().count("stablehlo.convolution")


@pytest.fixture(scope="module")
def batch_and_key(smoke_stills):
  config = ganimation_config.get_config("smoke")
  recipe = GANimation(config)
  host = next(iter(pipeline.train_dataset(smoke_stills.as_data_source("train"), 2, seed=0,
                                          num_threads=1)))
  batch = recipe.prepare_batch(host, np.random.default_rng(0))
  return sharding.to_device(batch, sharding.make_mesh()), jax.random.key(0)


def _lowered_steps(impl, batch, key, names=("sample", "generator")):
  """Convolution ops of the named steps of a fresh trainer (no trace cached) of ``impl``."""
  config = ganimation_config.get_config("smoke")
  config.compute.conv_impl = impl
  trainer = trainer_lib.GANTrainer(GANimation(config), config)
  state = trainer.abstract_state
  steps = {"sample": lambda: trainer.sample_step.lower(state, batch),
           "generator": lambda: trainer.generator_step.lower(state, batch, key)}
  return {name: _convolutions(steps[name]()) for name in names}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="auto is fast on CPU only")
def test_steps_trace_under_their_config_setting(batch_and_key):
  batch, key = batch_and_key
  auto = fastconv.resolve_conv_impl()
  plain = _lowered_steps("plain", batch, key)
  fast = _lowered_steps("fast", batch, key)
  for name in plain:
    assert plain[name] > fast[name] > 0, (name, plain, fast)
  assert _lowered_steps("auto", batch, key, ["sample"]) == {"sample": fast["sample"]}
  # The caller's own setting does not reach inside a step ...
  with fastconv.conv_impl("fast"):
    assert _lowered_steps("plain", batch, key, ["sample"]) == {"sample": plain["sample"]}
  with fastconv.conv_impl("plain"):
    assert _lowered_steps("fast", batch, key, ["sample"]) == {"sample": fast["sample"]}
  # ... and the step's does not stay behind.
  assert fastconv.resolve_conv_impl() == auto
