"""StarGAN: parameter counts against the official network's formula, loss terms by hand, the
sample layout, and ``:smoke`` trained, evaluated, generated and loaded from the command line."""

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
from configs import stargan as stargan_config
from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.recipes import stargan as recipe_lib

ROOT = Path(__file__).resolve().parents[2]


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_parameter_counts_match_the_official_networks_at_128_px():
  """yunjey/stargan model.py with c_dim 8: generator convs without bias, affine instance norms
  (2 per channel), one 7x7 output conv; critic convs with bias, 3x3 map and 2x2 class heads
  without."""
  recipe = recipe_lib.StarGAN(stargan_config.get_config())
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  c, k = 64, 8
  generator = ((3 + k) * c * 49 + 2 * c                       # stem + IN
               + c * 2 * c * 16 + 4 * c + 2 * c * 4 * c * 16 + 8 * c  # down + IN
               + 6 * 2 * (16 * c * c * 9 + 8 * c)            # residual blocks
               + 4 * c * 2 * c * 16 + 4 * c + 2 * c * c * 16 + 2 * c  # up + IN
               + c * 3 * 49)                                  # output conv
  ch = [3] + [c * 2 ** i for i in range(6)]
  trunk = sum(i * o * 16 + o for i, o in zip(ch[:-1], ch[1:]))
  assert _num_params(gen) == generator
  assert _num_params(critic) == trunk + 2048 * 9 + 2048 * k * 2 * 2


def test_generator_loss_terms_by_hand():
  """A stub generator ``G(x, c) = 0.5 x + 0.1 * argmax(c)`` and a constant critic: each term is
  the formula of the recipe's docstring."""
  config = stargan_config.get_config("smoke")
  config.model.lambda_cls = 3.0
  recipe = recipe_lib.StarGAN(config)
  s, b = config.model.image_size, 2

  def gen(image, target):
    return image * 0.5 + 0.1 * jnp.argmax(target, -1)[:, None, None, None]

  logits = jnp.zeros((b, 8)).at[:, 2].set(1.0)

  def critic(image):
    return CriticOutput(jnp.full((image.shape[0], 2, 2, 1), 1.5), None, logits)

  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)
  batch = {"image": image, "emotion": np.array([0, 1]), "target_emotion": np.array([2, 5])}
  total, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(0))
  # CE with target 2: log(e + 7) - 1; target 5: log(e + 7).
  ce = 0.5 * ((np.log(np.e + 7) - 1) + np.log(np.e + 7))
  np.testing.assert_allclose(terms["gen/cls"], 3.0 * ce, rtol=1e-5)
  np.testing.assert_allclose(terms["gen/adversarial"], -1.5, rtol=1e-6)
  fake = image * 0.5 + 0.1 * batch["target_emotion"][:, None, None, None]
  rec = fake * 0.5 + 0.1 * batch["emotion"][:, None, None, None]
  np.testing.assert_allclose(terms["gen/cycle"], 10.0 * np.mean(np.abs(rec - image)), rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)
  assert "gen/truth" not in terms  # the paper's unpaired setting
  config.model.lambda_truth = 50.0
  truth = rng.uniform(-1, 1, image.shape).astype(np.float32)
  _, paired = recipe_lib.StarGAN(config).generator_loss(
      gen, critic, {**batch, "target_image": truth}, jax.random.key(0))
  np.testing.assert_allclose(paired["gen/truth"], 50.0 * np.mean(np.abs(fake - truth)), rtol=1e-5)


def test_critic_loss_terms_by_hand():
  """A linear critic ``D(x) = mean(x) * w``: the Wasserstein term, the class CE on real images
  and the gradient penalty, whose gradient norm is known in closed form."""
  config = stargan_config.get_config("smoke")
  recipe = recipe_lib.StarGAN(config)
  s, b = config.model.image_size, 2
  w = 2.0
  logits = jnp.zeros((b, 8))

  def critic(image):
    value = w * jnp.mean(image, axis=(1, 2, 3))
    return CriticOutput(value[:, None, None, None], None, logits)

  rng = np.random.default_rng(1)
  real = rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)
  fake = rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)
  batch = {"image": real, "emotion": np.array([3, 4])}
  loss, metrics = recipe.critic_loss(critic, batch, {"image": fake}, jax.random.key(0))
  adv = w * (fake.mean() - real.mean())
  np.testing.assert_allclose(metrics["critic/wasserstein"], -adv, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/cls"], np.log(8), rtol=1e-6)
  # dD/dx = w / (s*s*3) everywhere: ||grad|| = w / sqrt(s*s*3); GP = (||grad|| - 1)^2.
  gp = (w / np.sqrt(s * s * 3) - 1) ** 2
  np.testing.assert_allclose(metrics["critic/gp"], gp, rtol=1e-4)
  np.testing.assert_allclose(loss, adv + np.log(8) + 10.0 * gp, rtol=1e-4)


def test_sample_layout_and_target_order():
  """Input | own class | each of SAMPLE_EMOTIONS, from a stub that adds the class index."""
  config = stargan_config.get_config("smoke")
  recipe = recipe_lib.StarGAN(config)
  s, n = config.model.image_size, config.logging.num_samples

  def gen(image, target):
    return image + jnp.argmax(target, -1).astype(jnp.float32)[:, None, None, None]

  rng = np.random.default_rng(0)
  batch = {"image": rng.uniform(-1, 1, (3, s, s, 3)).astype(np.float32),
           "emotion": np.array([6, 7, 1])}
  tiles = np.asarray(recipe.sample(gen, batch))
  assert tiles.shape == (n, 2 + len(recipe_lib.editing.SAMPLE_EMOTIONS), s, s, 3)
  np.testing.assert_array_equal(tiles[:, 0], batch["image"][:n])
  np.testing.assert_allclose(tiles[:, 1], batch["image"][:n] + batch["emotion"][:n, None, None,
                                                                                   None])
  for k, name in enumerate(recipe_lib.editing.SAMPLE_EMOTIONS):
    np.testing.assert_allclose(tiles[:, 2 + k], batch["image"][:n] + facs.EMOTIONS.index(name))


def test_edit_inputs_blend_and_errors():
  recipe = recipe_lib.StarGAN(stargan_config.get_config("smoke"))
  faces = np.zeros((2, 32, 32, 3), np.uint8)
  batch = recipe.edit_inputs(faces, emotion="happy")
  np.testing.assert_array_equal(batch["target_emotion"], [1, 1])
  assert "landmarks" not in batch  # StarGAN needs none
  blend = recipe.edit_inputs(faces, emotion="sad", intensity=0.25)["target_condition"]
  np.testing.assert_allclose(blend[0], [0.75, 0, 0.25, 0, 0, 0, 0, 0])
  with pytest.raises(UserError, match="StarGAN.edit needs a target"):
    recipe.edit_inputs(faces)


def _main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def test_main_smoke_trains_evaluates_generates_and_loads(tmp_path, tfds_dir, smoke_stills):
  del smoke_stills
  workdir = tmp_path / "w"
  common = ("--config=configs/stargan.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}", "--config.model.lambda_truth=10")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows if row["step"] == 2 for k, v in row.items()}
  for name in ("critic/wasserstein", "critic/cls", "critic/gp", "gen/adversarial", "gen/cls",
               "gen/cycle", "gen/truth", "eval/acc_fake", "eval/cycle_l1"):
    assert np.isfinite(logged[name]), name
  from PIL import Image
  grid = np.asarray(Image.open(workdir / "samples" / "latest.png"))
  assert grid.shape == (2 * 32 + 3 * 2, 6 * 32 + 7 * 2, 3)  # input, own class, 4 targets
  proc = _main(*common, "--mode=generate", "--config.generate.emotions=happy,sad")
  assert proc.returncode == 0, proc.stderr
  edits = np.asarray(Image.open(workdir / "generate_step_2" / "edits.png"))
  assert edits.shape == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2, 3)
  proc = _main(*common, "--mode=eval")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["model"] == "stargan" and result["num_pairs"] == 8
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert ("model", "critic_acc_fake") in values
  model = fxs_jax.load(workdir)
  assert model.declaration("edit").conditions == ("emotion",)
  rng = np.random.default_rng(0)
  face = rng.integers(0, 255, (32, 32, 3), np.uint8)
  out = model.edit(face, emotion="surprised")
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
