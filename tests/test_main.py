"""The command line: one-line errors for bad input, the data step on the smoke config."""

import os
import subprocess
import sys
from pathlib import Path

import json

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _main(*args, env_extra=None, cwd=ROOT):
  env = dict(os.environ, **(env_extra or {}))
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300)


def _one_line_error(proc):
  assert proc.returncode != 0
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert "Traceback" not in proc.stderr, proc.stderr
  assert len(lines) == 1, proc.stderr
  return lines[0]


def test_unknown_variant(tmp_path):
  msg = _one_line_error(_main("--config=configs/ganimation.py:demoo", f"--workdir={tmp_path}"))
  assert "Unknown variant 'demoo'" in msg and "demo, demo_long, smoke" in msg


def test_typo_in_config_key(tmp_path):
  msg = _one_line_error(_main("--config=configs/ganimation.py:smoke",
                              "--config.data.batchsize=4", f"--workdir={tmp_path}"))
  assert "batchsize" in msg and 'Did you mean "batch_size"' in msg


def test_missing_config_file(tmp_path):
  msg = _one_line_error(_main("--config=configs/nope.py", f"--workdir={tmp_path}"))
  assert "nope.py" in msg


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  msg = _one_line_error(_main("--config=configs/ganimation.py:smoke",
                              f"--workdir={blocker / 'run'}"))
  assert "workdir" in msg and str(blocker) in msg


@pytest.mark.parametrize("key,value", [("compute.dtype", "float16"),
                                       ("compute.conv_impl", "winograd")])
def test_bad_compute_setting_stops_before_writing(tmp_path, key, value):
  msg = _one_line_error(_main("--config=configs/ganimation.py:smoke", f"--config.{key}={value}",
                              f"--workdir={tmp_path / 'w'}"))
  assert f"config.{key}" in msg and value in msg
  assert not (tmp_path / "w").exists()  # nothing written


def test_corrupt_dataset_folder(tmp_path, smoke_stills):
  # A copy of the built dataset with its data files truncated.
  import shutil
  data_dir = tmp_path / "tfds"
  src = Path(smoke_stills.data_dir)
  dst = data_dir / src.relative_to(Path(smoke_stills.data_dir).parents[2])
  shutil.copytree(src, dst)
  for f in dst.glob("*.array_record*"):
    f.write_bytes(b"garbage")
  msg = _one_line_error(_main("--config=configs/ganimation.py:smoke",
                              f"--config.data.data_dir={data_dir}", f"--workdir={tmp_path / 'w'}"))
  assert "unreadable" in msg and "Delete that folder" in msg
  # Nothing written was removed.
  assert all(f.read_bytes() == b"garbage" for f in dst.glob("*.array_record*"))


def test_smoke_train_then_eval_then_generate(tmp_path, tfds_dir, smoke_stills):
  workdir = tmp_path / "w"
  common = ("--config=configs/ganimation.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  assert "synth_faces/stills_smoke ready" in proc.stdout
  assert (workdir / "config.json").is_file() and (workdir / "samples" / "latest.png").is_file()
  assert (workdir / "checkpoints" / "2").is_dir()  # smoke: 2 steps
  assert list((workdir / "tb").glob("events.out.tfevents.*"))
  proc = _main(*common, "--mode=eval")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["step"] == 2 and result["num_pairs"] == 8
  rows = {(r["method"], r["metric"]): r for r in result["rows"]}
  for method in ("model", "copy_input", "ground_truth"):
    assert 0 < rows[method, "ssim_vs_truth"]["value"] <= 1 + 1e-6
    assert rows[method, "psnr_vs_truth"]["n"] == 8
  assert rows["ground_truth", "psnr_vs_truth"]["value"] == float("inf")  # identical images
  assert rows["ground_truth", "ssim_vs_truth"]["value"] == pytest.approx(1.0, abs=1e-5)
  assert ("model", "critic_au_mae_fake") in rows
  assert "fid, inception_score" in result["skipped"]  # no weights file given
  bogus = tmp_path / "inception.pth"
  bogus.write_bytes(b"not a checkpoint")
  msg = _one_line_error(_main(*common, "--mode=eval", f"--config.eval.inception_weights={bogus}"))
  assert str(bogus) in msg
  proc = _main(*common, "--mode=generate", "--config.generate.emotions=happy,sad",
               "--config.generate.aus=" + ",".join(["2.5"] * 17), "--config.generate.num_images=2")
  assert proc.returncode == 0, proc.stderr
  from PIL import Image
  edits = np.asarray(Image.open(workdir / "generate_step_2" / "edits.png"))
  # 2 rows x (input + 3 targets) columns of 32 px tiles with 2 px padding.
  assert edits.shape == (2 * 32 + 3 * 2, 4 * 32 + 5 * 2, 3)
  assert (workdir / "generate_step_2" / "interpolation.png").is_file()


def test_generate_without_checkpoint_and_bad_au_vector(tmp_path, tfds_dir, smoke_stills):
  common = ("--config=configs/ganimation.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={tmp_path}")
  msg = _one_line_error(_main(*common, "--mode=generate"))
  assert "No checkpoint" in msg and "train first" in msg
  msg = _one_line_error(_main(*common, "--mode=generate", "--config.generate.aus=1,2"))
  assert "has 2 values" in msg and "17" in msg


def test_changed_config_keeps_the_previous_one(tmp_path, tfds_dir, smoke_stills):
  workdir = tmp_path / "w"
  for lr in ("0.001", "0.002"):
    proc = _main("--config=configs/ganimation.py:smoke", f"--config.data.data_dir={tfds_dir}",
                 f"--config.optim.lr={lr}", f"--workdir={workdir}")
    assert proc.returncode == 0, proc.stderr
  assert '"lr": 0.002' in (workdir / "config.json").read_text()
  assert '"lr": 0.001' in (workdir / "config.prev-1.json").read_text()
