"""What a plain install holds: every package (fxs_jax and the TFDS builders as fxs_jax_datasets),
and the command line loading a config file by its path from any folder. ``.ci/wheel_check.sh``
installs the built wheel in a fresh venv and runs it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fxs_jax import config_upgrade
from fxs_jax.data import builders

REPO = Path(__file__).resolve().parents[1]


def _packages_on_disk() -> set[str]:
  """Every folder holding an __init__.py, as the name it installs under."""
  found = set()
  for folder, name in (("fxs_jax", "fxs_jax"), ("datasets", "fxs_jax_datasets")):
    for init in (REPO / folder).rglob("__init__.py"):
      parts = init.parent.relative_to(REPO / folder).parts
      found.add(".".join((name, *parts)))
  return found


def test_pyproject_lists_every_package():
  tomllib = pytest.importorskip("tomllib")  # Python 3.11+
  setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
  listed = set(setuptools["packages"])
  assert listed == _packages_on_disk(), (
      "add the missing packages to [tool.setuptools] packages in pyproject.toml: "
      f"{sorted(_packages_on_disk() - listed)}; or drop {sorted(listed - _packages_on_disk())}")
  assert setuptools["package-dir"]["fxs_jax_datasets"] == "datasets"


def test_checkout_uses_its_own_builders(monkeypatch):
  monkeypatch.delenv("FXS_JAX_DATASETS_DIR", raising=False)
  assert builders.datasets_dir() == REPO / "datasets"


def test_config_roots_are_the_folders_holding_configs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  given = ["prog", f"--config={REPO}/configs/ganimation.py:smoke", "--workdir=w",
           "--config", "other/configs/x.py", "--config.seed=1"]
  assert config_upgrade.config_roots(given) == [REPO, tmp_path / "other"]


def test_main_loads_a_config_by_path_from_any_folder(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "fxs_jax.main", f"--config={REPO / 'configs' / 'ganimation.py'}:smoke",
       "--config.data.batchsize=4", f"--workdir={tmp_path / 'w'}"],
      cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}, capture_output=True, text=True,
      timeout=300, check=False)
  # The config (and its `from configs import common`) loaded: the typo is the error.
  assert done.returncode != 0 and 'Did you mean "batch_size"' in done.stderr, done.stderr[-2000:]
