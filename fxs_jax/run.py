"""What ``main`` runs: prepare the work directory and the data, then train / eval / generate."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import jax
import ml_collections

from fxs_jax import animation
from fxs_jax import config_upgrade
from fxs_jax import errors
from fxs_jax import generate
from fxs_jax import inference
from fxs_jax import provenance as provenance_lib
from fxs_jax import recipes
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.errors import WorkdirError
from fxs_jax.eval import harness
from fxs_jax.eval import suite
from fxs_jax.judges import training as judge_training
from fxs_jax.nn import fastconv
from fxs_jax.train import checkpoint
from fxs_jax.train import precision
from fxs_jax.train import state as state_lib
from fxs_jax.train import trainer as trainer_lib
from fxs_jax.train import workdir_lock

MODES = ("train", "eval", "generate")
# Not GANs: the independent evaluator networks, trained by fxs_jax.judges.training.
SUPERVISED = ("au_regressor", "expression_classifier")


# The numbers of a config the trainer reads, each checked before anything is written:
# (key, low, high, integer, low_open, high_open, what it is, an example to pass instead).
_INF = 10**9
CONFIG_NUMBERS = (
    ("num_train_steps", 1, _INF, True, False, False, "training iterations", 1000),
    ("data.batch_size", 1, 4096, True, False, False, "the global batch size", 16),
    ("eval.batch_size", 1, 4096, True, False, False, "the prediction batch size", 16),
    ("model.image_size", 8, 1024, True, False, False, "the face crops' side in pixels", 128),
    ("optim.lr", 0, 1, False, True, False, "the learning rate", 0.0001),
    ("optim.b1", 0, 1, False, False, True, "Adam's beta1", 0.5),
    ("optim.b2", 0, 1, False, False, True, "Adam's beta2", 0.999),
    ("optim.critic_steps", 1, 100, True, False, False, "critic updates per generator update", 5),
    ("optim.critic_lr_scale", 0, 100, False, True, False, "the critic's learning-rate factor", 1),
    ("optim.decay_start_step", 0, _INF, True, False, False, "the step the decay starts at", 0),
    ("optim.decay_rate", 0, 1, False, False, False, "the exponential decay's factor", 0.96),
    ("optim.decay_every_steps", 1, _INF, True, False, False, "steps per decay", 1000),
    ("optim.ema_decay", 0, 1, False, False, True, "the moving average's decay", 0.999),
    ("checkpoint.every_steps", 1, _INF, True, False, False, "steps between checkpoints", 1000),
    ("checkpoint.keep", 1, 1000, True, False, False, "checkpoints kept", 3),
    ("logging.every_steps", 1, _INF, True, False, False, "steps between logged losses", 50),
    ("logging.sample_every_steps", 1, _INF, True, False, False, "steps between samples", 1000),
    ("logging.eval_examples", 0, 10**6, True, False, False, "held-out examples per report",
     256),
)


def check_config_numbers(config: ml_collections.ConfigDict) -> None:
  """A one-line ``UserError`` for the first number of ``CONFIG_NUMBERS`` that ``config`` has
  out of its range (NaN, negative, zero where it counts something, too large to fit memory)."""
  for key, low, high, integer, low_open, high_open, meaning, example in CONFIG_NUMBERS:
    section, _, name = key.rpartition(".")
    holder = config.get(section) if section else config
    if holder is None or name not in holder or (key == "checkpoint.keep" and
                                                holder[name] is None):
      continue
    errors.check_number(holder[name], f"--config.{key}", low=low, high=high, integer=integer,
                        low_open=low_open, high_open=high_open, meaning=meaning,
                        fix=f"pass e.g. --config.{key}={example}")


def writable_workdir(workdir: str | os.PathLike) -> Path:
  """Creates ``workdir`` if needed and checks it is writable (``WorkdirError`` if not)."""
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
  return path


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> Path:
  """Creates ``workdir`` if needed, checks it is writable and saves the config beside the run
  (``checkpoint.write_config``: a different config already there is kept as
  ``config.prev-N.json``, never overwritten). ``run`` does this under the workdir's lock."""
  path = writable_workdir(workdir)
  checkpoint.write_config(path, config)
  return path


@contextlib.contextmanager
def _locked_workdir(workdir: str | os.PathLike, mode: str) -> Iterator[Path]:
  """The workdir, created if needed and locked for the block (``workdir_lock``). A folder this
  call created is removed again if the block fails before writing anything into it."""
  created = not Path(workdir).expanduser().exists()
  path = writable_workdir(workdir)
  try:
    with workdir_lock.hold(path, mode):
      yield path
  except BaseException:
    if created and jax.process_index() == 0:
      with contextlib.suppress(OSError):
        path.rmdir()  # only if empty
    raise


SPLITS = ("validation", "test")


def run(config: ml_collections.ConfigDict, workdir: str, mode: str = "train",
        step: int | None = None, split: str | None = None,
        provenance: dict | None = None) -> None:
  """Runs ``mode`` (train / eval / generate) of ``config.model_name`` in ``workdir``; eval and
  generate use checkpoint ``step`` (default: the newest) on ``split`` (default:
  ``config.data.eval_split``, i.e. validation: choose on it; report on "test"). Every check that
  needs no data comes before anything is written; the run holds the workdir's lock
  (``workdir_lock``), so a second run on the same workdir stops at its start; ``config.json`` is
  written once the data loaded. ``provenance`` (``eval.provenance.record``; default: the
  config's seed and the code's commit) goes into ``eval.json`` and a training run's
  ``provenance.json``."""
  if mode not in MODES:
    raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
  saved_config = config  # config.json: the config as given
  # A config saved by earlier code (a run's config.json) gets the keys added since.
  config = config_upgrade.upgrade(config)
  if saved_config.is_locked:
    config.lock()
  if split is not None:
    if mode == "train":
      raise UserError("--split applies to --mode=eval and --mode=generate (training evaluates on "
                      "config.data.eval_split); drop it or pass --mode=eval.")
    if split not in SPLITS:
      raise UserError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}.")
    config.data.eval_split = split
  provenance = provenance or provenance_lib.record(config)
  if config.compute.conv_impl not in fastconv.CONV_IMPLS:
    raise UserError(f"config.compute.conv_impl must be one of {', '.join(fastconv.CONV_IMPLS)}, "
                    f"got {config.compute.conv_impl!r}.")
  precision.compute_dtype(config.compute.dtype)  # a bad name fails before anything is written
  check_config_numbers(config)
  if config.model_name in SUPERVISED:
    if mode == "generate":
      raise UserError(f"{config.model_name} is an evaluator: it has train and eval modes.")
    with _locked_workdir(workdir, mode) as path:
      sources = pipeline.load(config.data)
      checkpoint.write_config(path, saved_config)
      judge_training.run(config, path, mode, sources)
    return
  if config.model_name not in recipes.RECIPES:
    raise UserError(f"Model {config.model_name!r} is not implemented yet; implemented models: "
                    f"{', '.join(sorted(recipes.RECIPES) + list(SUPERVISED))}.")
  recipe = inference.recipe_for(config)  # validates the model's settings before any writing
  if mode == "eval":
    suite.enabled_evals(config)  # a bad evaluator name fails before anything is written
  if mode != "train":  # read-only: a workdir without that checkpoint gets nothing written
    checkpoint.check_saved(Path(workdir).expanduser() / "checkpoints", step)
  with _locked_workdir(workdir, mode) as path:
    sources = pipeline.load(config.data)
    checkpoint.write_config(path, saved_config)  # the training config (not --split's)
    _run_gan(config, recipe, path, mode, step, sources, provenance)


def _run_gan(config: ml_collections.ConfigDict, recipe, path: Path, mode: str,
             step: int | None, sources: dict, provenance: dict) -> None:
  """``run``'s work for a GAN recipe, in the prepared and locked ``path``."""
  sizes = ", ".join(f"{split}: {len(src)}" for split, src in sources.items())
  if jax.process_index() == 0:
    print(f"Data {config.data.name} ready ({sizes} examples).", flush=True)
  if mode == "train":
    if jax.process_index() == 0:
      _append_provenance(path / "provenance.json", provenance)
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
                            animate=animation.animate,
                            critic_metrics=critic_metrics)
    result = suite.run_evals(ctx, path, step, provenance)
    print(harness.format_table(result))
    pairs = f" on {result['num_pairs']} held-out pairs" if "num_pairs" in result else ""
    print(f"Eval of step {step}{pairs} written to {path / 'eval.json'}.", flush=True)
  else:
    paths = generate.generate(model, recipe, source, path / f"generate_step_{step}")
    print("Wrote " + ", ".join(str(p) for p in paths), flush=True)


def _append_provenance(path: Path, record: dict) -> None:
  """Adds this start (or resume) of training to ``provenance.json``: a list, one entry each, so
  a run resumed under newer code says so."""
  runs = []
  if path.exists():
    try:
      runs = json.loads(path.read_text())
    except (OSError, ValueError):
      runs = []  # unreadable: start the list again rather than stop the training
    runs = runs if isinstance(runs, list) else []
  text = json.dumps(runs + [record], indent=2) + "\n"
  errors.replace_atomically(path, lambda tmp: Path(tmp).write_text(text))
