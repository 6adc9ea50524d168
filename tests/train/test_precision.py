"""Mixed precision (``config.compute.dtype``): float32 master parameters, bfloat16 compute."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.nn.layers import InstanceNorm
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.train import precision
from fxs_jax.train import trainer as trainer_lib

MATMULS = ("conv_general_dilated", "dot_general")


def _operand_dtypes(jaxpr, primitives) -> set:
  """Dtypes of the operands of every ``primitives`` equation in ``jaxpr``, nested ones included."""
  found = set()

  def walk(jx):
    for eqn in jx.eqns:
      if eqn.primitive.name in primitives:
        found.update(str(v.aval.dtype) for v in eqn.invars)
      for param in eqn.params.values():
        for inner in param if isinstance(param, (tuple, list)) else (param,):
          inner = getattr(inner, "jaxpr", inner)
          if hasattr(inner, "eqns"):
            walk(inner)

  walk(jaxpr.jaxpr)
  return found


def test_unknown_dtype_is_a_one_line_user_error():
  with pytest.raises(UserError, match="float32, bfloat16") as info:
    precision.Policy("float16")
  assert "\n" not in str(info.value)


def test_casts_floats_only_and_gradients_reach_float32_params():
  policy = precision.Policy("bfloat16")
  tree = {"w": jnp.ones((2,), jnp.float32), "count": jnp.ones((2,), jnp.int32)}
  cast = policy.compute(tree)
  assert cast["w"].dtype == jnp.bfloat16 and cast["count"].dtype == jnp.int32
  batch = policy.batch({"image": jnp.ones((1, 2, 2, 3)), "landmarks": jnp.ones((1, 68, 2)),
                        # Landmark sequences have image rank: only the named entries are cast.
                        "landmark_seq": jnp.ones((1, 30, 68, 2))}, keys=("image",))
  assert batch["image"].dtype == jnp.bfloat16 and batch["landmarks"].dtype == jnp.float32
  assert batch["landmark_seq"].dtype == jnp.float32
  grad = jax.grad(lambda w: jnp.sum(policy.compute(w) * 3.0).astype(jnp.float32))(tree["w"])
  assert grad.dtype == jnp.float32
  np.testing.assert_array_equal(grad, 3.0)
  assert precision.Policy("float32").compute(tree) is tree  # float32: no casts at all


def test_instance_norm_statistics_stay_float32_under_bfloat16():
  # A large common offset: bf16 statistics (8-bit mantissa at ~100) would be off by ~0.5 std.
  rng = np.random.default_rng(0)
  x = jnp.asarray(100.0 + rng.normal(size=(2, 8, 8, 3)), jnp.bfloat16)
  x64 = np.asarray(x, np.float64)  # the same bf16 values, normalised by the literal formula
  want = (x64 - x64.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
      x64.var(axis=(1, 2), keepdims=True) + 1e-5)
  got = InstanceNorm(3)(x)
  assert got.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(got, np.float64), want, atol=0.02)


def test_bfloat16_train_iteration_computes_in_bf16_and_keeps_float32_params(
    smoke_stills, smoke_config):
  source = smoke_stills.as_data_source("train")
  host = next(iter(pipeline.train_dataset(source, 2, seed=0, num_threads=1)))
  results = {}
  for dtype in ("float32", "bfloat16"):
    config = smoke_config(ganimation_config, **{"compute.dtype": dtype})
    recipe = GANimation(config)
    trainer = trainer_lib.GANTrainer(recipe, config)
    batch = sharding.to_device(recipe.prepare_batch(host, np.random.default_rng(0)), trainer.mesh)
    state = trainer.init_state()
    key = trainer.step_key(0)
    # Tracing only (no compile): which dtypes the convolutions / matmuls run in.
    matmul_dtypes = set()
    for step in (trainer._critic_step, trainer._generator_step):  # pylint: disable=protected-access
      matmul_dtypes |= _operand_dtypes(jax.make_jaxpr(step)(state, batch, key), MATMULS)
    state, metrics = trainer.train_iteration(state, batch, 0)
    results[dtype] = (matmul_dtypes, jax.device_get(metrics),
                      {str(x.dtype) for x in jax.tree.leaves(state) if
                       jnp.issubdtype(x.dtype, jnp.floating)})

  f32_matmuls, f32_metrics, f32_state_dtypes = results["float32"]
  bf16_matmuls, bf16_metrics, bf16_state_dtypes = results["bfloat16"]
  assert f32_matmuls == {"float32"}
  assert bf16_matmuls == {"bfloat16"}  # every conv of both networks, forward and backward
  assert f32_state_dtypes == bf16_state_dtypes == {"float32"}  # params, Adam moments
  for name, value in bf16_metrics.items():
    assert value.dtype == np.float32 and np.isfinite(value), name
  for name in ("critic/loss", "critic/au", "critic/gp", "gen/loss", "gen/au", "gen/cycle",
               "gen/mask"):
    np.testing.assert_allclose(bf16_metrics[name], f32_metrics[name], rtol=5e-2, err_msg=name)
