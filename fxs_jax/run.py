"""What ``main`` runs: prepare the work directory and the data, then train / eval / generate."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import ml_collections

from fxs_jax import inference
from fxs_jax import recipes
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.errors import WorkdirError
from fxs_jax.eval import harness
from fxs_jax.eval import suite
from fxs_jax.nn import fastconv
from fxs_jax.train import checkpoint
from fxs_jax.train import precision
from fxs_jax.train import state as state_lib
from fxs_jax.train import trainer as trainer_lib

MODES = ("train", "eval", "generate")
# Not GANs: the independent evaluator networks, trained by fxs_jax.train.supervised.
SUPERVISED = ("au_regressor", "expression_classifier")


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> Path:
  """Creates ``workdir`` if needed, checks it is writable and saves the config beside the run
  (``checkpoint.write_config``: a different config already there is kept as
  ``config.prev-N.json``, never overwritten)."""
  path = Path(workdir).expanduser()
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_test.{os.getpid()}"  # several processes may share the workdir
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise WorkdirError(
        f"Cannot write to workdir {str(path)!r} ({e.strerror or e}): pass a writable --workdir."
    ) from e
  checkpoint.write_config(path, config)
  return path


def run(config: ml_collections.ConfigDict, workdir: str, mode: str = "train",
        step: int | None = None) -> None:
  """Runs ``mode`` (train / eval / generate) of ``config.model_name`` in ``workdir``; eval and
  generate use checkpoint ``step`` (default: the newest)."""
  if mode not in MODES:
    raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
  conv_impl = config.compute.conv_impl if "compute" in config else "auto"
  if conv_impl not in fastconv.CONV_IMPLS:
    raise UserError(f"config.compute.conv_impl must be one of {', '.join(fastconv.CONV_IMPLS)}, "
                    f"got {conv_impl!r}.")
  fastconv.set_conv_impl(conv_impl)  # read when the steps are traced: set before building them
  if "compute" in config:
    precision.compute_dtype(config.compute.dtype)  # a bad name fails before anything is written
  if config.model_name in SUPERVISED:
    if mode == "generate":
      raise UserError(f"{config.model_name} is an evaluator: it has train and eval modes.")
    from fxs_jax.train import supervised  # pylint: disable=g-import-not-at-top
    path = prepare_workdir(workdir, config)
    supervised.run(config, path, mode, pipeline.load(config.data))
    return
  if config.model_name not in recipes.RECIPES:
    raise UserError(f"Model {config.model_name!r} is not implemented yet; implemented models: "
                    f"{', '.join(sorted(recipes.RECIPES) + list(SUPERVISED))}.")
  recipe = inference.recipe_for(config)  # validates the model's settings before any writing
  if mode == "eval":
    suite.enabled_evals(config)  # a bad evaluator name fails before anything is written
  path = prepare_workdir(workdir, config)
  sources = pipeline.load(config.data)
  sizes = ", ".join(f"{split}: {len(src)}" for split, src in sources.items())
  if jax.process_index() == 0:
    print(f"Data {config.data.name} ready ({sizes} examples).", flush=True)
  if mode == "train":
    trainer_lib.train(recipe, config, path, sources)
    if jax.process_index() == 0:
      print(f"Done: checkpoints in {path / 'checkpoints'}, samples in {path / 'samples'}, "
            f"TensorBoard logs in {path / 'tb'}.", flush=True)
    return
  source = sources[config.data.eval_split]
  # Several processes: all restore (Orbax is collective) and evaluate the critic over the split
  # (batches split over the global mesh); the other evaluators, images and files are then
  # process 0's work on its own copy of the generator.
  critic_metrics = None
  # The live weights of a run that keeps a moving average are in the train item only.
  if mode == "eval" and (suite.needs_critic(config) or not config.eval.use_ema):
    trainer, state, step = trainer_lib.load_latest(recipe, config, path, step)
    if not config.eval.use_ema:
      state = state.replace(gen_ema=None)
    critic_metrics = (trainer_lib.evaluate_split(trainer, state, source, config)
                      if suite.needs_critic(config) else None)
    gen_params, gen_rest = sharding.local_copy((state_lib.inference_params(state),
                                                state.gen_rest))
    model = inference.TrainedModel(recipe, trainer.gen_def, gen_params, gen_rest, step, str(path))
  else:
    model = inference.load(path, step)
    step = model.step
  if jax.process_index() != 0:
    return
  if mode == "eval":
    ctx = suite.EvalContext(config=config, recipe=recipe, model=model, source=source,
                            critic_metrics=critic_metrics)
    result = suite.run_evals(ctx, path, step)
    print(harness.format_table(result))
    pairs = f" on {result['num_pairs']} held-out pairs" if "num_pairs" in result else ""
    print(f"Eval of step {step}{pairs} written to {path / 'eval.json'}.", flush=True)
  else:
    paths = recipe.generate(model, source, path / f"generate_step_{step}")
    print("Wrote " + ", ".join(str(p) for p in paths), flush=True)
