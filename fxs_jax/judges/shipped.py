"""The fixed, versioned SynthFaces judges shipped inside the package.

``fxs_jax/pretrained/judges/<name>/<kind>/`` holds one judge (``kind`` an AU regressor or an
expression classifier): ``params.npz`` (its float32 arrays by parameter path), ``config.json``
(the config that trained it) and ``judge.json`` (version, what it was trained on, its held-out
quality on validation and test, the commit and the command that made it). Trained once by
``python experiments/train_judges.py``; an evaluation on any machine reads the same weights, so
its numbers are comparable across machines. Which data each folder judges is ``SHIPPED``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
import numpy as np

from fxs_jax.judges import training
from fxs_jax.judges.nets import KINDS
from fxs_jax.train import saved_files
from fxs_jax.train.checkpoint import check_same_shapes
from fxs_jax.train.checkpoint import CONFIG_SCHEMA
from fxs_jax.train.checkpoint import path_name

JUDGES_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "judges"
PARAMS_FILE, CONFIG_FILE, JUDGE_FILE = "params.npz", "config.json", "judge.json"
# The judged data -> (folder under JUDGES_DIR, image size). Stills, transfer pairs and sequences
# at 64 px come from one renderer in one framing: the judges trained on the stills read all three
# (train_judges.py measures them on fresh transfer and sequence frames; judge.json keeps it).
SHIPPED = {f"synth_faces/{kind}_64": ("synthfaces_64", 64)
           for kind in ("stills", "transfer", "sequences")}
VERSION_PREFIX = {"synthfaces_64": "synthfaces64"}
MAX_PARAMS_BYTES = 64 << 20  # a judge holds about 3 MB
JUDGE_SCHEMA = {"version": str, "kind": str, "image_size": int, "step": int,
                "params_sha256": str, "trained_on": {"dataset": str, "tfds_version": str,
                                                     "split": str},
                "held_out": {"validation": dict, "test": dict}, "commit": str, "command": str}
_FIX = ("reinstall fxs_jax, or rewrite the judges with `python experiments/train_judges.py`; "
        "--config.eval.judges=train trains them instead")

PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Judge:
  """A loaded judge: ``predict`` ((B, H, W, 3) in [-1, 1] -> AUs on 0-5 or logits),
  ``features`` (what its head reads) and ``record`` (what ``eval.json`` keeps of it)."""

  kind: str
  predict: PredictFn
  features: PredictFn
  record: dict


def find(dataset: str, image_size: int) -> tuple[Path | None, str]:
  """``(folder, "")`` of the shipped judges for ``image_size`` px images of ``dataset``, or
  ``(None, why there are none)``."""
  name, size = SHIPPED.get(dataset, (None, None))
  if name is None:
    return None, (f"the shipped judges read SynthFaces at 64 px ({', '.join(sorted(SHIPPED))}), "
                  f"not {dataset}")
  if int(image_size) != size:
    return None, f"the shipped judges for {dataset} read {size} px images, not {image_size} px"
  folder = JUDGES_DIR / name
  missing = [k for k in KINDS if not (folder / k / JUDGE_FILE).is_file()]
  if missing:
    return None, f"{folder / missing[0]} is missing from this installation"
  return folder, ""


def sha256(path: Path) -> str:
  return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=8)  # one compile per judge and process, however often eval asks
def load(kind: str, folder: str | Path = JUDGES_DIR / "synthfaces_64") -> Judge:
  """The shipped ``kind`` judge in ``folder`` (a ``BadFile`` naming the file and the fix if a file
  is damaged or does not match ``judge.json``)."""
  directory = Path(folder) / kind
  info = saved_files.read_json(directory / JUDGE_FILE, JUDGE_SCHEMA, "an fxs_jax judge", _FIX)
  config_path = directory / CONFIG_FILE
  config = ml_collections.ConfigDict(saved_files.read_json(
      config_path, CONFIG_SCHEMA, "an fxs_jax config", _FIX))
  if not kind == info["kind"] == config.model_name:
    raise saved_files.BadFile(f"{directory} holds a {info['kind'][:40]!r} judge with a "
                              f"{config.model_name[:40]!r} config, not a {kind}: {_FIX}.")
  if info["image_size"] != config.model.image_size:
    raise saved_files.BadFile(f"{directory / JUDGE_FILE} says {info['image_size']} px but "
                              f"{config_path} builds {config.model.image_size} px: {_FIX}.")
  params_path = directory / PARAMS_FILE
  if params_path.is_file() and sha256(params_path) != info["params_sha256"]:
    raise saved_files.BadFile(f"{params_path} is not the file {directory / JUDGE_FILE} "
                              f"describes (sha256 differs): {_FIX}.")
  trainer = training.SupervisedTrainer(config)
  saved = saved_files.read_npz(params_path, _FIX, MAX_PARAMS_BYTES)
  abstract = trainer.abstract_state.params
  paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  names = [path_name(p) for p, _ in paths_leaves]
  check_same_shapes({n: tuple(leaf.shape) for n, (_, leaf) in zip(names, paths_leaves)},
                    {n: tuple(a.shape) for n, a in saved.items()}, f"The judge in {directory}")
  params = jax.tree_util.tree_unflatten(treedef, [
      jax.device_put(np.asarray(saved[n], leaf.dtype), leaf.sharding)
      for n, (_, leaf) in zip(names, paths_leaves)])
  state = training.SupervisedState(step=np.int32(info["step"]), params=params, opt_state=None)
  record = {"version": info["version"], "source": "shipped",
            "held_out": {split: headline(m) for split, m in info["held_out"].items()}}
  return Judge(kind, trainer.predict_fn(state), trainer.predict_fn(state, features=True), record)


def default_config(kind: str) -> ml_collections.ConfigDict:
  """The config the default ``kind`` judge trains with: the shipped judge's own (which is
  ``configs/<kind>.py``'s ``get_config()``, checked by the tests), unlocked for retargeting."""
  if kind not in KINDS:
    raise ValueError(f"Unknown judge {kind!r}; expected one of {KINDS}.")
  path = JUDGES_DIR / "synthfaces_64" / kind / CONFIG_FILE
  return ml_collections.ConfigDict(saved_files.read_json(path, CONFIG_SCHEMA, "an fxs_jax config",
                                                         _FIX))


def headline(metrics: dict) -> dict:
  """The numbers of an evaluator's held-out metrics that ``eval.json`` repeats."""
  return {k: metrics[k] for k in ("accuracy", "au_mae", "num_examples") if k in metrics}


def write(directory: Path, config: ml_collections.ConfigDict, params, info: dict) -> Path:
  """Writes one judge (``params``: its nnx.State of parameters) into the new ``directory``:
  float32 arrays by parameter path, the config and ``judge.json`` (``info`` plus the step-free
  fields this function knows: kind, image size, the arrays' sha256)."""
  arrays = {path_name(p): np.asarray(jax.device_get(leaf), np.float32)
            for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  directory.mkdir(parents=True)
  np.savez(directory / PARAMS_FILE, **arrays)
  (directory / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2, sort_keys=True))
  info = {"kind": config.model_name, "image_size": int(config.model.image_size),
          "num_params": int(sum(a.size for a in arrays.values())),
          "params_sha256": sha256(directory / PARAMS_FILE), **info}
  (directory / JUDGE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))
  return directory
