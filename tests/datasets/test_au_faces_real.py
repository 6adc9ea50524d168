"""GANimation's own data path on real faces: an ``au_faces`` set of real face crops with a
Python 2 ``aus_openface.pkl`` (``tests/real_photos.py``), framed as the crops they are; the
GANimation ``:smoke`` trains on it, and ``--mode=generate`` and ``--mode=eval`` run on it (no
same-identity pairs: the eval measures what needs no truth and says what it skipped)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import run
from fxs_jax.data import builders
from fxs_jax.faces import framing
from tests import real_photos
from tests.datasets.helpers import read_splits

ROOT = Path(__file__).resolve().parents[2]
NAME = "au_faces/smoke"


@pytest.fixture(scope="module")
def real_au_faces(tmp_path_factory):
  folder = tmp_path_factory.mktemp("au_faces_real")
  layout = real_photos.au_faces_layout(folder / "manual")
  data_dir = folder / "tfds"
  builder = builders.prepare(NAME, str(data_dir), manual_dir=str(layout.manual_dir))
  return layout, builder, data_dir


def test_face_crops_keep_filling_the_frame(real_au_faces):
  layout, builder, _ = real_au_faces
  report = json.loads((builder.data_path / "skipped.json").read_text())
  assert report["framing"] == "face_crop"
  rows = sum(read_splits(builder).values(), [])
  assert len(rows) == len(layout.stills)
  for row in rows:
    # The face box fills the crop as it filled the photo (a tight crop: about half its area),
    # not shrunk to SynthFaces' framing (about a quarter).
    assert framing.box_share(row["landmarks"], row["image"].shape) > 0.35
    # No stretched border: the outermost row and column differ from their inner neighbours as
    # much as any two neighbouring rows do (edge replication would make them equal).
    image = row["image"].astype(np.float64)
    step = np.abs(np.diff(image, axis=0)).mean()
    assert np.abs(image[-1] - image[-2]).mean() > 0.2 * step
    assert np.abs(image[:, 0] - image[:, 1]).mean() > 0.2 * step


def test_ganimation_smoke_trains_generates_and_evaluates(real_au_faces, tmp_path):
  _, _, data_dir = real_au_faces
  config = ganimation_config.get_config("smoke")
  config.data.name = NAME
  config.data.data_dir = str(data_dir)
  workdir = tmp_path / "workdir"
  run.run(config, str(workdir), "train")
  assert (workdir / "checkpoints" / "2").is_dir()
  config.generate.num_images = 2
  run.run(config, str(workdir), "generate")
  assert (workdir / "generate_step_2" / "edits.png").is_file()
  proc = subprocess.run(
      [sys.executable, "-m", "fxs_jax.main", "--config=configs/ganimation.py:smoke",
       f"--config.data.name={NAME}", f"--config.data.data_dir={data_dir}",
       f"--workdir={workdir}", "--mode=eval", "--config.evals.fer.enabled=True"],
      cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  assert "Traceback" not in proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  methods = {r["method"] for r in result["rows"]}
  metrics = {r["metric"] for r in result["rows"]}
  # What applies without a truth ran: the identity distance to the input, per method.
  assert methods == {"model", "copy_input", "target_example"} and "acd_i" in metrics
  # The real-face judge (FER2013) read every method's faces against the requested emotion.
  fer = {r["method"]: r for r in result["rows"] if r["metric"] == "fer_reads_target"}
  assert set(fer) == {"model", "copy_input", "target_example"}
  assert all(0 <= r["value"] <= 1 and r["n"] >= 1 for r in fer.values())
  copy = next(r for r in result["rows"] if r["method"] == "copy_input" and r["metric"] == "acd_i")
  assert copy["value"] == pytest.approx(0.0, abs=1e-6)  # the input against itself
  assert not metrics & {"ssim_vs_truth", "psnr_vs_truth", "ssim_mouth"}
  skipped = result["skipped"]
  (reason,) = [v for k, v in skipped.items() if "ssim_vs_truth" in k]
  assert reason.startswith("no true targets")
  assert skipped["au_mae"] == "config.eval.evaluators=False"
