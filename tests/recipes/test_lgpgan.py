"""LGP-GAN: loss terms by hand, network shapes, one real train iteration, the command line."""

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

from configs import lgpgan as lgpgan_config
from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.models import lgpgan as nets
from fxs_jax.recipes import lgpgan as recipe_lib
from fxs_jax.train import state as state_lib
from fxs_jax.train import trainer as trainer_lib
from fxs_jax.train.checkpoint import Checkpointer

ROOT = Path(__file__).resolve().parents[2]


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_classification_loss_by_hand():
  uniform = jnp.zeros((3, 8))
  np.testing.assert_allclose(recipe_lib.classification_loss(uniform, jnp.array([0, 5, 7])),
                             np.log(8), rtol=1e-6)
  logits = np.array([[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                     [0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 0.0, -1.0]], np.float32)
  labels = np.array([0, 1])
  # -log softmax: row 0 -> log(e^2 + 7) - 2; row 1 -> log(e + e^3 + 5 + e^-1) - 1.
  expected = 0.5 * ((np.log(np.e ** 2 + 7) - 2) + (np.log(np.e + np.e ** 3 + 5 + np.e ** -1) - 1))
  np.testing.assert_allclose(recipe_lib.classification_loss(logits, labels), expected, rtol=1e-6)


def test_targets_are_another_class():
  recipe = recipe_lib.LGPGAN(lgpgan_config.get_config("smoke"))
  labels = np.tile(np.arange(8), 50)
  out = recipe.prepare_batch({"image": np.zeros((400, 4, 4, 3)), "emotion": labels,
                              "landmarks": np.zeros((400, 68, 2))}, np.random.default_rng(0))
  assert out["target_emotion"].dtype == np.int32
  assert np.all(out["target_emotion"] != labels)
  assert set(out["target_emotion"].tolist()) == set(range(8))
  # Same-identity pairs (model.lambda_truth): the partner's class and image, kept.
  partner = (labels + 3) % 8
  truth = np.ones((400, 4, 4, 3), np.float32)
  paired = recipe.prepare_batch({"image": np.zeros((400, 4, 4, 3)), "emotion": labels,
                                 "landmarks": np.zeros((400, 68, 2)), "target_emotion": partner,
                                 "target_image": truth}, np.random.default_rng(0))
  np.testing.assert_array_equal(paired["target_emotion"], partner)
  np.testing.assert_array_equal(paired["target_image"], truth)


def test_bad_crop_size_and_emotion_are_explained():
  config = lgpgan_config.get_config("smoke")
  config.model.mouth_crop_width = 10
  with pytest.raises(UserError, match="mouth crop 8x10 must be divisible"):
    recipe_lib.LGPGAN(config)
  config = lgpgan_config.get_config("smoke")
  config.generate.emotions = "happy,joyful"
  with pytest.raises(UserError, match="joyful"):
    recipe_lib.LGPGAN(config)


@pytest.mark.parametrize("variant,maps", [
    (None, {"eyes": (2, 4), "mouth": (2, 3), "face": (2, 2)}),
    ("smoke", {"eyes": (2, 4), "mouth": (2, 3), "face": (2, 2)}),
])
def test_critic_and_generator_shapes(variant, maps):
  config = lgpgan_config.get_config(variant)
  recipe = recipe_lib.LGPGAN(config)
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  s, b = config.model.image_size, 2
  image = jax.ShapeDtypeStruct((b, s, s, 3), jnp.float32)
  landmarks = jax.ShapeDtypeStruct((b, 68, 2), jnp.float32)
  labels = jax.ShapeDtypeStruct((b,), jnp.int32)
  gdef, gstate = nnx.split(gen)
  out = jax.eval_shape(lambda st, x, lm, c: recipe.edit(nnx.merge(gdef, st), x, lm, c),
                       gstate, image, landmarks, labels)
  assert out.output_BxHxWx3.shape == (b, s, s, 3)
  assert out.attention_BxHxWx1.shape == (b, s, s, 1)
  for region, size in recipe.crop_sizes.items():
    assert out.crops_out[region].shape == (b, *size, 3)
    assert out.crop_attention[region].shape == (b, *size, 1)
  cdef, cstate = nnx.split(critic)
  judged = jax.eval_shape(lambda st, v: nnx.merge(cdef, st)(v), cstate,
                          recipe._judged(out))  # pylint: disable=protected-access
  for name, (h, w) in maps.items():
    assert judged[name].map_BxhxWx1.shape == (b, h, w, 1), name
    assert judged[name].logits_BxK.shape == (b, 8), name


def test_parameter_counts_at_128_px():
  """Generators: GANimation's formula with 8 conditioning channels; critics: trunk convs with
  bias, 3x3 map head and a class head covering the final map, all without bias."""
  recipe = recipe_lib.LGPGAN(lgpgan_config.get_config())
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))

  def generator(cond=8, c=64, res=6):
    return ((3 + cond) * c * 49 + 2 * c + c * 2 * c * 16 + 4 * c + 2 * c * 4 * c * 16 + 8 * c
            + res * 2 * (16 * c * c * 9 + 8 * c) + 4 * c * 2 * c * 16 + 4 * c
            + 2 * c * c * 16 + 2 * c + c * 4 * 49)

  def critic_params(h, w, c, layers, classes=8):
    ch = [3] + [c * 2 ** i for i in range(layers)]
    trunk = sum(i * o * 16 + o for i, o in zip(ch[:-1], ch[1:]))
    return trunk + ch[-1] * 9 + ch[-1] * classes * (h >> layers) * (w >> layers)

  for name in ("eyes", "mouth", "face"):
    assert _num_params(getattr(gen, name)) == generator(), name
  assert _num_params(critic.eyes) == critic_params(32, 64, 64, 4)
  assert _num_params(critic.mouth) == critic_params(32, 48, 64, 4)
  assert _num_params(critic.face) == critic_params(128, 128, 64, 6)


def _main(*args):
  # The 'rbg' PRNG compiles the init several times faster than threefry on CPU; what is tested
  # does not depend on the random stream.
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, tfds_dir, smoke_stills):
  """``python -m fxs_jax.main --config=configs/lgpgan.py:smoke`` trained once (2 steps, a
  checkpoint after each) on same-identity pairs (``model.lambda_truth``: the paired pipeline end
  to end): the arguments and the workdir."""
  del smoke_stills
  workdir = tmp_path_factory.mktemp("lgpgan") / "w"
  common = ("--config=configs/lgpgan.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}", "--config.model.lambda_truth=10")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  return common, workdir


def test_one_smoke_iteration_updates_all_six_networks(smoke_run, tfds_dir):
  """Iteration 2 of the main command's run (critic_steps=1: one critic and one generator
  update) changed every parameter tree of the three generators and three critics."""
  _, workdir = smoke_run
  config = lgpgan_config.get_config("smoke")
  config.data.data_dir = str(tfds_dir)
  trainer = trainer_lib.GANTrainer(recipe_lib.LGPGAN(config), config)
  ckpt = Checkpointer(workdir / "checkpoints", config)
  try:
    first, second = (jax.device_get(state_lib.from_items(ckpt.restore(
        step, trainer.abstract_items()))) for step in (1, 2))
  finally:
    ckpt.close()
  assert int(first.step) == 1 and int(second.step) == 2
  for part in ("gen_params", "critic_params"):
    for name in ("eyes", "mouth", "face"):
      diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(a - b).max()),
                                           getattr(first, part)[name],
                                           getattr(second, part)[name]))
      assert diffs and max(diffs) > 0, (part, name)
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows if row["step"] == 2 for k, v in row.items()}
  for name in ("critic/loss", "critic/eyes_gp", "critic/mouth_cls", "critic/face_wasserstein",
               "gen/loss", "gen/cycle", "gen/mask", "gen/eyes_cls", "gen/face_adversarial",
               "gen/truth",
               "eval/face_acc_fake", "eval/eyes_attention_mean"):
    assert np.isfinite(logged[name]), name


def test_main_smoke_samples_generate_eval(smoke_run):
  common, workdir = smoke_run
  from PIL import Image
  grid = np.asarray(Image.open(workdir / "samples" / "latest.png"))
  # 2 rows x (input + 4 targets x 6 tiles) columns of 32 px tiles, 2 px padding.
  assert grid.shape == (2 * 32 + 3 * 2, 25 * 32 + 26 * 2, 3)
  proc = _main(*common, "--mode=generate", "--config.generate.emotions=happy,sad")
  assert proc.returncode == 0, proc.stderr
  edits = np.asarray(Image.open(workdir / "generate_step_2" / "edits.png"))
  assert edits.shape == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2, 3)
  proc = _main(*common, "--mode=eval")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["step"] == 2 and result["model"] == "lgpgan" and result["num_pairs"] == 8
  metrics = {(r["method"], r["metric"]) for r in result["rows"]}
  assert ("model", "ssim_vs_truth") in metrics and ("model", "critic_face_acc_fake") in metrics


def test_sample_layout_and_target_order():
  """A stub generator whose output is the input plus the target class index: every output
  column must show its own target, and the crop columns the input's windows."""
  config = lgpgan_config.get_config("smoke")
  recipe = recipe_lib.LGPGAN(config)
  s, n = config.model.image_size, config.logging.num_samples
  sizes = recipe.crop_sizes

  def gen(image, landmarks, target):
    label = jnp.argmax(target, -1).astype(jnp.float32)[:, None, None, None]
    offsets = {r: jnp.zeros((image.shape[0], 2), jnp.int32) for r in sizes}
    cropped = {r: image[:, :h, :w] for r, (h, w) in sizes.items()}
    return nets.LGPOutput(image + label, image, jnp.zeros(image.shape[:3] + (1,)),
                          jnp.zeros_like(image), cropped,
                          {r: c - 1.0 for r, c in cropped.items()},
                          {r: jnp.ones(c.shape[:3] + (1,)) for r, c in cropped.items()}, offsets)

  rng = np.random.default_rng(0)
  batch = {"image": rng.uniform(-1, 1, (3, s, s, 3)).astype(np.float32),
           "landmarks": np.zeros((3, 68, 2), np.float32)}
  tiles = np.asarray(recipe.sample(gen, batch))
  per = 6
  assert tiles.shape == (n, 1 + per * len(recipe_lib.SAMPLE_EMOTIONS), s, s, 3)
  np.testing.assert_array_equal(tiles[:, 0], batch["image"][:n])
  h, w = sizes["eyes"]
  top, left = (s - h) // 2, (s - w) // 2
  for k, name in enumerate(recipe_lib.SAMPLE_EMOTIONS):
    col = 1 + per * k
    label = facs.EMOTIONS.index(name)
    np.testing.assert_allclose(tiles[:, col + 5], batch["image"][:n] + label)
    np.testing.assert_array_equal(tiles[:, col, top:top + h, left:left + w],
                                  batch["image"][:n, :h, :w])
    np.testing.assert_array_equal(tiles[:, col, :top], 0.0)  # grey around the crop
    np.testing.assert_allclose(tiles[:, col + 1, top:top + h, left:left + w],
                               batch["image"][:n, :h, :w] - 1.0)
    np.testing.assert_array_equal(tiles[:, col + 4], -1.0)  # attention 0 shown as -1


@pytest.mark.parametrize("weighting", ["area", "equal"])
def test_generator_loss_terms_by_hand(weighting):
  """Stub networks with constant attention masks and critic outputs: every generator term is
  the formula in the recipe's docstring, local mask penalties scaled by the crop's share of the
  image's pixels ("area") or not ("equal"), local class terms by ``local_cls_weight``."""
  from fxs_jax.nn.blocks import CriticOutput
  config = lgpgan_config.get_config("smoke")
  m = config.model
  m.local_mask_weighting, m.local_cls_weight, m.lambda_cls = weighting, 0.25, 3.0
  recipe = recipe_lib.LGPGAN(config)
  s, b, sizes = m.image_size, 2, recipe.crop_sizes
  att = {"face": 0.5, "eyes": 0.2, "mouth": 0.8}  # mean attention of each generator
  corner = {"eyes": (3, 5), "mouth": (20, 9)}  # (top, left) of each crop

  def gen(image, landmarks, target):
    del landmarks
    cropped = {r: image[:, t:t + h, l:l + w] for (r, (h, w)), (t, l) in
               zip(sizes.items(), corner.values())}
    return nets.LGPOutput(image * 0.5 + 0.1 * jnp.argmax(target, -1)[:, None, None, None],
                          image, jnp.full(image.shape[:3] + (1,), att["face"]),
                          jnp.zeros_like(image), cropped, cropped,
                          {r: jnp.full(c.shape[:3] + (1,), att[r]) for r, c in cropped.items()},
                          {r: jnp.tile(jnp.asarray(corner[r], jnp.int32), (b, 1)) for r in sizes})

  map_value = {"eyes": 1.0, "mouth": -2.0, "face": 3.0}
  logits = jnp.zeros((b, 8)).at[:, 2].set(1.0)  # CE(target 2) = log(e + 7) - 1; others log(e+7)

  def critic(images):
    return {n: CriticOutput(jnp.full((b, 2, 2, 1), map_value[n]), None, logits) for n in images}

  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)
  batch = {"image": image, "landmarks": np.zeros((b, 68, 2), np.float32),
           "emotion": np.array([0, 1]), "target_emotion": np.array([2, 5])}
  _, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(0))
  ce = 0.5 * ((np.log(np.e + 7) - 1) + np.log(np.e + 7))
  area = {r: (h * w / s ** 2 if weighting == "area" else 1.0) for r, (h, w) in sizes.items()}
  for name in ("eyes", "mouth", "face"):
    cls_weight = 3.0 if name == "face" else 0.75
    np.testing.assert_allclose(terms[f"gen/{name}_cls"], cls_weight * ce, rtol=1e-5)
    np.testing.assert_allclose(terms[f"gen/{name}_adversarial"], -map_value[name], rtol=1e-6)
  # fake and rec passes each contribute every generator's mean attention once (l1 penalty).
  expected_mask = m.lambda_mask * 2 * (att["face"] + area["eyes"] * att["eyes"]
                                       + area["mouth"] * att["mouth"])
  np.testing.assert_allclose(terms["gen/mask"], expected_mask, rtol=1e-5)
  # rec = G(fake) = (0.5 x + 0.1 t) * 0.5 + 0.1 * label.
  fake = image * 0.5 + 0.1 * batch["target_emotion"][:, None, None, None]
  rec = fake * 0.5 + 0.1 * batch["emotion"][:, None, None, None]
  np.testing.assert_allclose(terms["gen/cycle"], m.lambda_rec * np.mean(np.abs(rec - image)),
                             rtol=1e-5)
  assert "gen/truth" not in terms  # the paper's unpaired setting
  # Paired (model.lambda_truth): + lambda_truth * L1(fake, the partner's image).
  m.lambda_truth = 50.0
  truth = rng.uniform(-1, 1, image.shape).astype(np.float32)
  _, paired = recipe_lib.LGPGAN(config).generator_loss(
      gen, critic, {**batch, "target_image": truth}, jax.random.key(0))
  np.testing.assert_allclose(paired["gen/truth"], 50.0 * np.mean(np.abs(fake - truth)), rtol=1e-5)
  assert not {"gen/eyes_truth", "gen/mouth_truth"} & set(paired)  # local_truth_weight 0
  # model.local_truth_weight: + w * lambda_truth * L1(Stage I crop, the truth at its window).
  m.local_truth_weight = 2.0
  _, local = recipe_lib.LGPGAN(config).generator_loss(
      gen, critic, {**batch, "target_image": truth}, jax.random.key(0))
  for r, (h, w) in sizes.items():
    t, l = corner[r]
    expected = np.mean(np.abs(image[:, t:t + h, l:l + w] - truth[:, t:t + h, l:l + w]))
    np.testing.assert_allclose(local[f"gen/{r}_truth"], 2.0 * 50.0 * expected, rtol=1e-5)
  assert "gen/changed_truth" not in local  # changed_truth_weight 0
  # model.changed_truth_weight: + w * lambda_truth * L1(fake, truth) over the changed pixels only.
  m.changed_truth_weight = 0.5
  truth_kept = image.copy()
  truth_kept[:, :2] = truth[:, :2]  # the truth changes the top two rows only
  _, changed = recipe_lib.LGPGAN(config).generator_loss(
      gen, critic, {**batch, "target_image": truth_kept}, jax.random.key(0))
  # The rule by hand: changed where some channel differs by more than 0.04 ([-1, 1] units).
  rows = np.abs(image[:, :2] - truth[:, :2]).max(-1) > 0.04  # random: nearly all changed
  expected = np.abs(fake[:, :2] - truth[:, :2])[rows].mean()
  np.testing.assert_allclose(changed["gen/changed_truth"], 0.5 * 50.0 * expected, rtol=1e-5)
