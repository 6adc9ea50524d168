"""cGAN transfer recipe: landmark errors by hand, input checks, the CGAN baseline's losses by hand
and parameter counts, and the main command's smoke runs (the cGAN, the CGAN baseline)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import fxs_jax
from configs import cgan_transfer as cgan_config
from fxs_jax import geometry
from fxs_jax.errors import UserError
from fxs_jax.models import cgan_transfer as nets
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


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_cgan_baseline_is_pix2pix_with_a_keypoint_condition():
  """The CGAN baseline's networks are pix2pix's (whose U-Net count tests/models checks against
  the official formula) with the 5-channel keypoint image J in place of the 3-channel source
  image: 2 more input channels in the U-Net's and the critic's first 4x4 conv (64 filters)."""
  pix2pix = recipe_lib.CGANTransfer(cgan_config.get_config("pix2pix"))
  cgan = recipe_lib.CGANTransfer(cgan_config.get_config("cgan_baseline"))
  assert (cgan.title, pix2pix.title) == ("CGAN", "pix2pix")
  (g0, d0), (g1, d1) = (nnx.eval_shape(lambda r=r: r.build(nnx.Rngs(0)))
                        for r in (pix2pix, cgan))
  assert g1.fusion is None and _num_params(g1) == _num_params(g0) + 2 * 64 * 16
  assert _num_params(d1) == _num_params(d0) + 2 * 64 * 16
  m = cgan.config.model
  assert (m.lambda_l1, m.upsample, m.critic_norm, m.gan_loss) == (0.0, "transpose", "instance",
                                                                   "vanilla")


class _StubTransfer:
  """G(source, Ls, target, Lt): 0.5 target + 0.01 mean(Ls), condition channel c = Ls[c, x] / 32;
  records the landmarks it was given."""

  def __call__(self, source, source_lms, target, target_lms):
    self.given = source_lms
    cond = jnp.broadcast_to(source_lms[:, None, None, :5, 0] / 32.0, target.shape[:3] + (5,))
    image = 0.5 * target + 0.01 * jnp.mean(source_lms, (1, 2))[:, None, None, None]
    return nets.TransferOutput(image, cond, None)


def _stub_critic(image, cond):
  return (jnp.mean(image, (1, 2, 3)) + 2.0 * jnp.mean(cond, (1, 2, 3)))[:, None, None, None]


def test_cgan_baseline_losses_by_hand_on_the_moved_source():
  """Conditioned on the source's landmarks moved onto the target (``geometry.moved_to`` by
  hand), the conditional adversarial loss alone: no L1, no landmark term."""
  recipe = _recipe("cgan_baseline,smoke")
  rng = np.random.default_rng(0)
  batch = {k: rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
           for k in ("source_image", "target_image", "image")}
  for k in ("source_landmarks", "target_landmarks", "landmarks"):
    batch[k] = rng.uniform(1, 7, (2, 68, 2)).astype(np.float32)
  s = batch["source_landmarks"] - batch["source_landmarks"].mean(1, keepdims=True)
  t = batch["target_landmarks"] - batch["target_landmarks"].mean(1, keepdims=True)
  moved = (s * np.sqrt((t ** 2).sum((1, 2)) / (s ** 2).sum((1, 2)))[:, None, None]
           + batch["target_landmarks"].mean(1, keepdims=True))
  gen = _StubTransfer()
  total, terms = recipe.generator_loss(gen, _stub_critic, batch, None)
  np.testing.assert_allclose(gen.given, moved, rtol=1e-5)
  cond = np.broadcast_to(moved[:, None, None, :5, 0] / 32.0, (2, 8, 8, 5))
  fake = 0.5 * batch["target_image"] + 0.01 * moved.mean((1, 2))[:, None, None, None]
  judge = lambda img: img.mean((1, 2, 3)) + 2.0 * cond.mean((1, 2, 3))  # noqa: E731
  softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
  np.testing.assert_allclose(terms["gen/adversarial"], np.mean(softplus(-judge(fake))),
                             rtol=1e-5)
  assert terms["gen/l1"] == 0.0 and "gen/landmark" not in terms
  np.testing.assert_allclose(total, terms["gen/adversarial"], rtol=1e-6)
  fakes = recipe.fakes_for_critic(gen, batch, None)
  loss, _ = recipe.critic_loss(_stub_critic, batch, fakes, None)
  np.testing.assert_allclose(
      loss, np.mean(softplus(-judge(batch["image"]))) + np.mean(softplus(judge(fake))),
      rtol=1e-5)
  faces = np.zeros((2, 32, 32, 3), np.uint8)
  with pytest.raises(UserError, match="The CGAN needs target_landmarks"):
    recipe.transfer_inputs(faces, faces, np.full((2, 68, 2), 16.0), None)


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


def test_main_cgan_baseline_smoke_trains_evaluates_generates_and_loads(tmp_path, tfds_dir):
  workdir = tmp_path / "w"
  common = ("--config=configs/cgan_transfer.py:cgan_baseline,smoke",
            f"--config.data.data_dir={tfds_dir}", f"--workdir={workdir}")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows for k, v in row.items()}
  assert np.isfinite(logged["gen/adversarial"]) and logged["gen/l1"] == 0.0
  assert "gen/landmark" not in logged and np.isfinite(logged["eval/l1_to_truth"])
  proc = _main(*common, "--mode=eval", "--config.eval.identity=False")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert ("model", "psnr_vs_truth") in values and ("model", "landmark_nme") not in values
  proc = _main(*common, "--mode=generate")
  assert proc.returncode == 0, proc.stderr
  from PIL import Image
  grid = np.asarray(Image.open(workdir / "generate_step_2" / "transfers.png"))
  assert grid.shape == (6 * 32 + 7 * 2, 5 * 32 + 6 * 2, 3)
  model = fxs_jax.load(workdir)
  assert model.declaration("transfer").needs_landmarks
  rng = np.random.default_rng(0)
  source, target = (rng.integers(0, 255, (32, 32, 3), np.uint8) for _ in "st")
  lms = rng.uniform(6, 26, (68, 2))
  out = model.transfer(source, target, lms, lms + 0.5)
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
