"""The default evaluators, trained on first use and cached.

``ensure_trained`` trains the default AU regressor / expression classifier
(``configs/<kind>.py``, networks in ``fxs_jax.models.evaluators``) on first use into a cache
directory and reuses it afterwards, as datasets are built on first use.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import ml_collections

from fxs_jax.data import pipeline
from fxs_jax.models.evaluators import KINDS
from fxs_jax.train import supervised

__all__ = ["KINDS", "default_cache_dir", "default_config", "ensure_trained"]


def default_cache_dir() -> Path:
  """``$FXS_JAX_EVALUATOR_DIR`` or ``~/.cache/fxs_jax/evaluators``."""
  env = os.environ.get("FXS_JAX_EVALUATOR_DIR")
  return Path(env).expanduser() if env else Path("~/.cache/fxs_jax/evaluators").expanduser()


def default_config(kind: str, image_size: int, dataset: str | None = None,
                   data_dir: str | None = None, framing: str = "") -> ml_collections.ConfigDict:
  """``configs/<kind>.py``'s default, retargeted to ``image_size`` and ``dataset`` (its faces
  framed by ``framing``, "" = the dataset's own)."""
  if kind not in KINDS:
    raise ValueError(f"Unknown evaluator {kind!r}; expected one of {KINDS}.")
  # The model configs import `configs.common`: make the repository's configs/ importable.
  root = str(Path(__file__).resolve().parents[2])
  if root not in sys.path:
    sys.path.insert(1, root)
  config = importlib.import_module(f"configs.{kind}").get_config()
  config.model.image_size = int(image_size)
  config.data.name = dataset or f"synth_faces/stills_{int(image_size)}"
  config.data.data_dir = data_dir or ""
  config.data.framing = framing
  return config


def ensure_trained(kind: str, image_size: int, data_dir: str | None = None,
                   cache_dir: str | os.PathLike | None = None, dataset: str | None = None,
                   framing: str = "") -> Path:
  """The workdir of a trained default ``kind`` evaluator for ``image_size`` px images.

  Trains it on first use (minutes on a CPU at 64 px) into ``<cache_dir>/<kind>_<size>`` (cache_dir
  defaults to :func:`default_cache_dir`), writes its held-out metrics to ``eval.json`` there, and
  reuses it afterwards. An interrupted training resumes. A cached evaluator trained with another
  config is moved aside (``.prev-N``) and retrained. Load it with
  ``supervised.load_evaluator(None, workdir)``.
  """
  config = default_config(kind, image_size, dataset, data_dir, framing)
  suffix = "" if dataset in (None, f"synth_faces/stills_{int(image_size)}") else (
      "_" + dataset.replace("/", "_"))
  suffix += f"_{framing}" if framing else ""
  workdir = Path(cache_dir or default_cache_dir()).expanduser() / f"{kind}_{image_size}{suffix}"
  saved, done = workdir / "config.json", workdir / "eval.json"
  if saved.exists() and not _same_training(
      _comparable(ml_collections.ConfigDict(json.loads(saved.read_text()))), _comparable(config)):
    n = 1
    while workdir.with_name(f"{workdir.name}.prev-{n}").exists():
      n += 1
    stale = workdir.rename(workdir.with_name(f"{workdir.name}.prev-{n}"))
    print(f"The cached {kind} in {stale.with_name(workdir.name)} was trained with another config; "
          f"moved it to {stale} and retraining.", flush=True)
  if done.exists():
    metrics = json.loads(done.read_text())
    print(f"Using the trained {kind} in {workdir} ({_summary(metrics)}).", flush=True)
    return workdir
  print(f"Training the {kind} evaluator at {image_size} px on {config.data.name} into {workdir} "
        f"(first use, {config.num_train_steps} steps; a few minutes on a CPU at 64 px; it is "
        "reused afterwards)...", flush=True)
  sources = pipeline.load(config.data)
  metrics = supervised.run(config, workdir, "train", sources)  # trains, then evaluates
  print(f"Trained the {kind} evaluator in {workdir} ({_summary(metrics)}).", flush=True)
  return workdir


def _same_training(saved: dict, current: dict) -> bool:
  """Whether a cached evaluator's settings are the current ones. A key that a later fxs_jax added
  to ``model`` or ``optim`` (absent from the saved config) is left out: the cached evaluator was
  trained without it, which is what its default means (e.g. ``optim.ema_decay`` 0)."""
  for section in ("model", "optim"):
    current = {**current, section: {k: v for k, v in current[section].items()
                                     if k in saved[section]}}
  return saved == current


def _comparable(config: ml_collections.ConfigDict) -> dict:
  """What makes two evaluators the same (not where the data lives, nor reader threads)."""
  d = json.loads(config.to_json_best_effort(sort_keys=True))
  return {"model": d["model"], "optim": d["optim"], "data": d["data"]["name"],
          "batch_size": d["data"]["batch_size"], "steps": d["num_train_steps"], "seed": d["seed"]}


def _summary(metrics: dict) -> str:
  if "accuracy" in metrics:
    return f"held-out accuracy {metrics['accuracy']:.3f}"
  return f"held-out AU MAE {metrics['au_mae']:.3f} on the 0-5 scale"
