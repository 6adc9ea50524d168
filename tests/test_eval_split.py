"""Which split an eval reads: validation by default (where choices are made), ``--split=test``
to report; recorded in eval.json with the seed, the overrides and the commit, and never a reason
to rewrite the workdir's config.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from configs import ganimation as ganimation_config
from fxs_jax import run
from fxs_jax.errors import UserError
from fxs_jax.eval import suite

ROOT = Path(__file__).resolve().parents[1]
# synth_faces/stills_smoke: 6 train identities (0-5), then 2 test (6-7), then 2 validation (8-9)
VALIDATION_IDS = {8, 9}
SEED = 3


# The command line of the same config (the eval's ACD-I, dlib's face embedding, is off: seconds).
FLAGS = ("--config=configs/ganimation.py:smoke", f"--config.seed={SEED}",
         "--config.eval.identity=False")


def _config(tfds_dir):
  config = ganimation_config.get_config("smoke")
  config.data.data_dir = str(tfds_dir)
  config.seed = SEED
  config.eval.identity = False
  return config


def _main(*args):
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT,
                        env=dict(os.environ), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir, smoke_stills):
  """A workdir with the 2-step GANimation smoke trained (seed 3) on the session's data."""
  del smoke_stills  # built
  workdir = tmp_path_factory.mktemp("eval_split") / "w"
  run.run(_config(tfds_dir), str(workdir), "train")
  return workdir


@pytest.fixture
def identities_read(monkeypatch):
  """The identities of the source each eval hands its evaluators, in call order."""
  seen = []
  original = suite.run_evals

  def spy(ctx, *args, **kwargs):
    seen.append({int(ctx.source[i]["identity"]) for i in range(len(ctx.source))})
    return original(ctx, *args, **kwargs)

  monkeypatch.setattr(suite, "run_evals", spy)
  return seen


def test_eval_reads_validation_by_default(trained, tfds_dir, identities_read):
  config = _config(tfds_dir)
  assert config.data.eval_split == "validation"
  run.run(config, str(trained), "eval")
  result = json.loads((trained / "eval.json").read_text())
  assert (result["split"], result["seed"]) == ("validation", SEED)
  assert identities_read == [VALIDATION_IDS]


def test_eval_on_test_reads_test_and_records_split_seed_overrides_and_commit(trained, tfds_dir):
  """``--split=test`` through the command line: it loads test (48 train and 16 test stills:
  2 identities x 8 emotions), writes it into eval.json with the provenance, and leaves the
  training config as it was."""
  config_json = (trained / "config.json").read_text()
  proc = _main(*FLAGS, f"--config.data.data_dir={tfds_dir}", f"--workdir={trained}",
               "--mode=eval", "--split=test")
  assert proc.returncode == 0, proc.stderr
  assert "synth_faces/stills_smoke ready (train: 48, test: 16 examples)" in proc.stdout
  result = json.loads((trained / "eval.json").read_text())
  assert (result["split"], result["seed"], result["num_pairs"]) == ("test", SEED, 8)
  provenance = result["provenance"]
  assert provenance["seed"] == SEED
  assert provenance["overrides"] == {"data.data_dir": str(tfds_dir), "seed": SEED,
                                     "eval.identity": False}
  assert provenance["config"].endswith("configs/ganimation.py:smoke")
  head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                        text=True, check=False).stdout.strip()
  assert provenance["commit"] == head and isinstance(provenance["dirty"], bool)
  assert "--split=test" in provenance["argv"]
  # The training config stays: --split is the eval's, not a change to the run.
  assert (trained / "config.json").read_text() == config_json
  assert not list(trained.glob("config.prev-*.json"))


def test_split_with_train_is_a_one_line_error(tmp_path, tfds_dir):
  with pytest.raises(UserError, match="--split applies to --mode=eval"):
    run.run(_config(tfds_dir), str(tmp_path / "w"), "train", split="test")
  proc = _main(*FLAGS, f"--workdir={tmp_path / 'w'}", "--split=test")
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr
  assert lines[0].startswith("error: --split applies to --mode=eval and --mode=generate")
  assert not (tmp_path / "w").exists()  # nothing written
