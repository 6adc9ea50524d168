"""cGAN transfer recipe: landmark errors by hand, input checks, and the main command's smoke run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from configs import cgan_transfer as cgan_config
from fxs_jax import geometry
from fxs_jax.errors import UserError
from fxs_jax.recipes import cgan_transfer as recipe_lib

ROOT = Path(__file__).resolve().parents[2]


def _recipe(arg="smoke", **model):
  config = cgan_config.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.CGANTransfer(config)


def test_landmark_nme_and_the_moved_source_by_hand():
  truth = np.zeros((1, 68, 2), np.float32)
  truth[0, 36], truth[0, 45] = (0.0, 0.0), (10.0, 0.0)  # inter-ocular distance 10
  predicted = truth + np.array([3.0, 4.0], np.float32)  # every point 5 px off
  np.testing.assert_allclose(geometry.landmark_nme(jnp.asarray(predicted), jnp.asarray(truth)),
                             [0.5], rtol=1e-6)
  rng = np.random.default_rng(0)
  target = rng.uniform(5, 25, (2, 68, 2)).astype(np.float32)
  source = 2.5 * (target - target.mean(1, keepdims=True)) + np.array([7.0, -3.0], np.float32)
  np.testing.assert_allclose(geometry.moved_to(jnp.asarray(source), jnp.asarray(target)),
                             target, atol=1e-4)  # same shape: moved and scaled onto the target


def test_bad_settings_and_transfer_inputs_are_explained():
  for key, value, match in (("variant", "stargan", "model.variant"),
                            ("gan_loss", "wgan", "model.gan_loss"),
                            ("keypoint_kind", "dots", "model.keypoint_kind"),
                            ("encoder", "graph", "model.encoder")):
    with pytest.raises(UserError, match=match):
      _recipe(**{key: value})
  recipe = _recipe()
  faces = np.zeros((2, 32, 32, 3), np.uint8)
  lms = np.full((2, 68, 2), 16.0, np.float32)
  batch = recipe.transfer_inputs(faces, faces, lms, lms)
  assert batch["source_image"].dtype == np.float32 and batch["target_landmarks"].shape == (2, 68, 2)
  cases = [((np.zeros((2, 64, 64, 3), np.uint8), faces, lms, lms), "64x64 px; this model"),
           ((faces, faces[:1], lms, lms), "as many source as target"),
           ((faces, faces, None, lms), "needs source_landmarks"),
           ((faces, faces, lms, np.full((2, 68, 2), np.nan)), "no face found"),
           ((faces, faces, lms, lms[:, :5]), "68 finite")]
  for args, match in cases:
    with pytest.raises(UserError, match=match) as info:
      recipe.transfer_inputs(*args)
    assert "\n" not in str(info.value)
  pix2pix = _recipe("pix2pix,smoke")
  assert set(pix2pix.transfer_inputs(faces, faces)) == {"source_image", "target_image"}


def _main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def test_main_smoke_trains_evaluates_and_generates(tmp_path, tfds_dir):
  common = ("--config=configs/cgan_transfer.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={tmp_path / 'w'}")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  metrics = (tmp_path / "w" / "metrics.jsonl").read_text()
  rows = [json.loads(line) for line in metrics.splitlines()]
  logged = {k: v for row in rows for k, v in row.items()}
  for name in ("critic/adversarial", "gen/l1", "gen/landmark", "eval/landmark_nme"):
    assert np.isfinite(logged[name]), name
  proc = _main(*common, "--mode=eval", "--config.eval.identity=False")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp_path / "w" / "eval.json").read_text())
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert values["copy_input", "error_where_kept"] < 1e-3  # copy-the-target keeps B's face
  assert {("model", "landmark_nme"), ("copy_input", "landmark_nme"),
          ("source_moved", "landmark_nme")} <= set(values)
  # Two files of one's own: 64 px images (resized to the model's 32), landmarks in .npy / text.
  from PIL import Image
  rng = np.random.default_rng(0)
  files = {}
  for role in ("source", "target"):
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / f"{role}.png")
    files[role] = rng.uniform(16, 48, (68, 2))
  np.save(tmp_path / "source.npy", files["source"])
  np.savetxt(tmp_path / "target.txt", files["target"])
  chosen = [f"--config.generate.{role}_{kind}={tmp_path / role}.{ext}"
            for role, ext2 in (("source", "npy"), ("target", "txt"))
            for kind, ext in (("image", "png"), ("landmarks", ext2))]
  proc = _main(*common, "--mode=generate", *chosen)
  assert proc.returncode == 0, proc.stderr
  out = tmp_path / "w" / "generate_step_2"
  grid = np.asarray(Image.open(out / "transfers.png"))
  # 6 rows (config.generate.num_images) x 5 columns of 32 px tiles, 2 px padding.
  assert grid.shape == (6 * 32 + 7 * 2, 5 * 32 + 6 * 2, 3)
  grid = np.asarray(Image.open(out / "transfers_files.png"))
  assert grid.shape == (32 + 2 * 2, 4 * 32 + 5 * 2, 3)  # source | target | J_gen | output
