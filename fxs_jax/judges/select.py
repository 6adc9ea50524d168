"""Which judge an evaluation uses: shipped, or trained on first use and cached.

``judge`` gives the AU regressor / expression classifier an evaluation uses: by default
(``config.eval.judges = "shipped"``) the fixed, versioned ones shipped for SynthFaces at 64 px
(``fxs_jax.judges.shipped``); for other data, other sizes or ``judges = "train"``,
``ensure_trained`` trains the default (the shipped judge's own config, which is
``configs/<kind>.py``'s; networks in ``fxs_jax.judges.nets``) on first use into a cache directory
and reuses it afterwards, as datasets are built on first use. Either way the judge carries a
version for ``eval.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import ml_collections

from fxs_jax import config_upgrade
from fxs_jax import provenance
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.judges import shipped
from fxs_jax.judges import training
from fxs_jax.judges.nets import KINDS

__all__ = ["JUDGE_SOURCES", "KINDS", "default_cache_dir", "default_config", "ensure_trained",
           "judge", "judge_source", "judged_data", "same_training", "trained_judge",
           "trained_version"]

JUDGE_SOURCES = ("shipped", "train")  # config.eval.judges


def default_cache_dir() -> Path:
  """``$FXS_JAX_EVALUATOR_DIR`` or ``~/.cache/fxs_jax/evaluators``."""
  env = os.environ.get("FXS_JAX_EVALUATOR_DIR")
  return Path(env).expanduser() if env else Path("~/.cache/fxs_jax/evaluators").expanduser()


def default_config(kind: str, image_size: int, dataset: str | None = None,
                   data_dir: str | None = None, framing: str = "") -> ml_collections.ConfigDict:
  """The default ``kind`` judge's config (``configs/<kind>.py``'s, as shipped with the package's
  judges: ``shipped.default_config``), retargeted to ``image_size`` and ``dataset`` (its faces
  framed by ``framing``, "" = the dataset's own)."""
  config = shipped.default_config(kind)
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
  ``training.load_evaluator(None, workdir)``.
  """
  config = default_config(kind, image_size, dataset, data_dir, framing)
  suffix = "" if dataset in (None, f"synth_faces/stills_{int(image_size)}") else (
      "_" + dataset.replace("/", "_"))
  suffix += f"_{framing}" if framing else ""
  workdir = Path(cache_dir or default_cache_dir()).expanduser() / f"{kind}_{image_size}{suffix}"
  saved, done = workdir / "config.json", workdir / "eval.json"
  if saved.exists() and not same_training(
      config_upgrade.upgrade(json.loads(saved.read_text())), config):
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
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "provenance.json").write_text(json.dumps(
      provenance.record(config, f"configs/{kind}.py"), indent=2))
  metrics = training.run(config, workdir, "train", sources)  # trains, then evaluates
  print(f"Trained the {kind} evaluator in {workdir} ({_summary(metrics)}).", flush=True)
  return workdir


def judge_source(config: ml_collections.ConfigDict, image_size: int) -> Path | None:
  """The folder of the shipped judges an evaluation of ``config`` at ``image_size`` px uses, or
  None: train them (``config.eval.judges = "train"``, or no shipped judge fits the judged data,
  which is then said in one printed line)."""
  choice = config.eval.judges
  if choice not in JUDGE_SOURCES:
    raise UserError(f"config.eval.judges={choice!r} is not a judge source: choose shipped (the "
                    "fixed SynthFaces judges) or train (trained on first use).")
  if choice == "train":
    return None
  dataset, _ = judged_data(config)
  folder, why_not = shipped.find(dataset, image_size)
  if folder is None:
    print(f"No shipped judges for this evaluation ({why_not}): training them on first use "
          "(--config.eval.judges=train does so without this line).", flush=True)
  return folder


def judged_data(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """``(dataset, framing)`` of the images the judges read and are trained on."""
  dataset = config.eval.evaluator_dataset or config.data.name
  # Judges trained on the run's own data see its faces framed as the run does.
  framing = "" if config.eval.evaluator_dataset else config.data.framing
  return dataset, framing


def judge(kind: str, config: ml_collections.ConfigDict, image_size: int,
          folder: Path | None) -> shipped.Judge:
  """The ``kind`` judge of an evaluation of ``config``: shipped in ``folder``
  (:func:`judge_source`), or, with None, trained on the judged data on first use (which may
  raise ``DatasetError`` when that data cannot train it)."""
  if folder is not None:
    return shipped.load(kind, folder)
  dataset, framing = judged_data(config)
  workdir = ensure_trained(kind, image_size, config.data.data_dir or None,
                           config.eval.evaluator_dir or None, dataset=dataset, framing=framing)
  return trained_judge(kind, workdir)


def trained_judge(kind: str, workdir: str | os.PathLike) -> shipped.Judge:
  """The judge trained in ``workdir`` (by :func:`ensure_trained`), with its version (a hash of
  the settings that make two trained judges the same), workdir, step and held-out quality."""
  workdir = Path(workdir)
  saved = config_upgrade.upgrade(json.loads((workdir / "config.json").read_text()))
  predict, step = training.load_evaluator(saved, workdir)
  features, _ = training.load_evaluator(saved, workdir, features=True)
  quality = json.loads((workdir / "eval.json").read_text())
  split = quality.get("split") or saved.data.eval_split
  record = {"version": trained_version(saved), "source": "trained", "workdir": str(workdir),
            "step": step, "held_out": {split: shipped.headline(quality)}}
  return shipped.Judge(kind, predict, features, record)


def trained_version(config: ml_collections.ConfigDict) -> str:
  """``trained-<hash>``: two judges of one kind trained with the same model, optimiser, data,
  batch size, steps and seed (``_comparable``) get the same version, wherever they were trained."""
  comparable = json.dumps({"kind": config.model_name, **_comparable(config)}, sort_keys=True)
  return f"trained-{hashlib.sha256(comparable.encode()).hexdigest()[:10]}"


def same_training(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict) -> bool:
  """Whether an evaluator trained with the ``saved`` config is the one ``config`` trains."""
  return _same_training(_comparable(saved), _comparable(config))


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
