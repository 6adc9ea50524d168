"""Copies a run's ``eval.json`` into the committed results, where the published tables read it.

  python experiments/collect_result.py --workdir=W --name=ganimation_demo [--split=test]
      [--train_seconds=S] [--allow_dirty] [--replace]
  python experiments/collect_result.py --workdir=fxs_jax/pretrained/synthfaces/ganimation \
      --name=bundle_ganimation       # a bundle: its eval.json from experiments/eval_bundle.py

Writes ``experiments/results/<name>/<split>/seed<N>.json``, one file per (run, split, training
seed), with N the eval's seed. Its content is ``W/eval.json`` as ``--mode=eval`` wrote it, plus
the training run's record and the run's name::

  {
    "run": "ganimation_demo",            # the folder name
    "split": "test", "seed": 0,          # the eval's split and config seed (= the path's)
    "step": 1100,                        # the checkpoint evaluated
    "model": "ganimation", "dataset": "synth_faces/stills_64", "num_pairs": 480,
    "rows": [{"method": "model", "metric": "ssim_vs_truth", "value": 0.96, "n": 480}, ...],
    "evaluators": {"expression_classifier": {"version": "...", "source": "shipped",
                                             "held_out": {...}}, ...},
    "skipped": {"fid": "why"}, "evals": {"pairs": "pairs"},
    "provenance": {"commit": "b3f0c90", "dirty": false, "config": "configs/ganimation.py:demo",
                   "overrides": {...}, "seed": 0, "argv": [...], "time": "...", "machine": "..."},
    "training": {
      "provenance": [{"commit": ..., "dirty": ..., "config": ..., "overrides": ..., "seed": ...,
                      ...}],               # W/provenance.json: one entry per start or resume
      "train_seconds": 712.0              # --train_seconds, or null when not known
    }
  }

A bundled model (a folder with ``fxs_jax_export.json`` and no ``provenance.json``) stands in its
manifest for the training record: ``{"bundle": true, "command", "eval_command", "step",
"exported_from", "exported_at", "seed"}``.

Refused, in one line, with nothing written: an ``eval.json`` without its split, seed, rows or
provenance (commit), a network judge (``JUDGES``) without a version, a ``W/provenance.json``
missing or naming another seed, a commit with uncommitted changes (eval or training; unless
``--allow_dirty``), a split other than ``--split`` (the folder it goes to), results that cannot be
one run's seeds with those already in the folder (other data, pairs, config, judges or reference
rows), and a different result already at the path (unless ``--replace``; an identical one is left
as it is). ``experiments/results/README.md`` says the same for readers of the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import result_tables  # pylint: disable=g-import-not-at-top,wrong-import-position
from fxs_jax.errors import UserError  # pylint: disable=g-import-not-at-top,wrong-import-position

JUDGES = ("au_regressor", "expression_classifier")  # trained networks: each needs a version
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")


def _read_json(path: Path, what: str):
  try:
    return json.loads(path.read_text())
  except FileNotFoundError as e:
    raise UserError(f"{path} does not exist: {what}.") from e
  except (OSError, ValueError) as e:
    raise UserError(f"{path} cannot be read as JSON ({e}): {what}.") from e


def _dirty(record: dict) -> bool:
  return bool(record.get("dirty"))


def _bundle_training(manifest_path: Path, seed: int) -> dict:
  """A bundle's training record: its manifest's command, step and source run (a bundle keeps no
  provenance.json; its config's seed is the training seed)."""
  manifest = _read_json(manifest_path, "an exported model's manifest")
  return {"bundle": True, "command": manifest.get("command", ""),
          "eval_command": manifest.get("eval_command", ""), "step": manifest.get("step"),
          "exported_from": manifest.get("exported_from", ""),
          "exported_at": manifest.get("exported_at", ""), "seed": seed}


def checked(workdir: Path, split: str, allow_dirty: bool) -> tuple[dict, list]:
  """``W/eval.json`` and ``W/provenance.json``, or a UserError naming what is missing."""
  path = workdir / "eval.json"
  result = _read_json(path, "run python -m fxs_jax.main ... --mode=eval --split=test on the "
                            "workdir first")
  rerun = "re-run --mode=eval with the current code"
  if not isinstance(result, dict):
    raise UserError(f"{path} is not an eval.json (not a JSON object).")
  for key in ("split", "seed", "provenance", "rows"):
    if key not in result:
      raise UserError(f"{path} has no {key!r} (written by older code): {rerun}.")
  if not result["rows"]:
    raise UserError(f"{path} has no rows: enable an evaluator in config.evals and {rerun}.")
  if result["split"] != split:
    raise UserError(f"{path} was evaluated on the {result['split']!r} split, not {split!r}: "
                    f"re-run --mode=eval --split={split}, or pass --split={result['split']}.")
  if not result["provenance"].get("commit"):
    raise UserError(f"{path} records no commit (run outside a git checkout): {rerun} from a "
                    "checkout.")
  for name in JUDGES:
    info = result.get("evaluators", {}).get(name)
    if info is not None and not (isinstance(info, dict) and info.get("version")):
      raise UserError(f"{path}: the {name} judge has no version (judged before judges were "
                      f"versioned): {rerun}.")
  manifest = workdir / "fxs_jax_export.json"
  if manifest.is_file() and not (workdir / "provenance.json").exists():
    training = [_bundle_training(manifest, result["seed"])]  # an exported (bundled) model
  else:
    training = _read_json(workdir / "provenance.json",
                          "the training run's record (written by --mode=train) is needed")
  if not isinstance(training, list) or not training:
    raise UserError(f"{workdir / 'provenance.json'} holds no training record: train the run "
                    "with the current code.")
  trained_seed = training[-1].get("seed")
  if trained_seed != result["seed"]:
    raise UserError(f"{path} was evaluated with seed {result['seed']} but the run trained with "
                    f"seed {trained_seed}: re-run --mode=eval with --config.seed={trained_seed}.")
  if not allow_dirty:
    if _dirty(result["provenance"]):
      raise UserError(f"{path} was evaluated at {result['provenance']['commit']} with "
                      "uncommitted changes: commit them and re-run --mode=eval, or pass "
                      "--allow_dirty.")
    if any(_dirty(entry) for entry in training):
      raise UserError(f"{workdir / 'provenance.json'}: the run trained with uncommitted changes "
                      "(its commit does not describe the code): retrain from a commit, or pass "
                      "--allow_dirty.")
  return result, training


def collect(workdir: Path, name: str, split: str = "test", train_seconds: float | None = None,
            allow_dirty: bool = False, replace: bool = False,
            results_dir: Path = result_tables.RESULTS_DIR) -> tuple[Path, str]:
  """Writes the result file; returns its path and what happened ("written", "replaced",
  "unchanged")."""
  if not _NAME.fullmatch(name):
    raise UserError(f"--name={name!r}: use lower-case letters, digits and _ (e.g. "
                    "ganimation_demo).")
  workdir = Path(workdir).expanduser()
  result, training = checked(workdir, split, allow_dirty)
  record = {**result, "run": name,
            "training": {"provenance": training, "train_seconds": train_seconds}}
  record = json.loads(json.dumps(record))  # what the file will read back as (e.g. tuples)
  path = Path(results_dir) / name / split / f"seed{result['seed']}.json"
  try:
    others = [r for r in result_tables.load(name, split, results_dir)
              if r["seed"] != result["seed"]]
    result_tables.check_comparable(others + [record], name)
  except ValueError as e:
    raise UserError(f"{e} Collect it under another --name.") from e
  status = "written"
  if path.exists():
    if _read_json(path, "an existing result") == record:
      return path, "unchanged"
    if not replace:
      raise UserError(f"{path} already holds a different result for seed {result['seed']}: "
                      "pass --replace to overwrite it.")
    status = "replaced"
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w") as f:
      f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return path, status


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--workdir", required=True, type=Path, help="the run's workdir")
  parser.add_argument("--name", required=True, help="the results folder, e.g. ganimation_demo")
  parser.add_argument("--split", default="test", help="the split folder (default test); the "
                      "eval must be on it")
  parser.add_argument("--train_seconds", type=float, default=None,
                      help="wall time of the training, if known")
  parser.add_argument("--allow_dirty", action="store_true",
                      help="accept a run made with uncommitted changes (recorded as such)")
  parser.add_argument("--replace", action="store_true",
                      help="overwrite a different result for the same seed")
  parser.add_argument("--results_dir", type=Path, default=result_tables.RESULTS_DIR,
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  try:
    path, status = collect(args.workdir, args.name, args.split, args.train_seconds,
                           args.allow_dirty, args.replace, args.results_dir)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  try:
    shown = path.relative_to(result_tables.ROOT)
  except ValueError:
    shown = path
  print(f"{shown}: {status}; python experiments/doc_tables.py regenerates the published tables.")
  return 0


if __name__ == "__main__":
  sys.exit(main())
