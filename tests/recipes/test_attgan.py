"""AttGAN: parameter counts against the official network's formula, loss terms by hand, the
batch norms' two modes, the sample layout, and ``:smoke`` trained, evaluated, generated and
loaded from the command line."""

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
from configs import attgan as attgan_config
from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.nn.blocks import CriticOutput
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes import attgan as recipe_lib

ROOT = Path(__file__).resolve().parents[2]


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_parameter_counts_match_the_official_networks_at_128_px():
  """LynnHo/AttGAN-Tensorflow module.py, model_128, 8 attributes: convs without bias before a
  norm (batch norm in G, instance norm in D, 2 weights per channel each), G's last transposed
  conv with bias; the decoder's first layer reads the 4x4 map + the attributes, its second the
  1024-channel output + the 512-channel skip + the attributes again; D's heads are biased fully
  connected layers 16384 -> 1024 -> 1 and 16384 -> 1024 -> 8."""
  recipe = recipe_lib.AttGAN(attgan_config.get_config())
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  c, k = 64, 8
  widths = [3, c, 2 * c, 4 * c, 8 * c, 16 * c]
  trunk = sum(i * o * 16 + 2 * o for i, o in zip(widths[:-1], widths[1:]))  # conv + norm
  decoder = ((16 * c + k) * 16 * c * 16 + 2 * 16 * c       # 1024+8 -> 1024, BN
             + (16 * c + 8 * c + k) * 8 * c * 16 + 2 * 8 * c  # 1024+512+8 -> 512, BN
             + 8 * c * 4 * c * 16 + 2 * 4 * c               # 512 -> 256, BN
             + 4 * c * 2 * c * 16 + 2 * 2 * c               # 256 -> 128, BN
             + 2 * c * 3 * 16 + 3)                          # 128 -> 3, bias
  flat = 16 * c * 4 * 4
  heads = (flat * 1024 + 1024 + 1024 * 1 + 1) + (flat * 1024 + 1024 + 1024 * k + k)
  assert _num_params(gen) == trunk + decoder == 43_336_323
  assert _num_params(critic) == trunk + heads == 44_713_865


class _StubGenerator:
  """``Gdec(z, v) = 0.5 z + <v, w>`` per pixel with ``Genc(x) = [x]``; counts the encodings."""

  def __init__(self, num_classes):
    self.w = 0.1 * jnp.arange(num_classes, dtype=jnp.float32)
    self.encodings = 0

  def encode(self, image):
    self.encodings += 1
    return [image]

  def decode(self, zs, attributes):
    return 0.5 * zs[-1] + (attributes @ self.w)[:, None, None, None]

  def __call__(self, image, attributes):
    return self.decode(self.encode(image), attributes)


def test_generator_loss_terms_by_hand():
  """A stub generator and a constant critic: each term is the formula of the recipe's
  docstring, the attributes fed as (onehot * 2 - 1) * thres_int, the input encoded once."""
  config = attgan_config.get_config("smoke")
  config.model.lambda_gen_cls = 3.0
  config.model.thres_int = 0.25
  recipe = recipe_lib.AttGAN(config)
  s, b = config.model.image_size, 2
  gen = _StubGenerator(8)
  w = np.asarray(gen.w)
  logits = jnp.zeros((b, 8)).at[:, 2].set(1.0)

  def critic(image):
    return CriticOutput(jnp.full((image.shape[0], 1, 1, 1), 1.5), None, logits)

  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)
  batch = {"image": image, "emotion": np.array([0, 1]), "target_emotion": np.array([2, 5])}
  total, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(0))
  assert gen.encodings == 1
  # Attributes +-0.25: <v, w> = 0.25 * (2 w[class] - sum(w)).
  fake = image * 0.5 + (0.25 * (2 * w[batch["target_emotion"]] - w.sum()))[:, None, None, None]
  rec = image * 0.5 + (0.25 * (2 * w[batch["emotion"]] - w.sum()))[:, None, None, None]
  # BCE per attribute: log(1 + e^l) - l y. Logit 1 at attribute 2, 0 elsewhere; targets 2 and 5:
  # 14 entries log 2, and log(1 + e) - 1 (target 2) and log(1 + e) (target 5), over 16.
  bce = (14 * np.log(2) + 2 * np.log1p(np.e) - 1) / 16
  np.testing.assert_allclose(terms["gen/cls"], 3.0 * bce, rtol=1e-5)
  np.testing.assert_allclose(terms["gen/adversarial"], -1.5, rtol=1e-6)
  np.testing.assert_allclose(terms["gen/reconstruction"], 100.0 * np.mean(np.abs(rec - image)),
                             rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)
  assert "gen/truth" not in terms and "gen/cycle" not in terms  # unpaired, no cycle
  config.model.lambda_truth = 50.0
  truth = rng.uniform(-1, 1, image.shape).astype(np.float32)
  _, paired = recipe_lib.AttGAN(config).generator_loss(
      _StubGenerator(8), critic, {**batch, "target_image": truth}, jax.random.key(0))
  np.testing.assert_allclose(paired["gen/truth"], 50.0 * np.mean(np.abs(fake - truth)), rtol=1e-5)


def test_critic_loss_terms_by_hand():
  """A linear critic ``D(x) = mean(x) * w``: the Wasserstein term, the attribute BCE on real
  images against their one-hots and the gradient penalty, whose gradient norm is known in closed
  form."""
  config = attgan_config.get_config("smoke")
  config.model.lambda_critic_cls = 3.0
  recipe = recipe_lib.AttGAN(config)
  s, b = config.model.image_size, 2
  w = 2.0
  logits = jnp.zeros((b, 8)).at[:, 3].set(2.0)

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
  # Logit 2 at attribute 3: class 3 gives log(1 + e^2) - 2, class 4 log(1 + e^2); 14 x log 2.
  bce = (14 * np.log(2) + 2 * np.log1p(np.exp(2.0)) - 2) / 16
  np.testing.assert_allclose(metrics["critic/cls"], bce, rtol=1e-5)
  # dD/dx = w / (s*s*3) everywhere: ||grad|| = w / sqrt(s*s*3); GP = (||grad|| - 1)^2.
  gp = (w / np.sqrt(s * s * 3) - 1) ** 2
  np.testing.assert_allclose(metrics["critic/gp"], gp, rtol=1e-4)
  np.testing.assert_allclose(loss, adv + 10.0 * gp + 3.0 * bce, rtol=1e-4)


def test_batch_norms_train_on_the_batch_and_predict_on_running_averages():
  """Training mode: a face's output depends on its batch, and the forward moves the running
  averages. Frozen (samples, metrics, predictions): it does not, and nothing moves."""
  config = attgan_config.get_config("smoke")
  recipe = recipe_lib.AttGAN(config)
  gen = recipe.build_generator(nnx.Rngs(0))
  s = config.model.image_size
  image = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (3, s, s, 3)), jnp.float32)
  labels = jnp.array([1, 2, 3])

  @nnx.jit(static_argnums=1)
  def first_face(gen, freeze):  # edited alone and within its batch
    gen = frozen(gen) if freeze else gen
    return recipe.edit(gen, image[:1], labels[:1]), recipe.edit(gen, image, labels)[:1]

  stats = jax.tree.map(np.array, nnx.state(gen, nnx.BatchStat))
  assert jax.tree.leaves(stats)
  alone, together = first_face(gen, True)
  np.testing.assert_allclose(alone, together, atol=1e-5)
  jax.tree.map(np.testing.assert_array_equal, stats, nnx.state(gen, nnx.BatchStat))
  alone, together = first_face(gen, False)
  assert not np.allclose(alone, together, atol=1e-4)
  moved = jax.tree.map(lambda a, b: not np.allclose(a, b), stats, nnx.state(gen, nnx.BatchStat))
  assert all(jax.tree.leaves(moved))


def test_sample_layout_and_target_order():
  """Input | own class | each of SAMPLE_EMOTIONS, from a stub that adds the class index."""
  config = attgan_config.get_config("smoke")
  recipe = recipe_lib.AttGAN(config)
  s, n = config.model.image_size, config.logging.num_samples

  def gen(image, attributes):
    return image + jnp.argmax(attributes, -1).astype(jnp.float32)[:, None, None, None]

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
  """A blend of two classes reaches the generator as (blend * 2 - 1) * thres_int."""
  recipe = recipe_lib.AttGAN(attgan_config.get_config("smoke"))
  faces = np.zeros((2, 32, 32, 3), np.uint8)
  batch = recipe.edit_inputs(faces, emotion="happy")
  np.testing.assert_array_equal(batch["target_emotion"], [1, 1])
  assert "landmarks" not in batch  # AttGAN needs none
  blend = recipe.edit_inputs(faces, emotion="sad", intensity=0.25)
  np.testing.assert_allclose(blend["target_condition"][0], [0.75, 0, 0.25, 0, 0, 0, 0, 0])

  def gen(image, attributes):  # the attributes it was given, on the image's first pixels
    return jnp.zeros_like(image).at[:, 0, :8, 0].set(attributes)

  out = recipe.predictors()["edit"].compute(gen, {**blend, "image": jnp.zeros((2, 32, 32, 3))})
  np.testing.assert_allclose(out["image"][0, 0, :8, 0], [0.25, -0.5, -0.25, -0.5, -0.5, -0.5,
                                                         -0.5, -0.5])
  with pytest.raises(UserError, match="AttGAN.edit needs a target"):
    recipe.edit_inputs(faces)
  config = attgan_config.get_config("smoke")
  config.model.thres_int = 0.0
  with pytest.raises(UserError, match="model.thres_int"):
    recipe_lib.AttGAN(config)


def _main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def test_main_smoke_trains_evaluates_generates_and_loads(tmp_path, tfds_dir, smoke_stills):
  del smoke_stills
  workdir = tmp_path / "w"
  common = ("--config=configs/attgan.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}", "--config.model.lambda_truth=10")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows if row["step"] == 2 for k, v in row.items()}
  for name in ("critic/wasserstein", "critic/cls", "critic/gp", "gen/adversarial", "gen/cls",
               "gen/reconstruction", "gen/truth", "eval/acc_fake", "eval/reconstruction_l1"):
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
  assert result["model"] == "attgan" and result["num_pairs"] == 8
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert ("model", "critic_acc_fake") in values
  model = fxs_jax.load(workdir)
  assert model.declaration("edit").conditions == ("emotion",)
  # The batch norms' running averages were carried through the jitted steps into the checkpoint.
  means = [x for path, x in jax.tree_util.tree_leaves_with_path(model.rest)
           if "mean" in jax.tree_util.keystr(path)]
  assert means and all(np.any(np.asarray(x) != 0) for x in means)
  rng = np.random.default_rng(0)
  face = rng.integers(0, 255, (32, 32, 3), np.uint8)
  out = model.edit(face, emotion="surprised")
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
