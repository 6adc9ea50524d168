"""C2GAN: parameter counts against the official U-Nets' formula, loss terms by hand with stub
networks, the gradient paths of the keypoint cycles, the shared ``transfer`` prediction, and
``:smoke`` trained, evaluated, generated and loaded from the command line."""

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
from configs import c2gan as c2gan_config
from configs import cgan_transfer as cgan_config
from fxs_jax.errors import UserError
from fxs_jax.models import cgan_transfer as transfer_nets
from fxs_jax.recipes import c2gan as recipe_lib
from fxs_jax.recipes import cgan_transfer

ROOT = Path(__file__).resolve().parents[2]
C = 5  # keypoint image channels (fxs_jax.nn.keypoints.KEYPOINT_CHANNELS)


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _pix2pix_unet_params(in_nc, out_nc, num_downs, ngf):
  """pix2pix's UnetGenerator with BatchNorm (the C2GAN code's ``define_G``, ``--norm batch``),
  written out: convs without bias except the outermost up conv, 2C affine parameters per norm
  (dropout has none)."""
  c = [min(ngf * 2 ** i, 8 * ngf) for i in range(num_downs)]
  total = in_nc * c[0] * 16  # outermost down (no norm)
  total += sum(c[i - 1] * c[i] * 16 + 2 * c[i] for i in range(1, num_downs - 1))
  total += c[-2] * c[-1] * 16  # innermost down (no norm)
  total += c[-1] * c[-2] * 16 + 2 * c[-2]  # innermost up (+ norm)
  total += sum(2 * c[i] * c[i - 1] * 16 + 2 * c[i - 1] for i in range(1, num_downs - 1))
  total += 2 * c[0] * out_nc * 16 + out_nc  # outermost up, bias, tanh
  return total


def _patch_critic_params(in_nc, ndf, num_layers):
  """``fxs_jax.nn.PatchCritic`` with instance norm: the first conv with bias and no norm, the
  others without bias + affine norm, a 3x3 map head without bias. (The code's
  NLayerDiscriminator adds a stride-1 4x4 conv and a 4x4 head: a departure of every PatchGAN
  here, docs/papers.)"""
  ch = [in_nc] + [ndf * 2 ** i for i in range(num_layers)]
  total = ch[0] * ch[1] * 16 + ch[1]
  total += sum(a * b * 16 + 2 * b for a, b in zip(ch[1:-1], ch[2:]))
  return total + ch[-1] * 9


def test_parameter_counts_match_the_official_unets_at_128_px():
  recipe = recipe_lib.C2GAN(c2gan_config.get_config())
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  # G_I: [image, keypoints] -> image; G_K: image -> keypoints; 7 downs = the code's unet_128
  # (its unet_256 at 256 px: both go down to 1 x 1).
  assert _num_params(gen.image_gen) == _pix2pix_unet_params(3 + C, 3, 7, 64)
  assert _num_params(gen.keypoint_gen) == _pix2pix_unet_params(3, C, 7, 64)
  assert _num_params(gen) == _num_params(gen.image_gen) + _num_params(gen.keypoint_gen)
  assert _num_params(critic.image_critic) == _patch_critic_params(3 + 3 + C, 64, 3)
  assert _num_params(critic.keypoint_critic) == _patch_critic_params(3 + C, 64, 3)


class _StubGen:
  """G_I(x, k) = 0.5 x + 0.1 mean_c(k); G_K(x) = 0.3 x[..., :1] tiled to C channels; the keypoint
  image of landmarks: channel c constant at (landmark c's x) / 32."""

  def keypoint_image(self, lms):
    return jnp.broadcast_to(lms[:, None, None, :C, 0] / 32.0, (lms.shape[0], 8, 8, C))

  def generate(self, image, kp):
    return 0.5 * image + 0.1 * jnp.mean(kp, -1, keepdims=True)

  def keypoints_of(self, image):
    return jnp.tile(0.3 * image[..., :1], (1, 1, 1, C))


class _StubCritic:
  """Scores (B, 1, 1, 1) depending on every argument, each with its own weight."""

  def judge_image(self, out, inp, kp):
    return (jnp.mean(out, (1, 2, 3)) + 2.0 * jnp.mean(inp, (1, 2, 3))
            + 3.0 * jnp.mean(kp, (1, 2, 3)))[:, None, None, None]

  def judge_keypoints(self, image, kp):
    return (jnp.mean(image, (1, 2, 3)) - 0.5 * jnp.mean(kp, (1, 2, 3)))[:, None, None, None]


def _np_stub():
  """The stubs' formulas in numpy (the oracles)."""
  def kp_image(lms):
    return np.broadcast_to(lms[:, None, None, :C, 0] / 32.0, (lms.shape[0], 8, 8, C))

  def generate(image, kp):
    return 0.5 * image + 0.1 * kp.mean(-1, keepdims=True)

  def keypoints_of(image):
    return np.tile(0.3 * image[..., :1], (1, 1, 1, C))

  def judge_image(out, inp, kp):
    return out.mean((1, 2, 3)) + 2.0 * inp.mean((1, 2, 3)) + 3.0 * kp.mean((1, 2, 3))

  def judge_keypoints(image, kp):
    return image.mean((1, 2, 3)) - 0.5 * kp.mean((1, 2, 3))
  return kp_image, generate, keypoints_of, judge_image, judge_keypoints


def _moved(source, target):
  """geometry.moved_to by hand: the source's shape on the target's centroid and RMS spread."""
  s = source - source.mean(1, keepdims=True)
  t = target - target.mean(1, keepdims=True)
  scale = np.sqrt((t ** 2).sum((1, 2)) / (s ** 2).sum((1, 2)))
  return s * scale[:, None, None] + target.mean(1, keepdims=True)


def _tiny_config(arg="smoke"):
  """``:smoke`` at 16 px (the eager tests' cost)."""
  config = c2gan_config.get_config(arg)
  config.model.image_size = 16
  return config


def _batch(seed=0, size=8):
  rng = np.random.default_rng(seed)
  batch = {k: rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
           for k in ("source_image", "target_image", "image")}
  for k in ("source_landmarks", "target_landmarks", "landmarks"):
    batch[k] = rng.uniform(1, 7, (2, 68, 2)).astype(np.float32)
  return batch


def test_generator_loss_terms_by_hand():
  config = c2gan_config.get_config("smoke")
  config.model.lambda_l1, config.model.lambda_cycle, config.model.lambda_keypoint = 7.0, 3.0, 5.0
  recipe = recipe_lib.C2GAN(config)
  batch = _batch()
  total, terms = recipe.generator_loss(_StubGen(), _StubCritic(), batch, jax.random.key(0))
  kp_image, generate, keypoints_of, judge_image, judge_keypoints = _np_stub()
  x, y = batch["target_image"], batch["image"]
  k_y = kp_image(_moved(batch["source_landmarks"], batch["target_landmarks"]))
  k_x = kp_image(batch["target_landmarks"])
  fake = generate(x, k_y)
  rec = generate(fake, k_x)
  mse1 = lambda s: np.mean((s - 1.0) ** 2)  # noqa: E731  (the code's nn.MSELoss, target 1)
  np.testing.assert_allclose(terms["gen/adversarial"],
                             mse1(judge_image(fake, x, k_y)) + mse1(judge_image(rec, y, k_x)),
                             rtol=1e-5)
  np.testing.assert_allclose(terms["gen/l1"], 7.0 * np.mean(np.abs(fake - y)), rtol=1e-5)
  np.testing.assert_allclose(terms["gen/cycle"], 3.0 * np.mean(np.abs(rec - x)), rtol=1e-5)
  kp_fake, kp_rec = keypoints_of(fake), keypoints_of(rec)
  np.testing.assert_allclose(
      terms["gen/keypoint_adversarial"],
      mse1(judge_keypoints(fake, kp_fake)) + mse1(judge_keypoints(rec, kp_rec)), rtol=1e-5)
  np.testing.assert_allclose(
      terms["gen/keypoint_cycle"],
      5.0 * (np.mean(np.abs(kp_fake - k_y)) + np.mean(np.abs(kp_rec - k_x))), rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)


def test_critic_loss_terms_by_hand():
  recipe = recipe_lib.C2GAN(c2gan_config.get_config("smoke"))
  batch = _batch(1)
  fakes = recipe.fakes_for_critic(_StubGen(), batch, jax.random.key(0))
  kp_image, generate, keypoints_of, judge_image, judge_keypoints = _np_stub()
  x, y = batch["target_image"], batch["image"]
  k_y = kp_image(_moved(batch["source_landmarks"], batch["target_landmarks"]))
  k_x = kp_image(batch["target_landmarks"])
  fake = generate(x, k_y)
  rec = generate(fake, k_x)
  np.testing.assert_allclose(fakes["requested_keypoints"], k_y, rtol=1e-5)
  np.testing.assert_allclose(fakes["reconstruction"], rec, rtol=1e-5, atol=1e-7)

  def ls_d(real, fake_scores):  # the code: 0.5 * (MSE(real, 1) + MSE(fake, 0)) per direction
    return 0.5 * np.mean((real - 1.0) ** 2) + 0.5 * np.mean(fake_scores ** 2)

  loss, metrics = recipe.critic_loss(_StubCritic(), batch, fakes, jax.random.key(0))
  image = (ls_d(judge_image(y, x, k_y), judge_image(fake, x, k_y))
           + ls_d(judge_image(x, y, k_x), judge_image(rec, y, k_x)))
  keypoint = (ls_d(judge_keypoints(fake, k_y), judge_keypoints(fake, keypoints_of(fake)))
              + ls_d(judge_keypoints(rec, k_x), judge_keypoints(rec, keypoints_of(rec))))
  np.testing.assert_allclose(metrics["critic/image"], image, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/keypoint"], keypoint, rtol=1e-5)
  np.testing.assert_allclose(loss, image + keypoint, rtol=1e-5)


@pytest.mark.parametrize("joint", [False, True])
def test_keypoint_losses_reach_the_image_generator_only_when_asked(joint):
  """The code's separate optimisers: G_K's losses leave G_I's gradient at zero; with
  ``model.keypoint_losses_train_image`` they reach it through y' and x''."""
  config = _tiny_config()
  config.model.keypoint_losses_train_image = joint
  recipe = recipe_lib.C2GAN(config)
  gen, critic = recipe.build(nnx.Rngs(jax.random.key(0, impl="rbg")))
  batch = {k: jnp.asarray(v) for k, v in _batch(2, 16).items()}
  batch.update({k: jnp.asarray(np.random.default_rng(3).uniform(3, 13, (2, 68, 2)), jnp.float32)
                for k in ("source_landmarks", "target_landmarks", "landmarks")})
  graphdef, params, rest = nnx.split(gen, nnx.Param, ...)

  def keypoint_terms(p):
    _, terms = recipe.generator_loss(nnx.merge(graphdef, p, rest), critic, batch, None)
    return terms["gen/keypoint_adversarial"] + terms["gen/keypoint_cycle"]

  grads = jax.jit(jax.grad(keypoint_terms))(params)
  image_norm = sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(grads["image_gen"]))
  keypoint_norm = sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree.leaves(grads["keypoint_gen"]))
  assert keypoint_norm > 0
  assert (image_norm > 0) == joint


def test_transfer_is_the_cgan_transfers_prediction():
  """The same declaration and inputs as the cGAN transfer's (one evaluation judges both), the
  output drawn from the target face with J of the source's landmarks moved onto it."""
  recipe = recipe_lib.C2GAN(_tiny_config())
  cgan_cfg = cgan_config.get_config("smoke")
  cgan_cfg.model.image_size = 16
  cgan = cgan_transfer.CGANTransfer(cgan_cfg)
  mine, theirs = recipe.predictors()["transfer"], cgan.predictors()["transfer"]
  for field in ("conditions", "returns", "needs_landmarks", "image_arg", "one_in_one_out"):
    assert getattr(mine, field) == getattr(theirs, field), field
  faces = np.zeros((2, 16, 16, 3), np.uint8)
  lms = np.random.default_rng(0).uniform(3, 13, (2, 68, 2)).astype(np.float32)
  batch = mine.inputs(faces, faces, lms, lms + 1.0)
  assert set(batch) == set(theirs.inputs(faces, faces, lms, lms + 1.0))
  with pytest.raises(UserError, match="The C2GAN needs source_landmarks"):
    mine.inputs(faces, faces, None, lms)
  gen = recipe.build_generator(nnx.Rngs(0))
  graphdef, state = nnx.split(gen)
  out = jax.jit(lambda s, b: mine.compute(nnx.merge(graphdef, s), b))(
      state, {k: jnp.asarray(v) for k, v in batch.items()})
  expected = transfer_nets.keypoint_image(jnp.asarray(_moved(lms, lms + 1.0)), 16, "heatmaps",
                                          1.0)
  np.testing.assert_allclose(out["condition"], expected, atol=1e-5)
  direct = jax.jit(lambda s, x, k: nnx.merge(graphdef, s).generate(x, k))(
      state, batch["target_image"], expected)
  np.testing.assert_allclose(out["image"], direct, atol=1e-5)
  assert "landmarks" not in out  # nothing predicted: no NME row


def test_bad_settings_are_explained():
  for key, value, match in (("keypoint_kind", "dots", "model.keypoint_kind"),
                            ("output", "additive", "model.output"),
                            ("lambda_cycle", -1.0, "model.lambda_cycle"),
                            ("upsample", "pixelshuffle", "model.upsample")):
    config = c2gan_config.get_config("smoke")
    config.model[key] = value
    with pytest.raises(UserError, match=match):
      recipe_lib.C2GAN(config)


def test_residual_output_starts_as_copy_the_input():
  config = _tiny_config("demo,smoke")
  assert config.model.output == "residual"
  gen = recipe_lib.C2GAN(config).build_generator(nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
  np.testing.assert_array_equal(gen.generate(x, jnp.zeros((2, 16, 16, C))), x)


def _main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def test_main_smoke_trains_evaluates_generates_and_loads(tmp_path, tfds_dir):
  workdir = tmp_path / "w"
  common = ("--config=configs/c2gan.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows for k, v in row.items()}
  for name in ("critic/image", "critic/keypoint", "gen/adversarial", "gen/l1", "gen/cycle",
               "gen/keypoint_adversarial", "gen/keypoint_cycle", "eval/l1_to_truth",
               "eval/cycle_l1", "eval/keypoint_l1", "eval/keypoint_l1_truth"):
    assert np.isfinite(logged[name]), name
  from PIL import Image
  grid = np.asarray(Image.open(workdir / "samples" / "latest.png"))
  assert grid.shape == (2 * 32 + 3 * 2, 7 * 32 + 8 * 2, 3)  # 2 rows x 7 columns
  proc = _main(*common, "--mode=eval", "--config.eval.identity=False")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["model"] == "c2gan" and result["num_pairs"] == 8
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert values["copy_input", "error_where_kept"] < 1e-3  # copy-the-target keeps B's face
  assert ("model", "ssim_vs_truth") in values and ("model", "psnr_vs_truth") in values
  proc = _main(*common, "--mode=generate")
  assert proc.returncode == 0, proc.stderr
  grid = np.asarray(Image.open(workdir / "generate_step_2" / "transfers.png"))
  assert grid.shape == (6 * 32 + 7 * 2, 5 * 32 + 6 * 2, 3)  # source | target | k_y | out | truth
  model = fxs_jax.load(workdir)
  declaration = model.declaration("transfer")
  assert declaration.conditions == ("source_face",) and declaration.needs_landmarks
  rng = np.random.default_rng(0)
  source, target = (rng.integers(0, 255, (32, 32, 3), np.uint8) for _ in "st")
  lms = rng.uniform(6, 26, (68, 2))
  out = model.transfer(source, target, lms, lms + 0.5)
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
