"""Where a result came from: the code's commit, the command, the config's name, seed and overrides.

Written into ``eval.json`` (and ``provenance.json`` of a training run) so that every published
number can be traced to the code and command that produced it.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path

import ml_collections

_ROOT = Path(__file__).resolve().parents[1]


def source_commit() -> dict:
  """``{"commit": short hash, "dirty": bool}`` of the fxs_jax checkout the code runs from;
  ``{"commit": ""}`` for an installed copy outside a git checkout."""
  def git(*args: str) -> str:
    try:
      out = subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True,
                           check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
      return ""
    return out.stdout.strip() if out.returncode == 0 else ""
  commit = git("rev-parse", "--short", "HEAD")
  if not commit:
    return {"commit": ""}
  # The code and configs; a bundle's eval.json and manifest are what evaluating it writes, not code.
  changed = git("status", "--porcelain", "--untracked-files=no", "--", "fxs_jax", "configs",
                "datasets", ":(exclude,glob)fxs_jax/pretrained/**/eval.json",
                ":(exclude,glob)fxs_jax/pretrained/**/fxs_jax_export.json")
  return {"commit": commit, "dirty": bool(changed)}


def record(config: ml_collections.ConfigDict, config_source: str = "",
           overrides: dict | None = None) -> dict:
  """What made a run: the config file (with its variant), the command-line overrides, the seed,
  the data and the code's commit, plus when and on what."""
  return {
      "config": config_source, "overrides": dict(overrides or {}),
      "model": config.get("model_name", ""), "seed": int(config.get("seed", 0)),
      "dataset": config.data.get("name", "") if "data" in config else "",
      **source_commit(),
      "argv": list(sys.argv),
      "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "machine": _cpu_name(),
  }


def _cpu_name() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.partition(":")[2].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()
