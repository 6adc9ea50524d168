"""What ``main`` runs: prepare the work directory and the data, then train / eval / generate."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import ml_collections

from fxs_jax import recipes
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.errors import WorkdirError
from fxs_jax.nn import fastconv
from fxs_jax.train import precision
from fxs_jax.train import trainer as trainer_lib

MODES = ("train", "eval", "generate")
# Not GANs: the independent evaluator networks, trained by fxs_jax.train.supervised.
SUPERVISED = ("au_regressor", "expression_classifier")


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> Path:
  """Creates ``workdir`` if needed, checks it is writable and saves the config beside the run.

  A different config already saved there is kept as ``config.prev-N.json``, never overwritten.
  """
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
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  saved = path / "config.json"
  if jax.process_index() != 0:  # one writer when several processes share the workdir
    return path
  if saved.exists() and saved.read_text() != text:
    n = 1
    while (path / f"config.prev-{n}.json").exists():
      n += 1
    saved.rename(path / f"config.prev-{n}.json")
  saved.write_text(text)
  return path


def run(config: ml_collections.ConfigDict, workdir: str, mode: str = "train") -> None:
  """Runs ``mode`` (train / eval / generate) of ``config.model_name`` in ``workdir``."""
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
  recipe_cls = recipes.RECIPES.get(config.model_name)
  if recipe_cls is None:
    raise UserError(f"Model {config.model_name!r} is not implemented yet; implemented models: "
                    f"{', '.join(sorted(recipes.RECIPES) + list(SUPERVISED))}.")
  recipe = recipe_cls(config)  # validates the model's settings before anything is written
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
  # Several processes: all restore (Orbax is collective) and evaluate the critic over the split
  # (batches split over the global mesh); the edit metrics, images and files are then process 0's
  # work on its own copy of the replicated generator.
  trainer, state, step = trainer_lib.load_latest(recipe, config, path)
  critic_metrics = {}
  if mode == "eval":
    critic_metrics = trainer_lib.evaluate_split(trainer, state, sources[config.data.eval_split],
                                                config)
  if jax.process_index() != 0:
    return
  gen = trainer.generator(sharding.local_copy(state))  # one process: unchanged
  if mode == "eval":
    from fxs_jax.eval import harness, suite  # pylint: disable=g-import-not-at-top
    result = suite.run_eval(recipe, gen, sources[config.data.eval_split], config, path, step,
                            extra_rows={f"critic_{k}": v for k, v in critic_metrics.items()})
    print(harness.format_table(result))
    print(f"Eval of step {step} on {result['num_pairs']} held-out pairs written to "
          f"{path / 'eval.json'}.", flush=True)
  else:
    paths = recipe.generate(gen, sources, path / f"generate_step_{step}")
    print("Wrote " + ", ".join(str(p) for p in paths), flush=True)
