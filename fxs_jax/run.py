"""What ``main`` runs: prepare the work directory and the data, then hand over to the recipe."""

from __future__ import annotations

import os
from pathlib import Path

import ml_collections

from fxs_jax import recipes
from fxs_jax.data import pipeline
from fxs_jax.errors import WorkdirError

MODES = ("train", "eval", "generate")


def prepare_workdir(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> Path:
  """Creates ``workdir`` if needed, checks it is writable and saves the config beside the run.

  A different config already saved there is kept as ``config.prev-N.json``, never overwritten.
  """
  path = Path(workdir).expanduser()
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / ".write_test"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise WorkdirError(
        f"Cannot write to workdir {str(path)!r} ({e.strerror or e}): pass a writable --workdir."
    ) from e
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  saved = path / "config.json"
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
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
  path = prepare_workdir(workdir, config)
  sources = pipeline.load(config.data)
  sizes = ", ".join(f"{split}: {len(src)}" for split, src in sources.items())
  print(f"Data {config.data.name} ready ({sizes} examples).", flush=True)
  recipe = recipes.RECIPES.get(config.model_name)
  if recipe is None:
    print(f"Model {config.model_name!r} is not implemented yet; implemented models: "
          f"{', '.join(sorted(recipes.RECIPES)) or 'none so far'}. Nothing to {mode}; "
          f"the workdir {path} holds the saved config.", flush=True)
    return
  recipe.run(config, path, mode, sources)
