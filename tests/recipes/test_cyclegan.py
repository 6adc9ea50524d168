"""CycleGAN: parameter counts against the official networks' formula, loss terms by hand, the image
pool, the two domains (examples, checks, predictions), and ``:smoke`` trained, evaluated,
generated and loaded from the command line."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import fxs_jax
from configs import cyclegan as cyclegan_config
from fxs_jax.data import domain_pairs
from fxs_jax.errors import UserError
from fxs_jax.models import cyclegan as nets
from fxs_jax.recipes import cyclegan as recipe_lib

ROOT = Path(__file__).resolve().parents[2]


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_parameter_counts_match_the_official_networks_at_128_px():
  """junyanz/pytorch-CycleGAN-and-pix2pix networks.py, norm='instance' (no affine, so every conv
  has a bias): resnet_6blocks 7,837,699 (the code prints 7.838 M), the basic 70x70 PatchGAN
  2,764,737 (2.765 M)."""
  recipe = recipe_lib.CycleGAN(cyclegan_config.get_config())
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  c = 64
  generator = (3 * c * 49 + c                                  # reflect-pad conv7x7
               + c * 2 * c * 9 + 2 * c + 2 * c * 4 * c * 9 + 4 * c  # two 3x3 stride-2 convs
               + 6 * 2 * (4 * c * 4 * c * 9 + 4 * c)          # residual blocks
               + 4 * c * 2 * c * 9 + 2 * c + 2 * c * c * 9 + c  # 3x3 transposed convs
               + c * 3 * 49 + 3)                               # output conv7x7
  discriminator = (3 * c * 16 + c + c * 2 * c * 16 + 2 * c + 2 * c * 4 * c * 16 + 4 * c
                   + 4 * c * 8 * c * 16 + 8 * c + 8 * c * 16 + 1)
  assert generator == 7_837_699 and discriminator == 2_764_737
  assert _num_params(gen.g_ab) == _num_params(gen.g_ba) == generator
  assert _num_params(critic.d_a) == _num_params(critic.d_b) == discriminator
  assert _num_params(critic) == 2 * discriminator  # the pools are state, not parameters
  assert critic.d_a.map_size == 14


def _stubs(score_a=0.3, score_b=1.5):
  gen = types.SimpleNamespace(g_ab=lambda x: 0.5 * x + 0.1, g_ba=lambda x: 0.5 * x - 0.2)
  critic = types.SimpleNamespace(
      d_a=lambda x: jnp.full((x.shape[0], 2, 2, 1), score_a),
      d_b=lambda x: jnp.full((x.shape[0], 2, 2, 1), score_b), pool_a=None, pool_b=None)
  return gen, critic


def _images(rng, b, s):
  return (rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32),
          rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32))


def test_generator_loss_terms_by_hand():
  """Stub generators ``G_AB(x) = 0.5 x + 0.1``, ``G_BA(x) = 0.5 x - 0.2`` and constant critics:
  each term is the formula of the recipe's docstring."""
  config = cyclegan_config.get_config("smoke")
  config.model.lambda_a, config.model.lambda_b = 10.0, 4.0
  recipe = recipe_lib.CycleGAN(config)
  gen, critic = _stubs()
  a, b = _images(np.random.default_rng(0), 2, config.model.image_size)
  total, terms = recipe.generator_loss(gen, critic, {"image": a, "image_b": b},
                                       jax.random.key(0))
  fake_b, fake_a = 0.5 * a + 0.1, 0.5 * b - 0.2
  rec_a, rec_b = 0.5 * fake_b - 0.2, 0.5 * fake_a + 0.1
  np.testing.assert_allclose(terms["gen/adversarial_ab"], (1.5 - 1) ** 2, rtol=1e-6)
  np.testing.assert_allclose(terms["gen/adversarial_ba"], (0.3 - 1) ** 2, rtol=1e-6)
  np.testing.assert_allclose(terms["gen/cycle_a"], 10 * np.mean(np.abs(rec_a - a)), rtol=1e-5)
  np.testing.assert_allclose(terms["gen/cycle_b"], 4 * np.mean(np.abs(rec_b - b)), rtol=1e-5)
  # Identity: G_AB should leave B images alone (weight lambda_b * 0.5), G_BA the A images.
  np.testing.assert_allclose(terms["gen/identity_ab"],
                             4 * 0.5 * np.mean(np.abs(0.5 * b + 0.1 - b)), rtol=1e-5)
  np.testing.assert_allclose(terms["gen/identity_ba"],
                             10 * 0.5 * np.mean(np.abs(0.5 * a - 0.2 - a)), rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)
  assert not any("truth" in name for name in terms)  # the paper's unpaired setting
  config.model.lambda_identity = 0.0
  assert "gen/identity_ab" not in recipe_lib.CycleGAN(config).generator_loss(
      gen, critic, {"image": a, "image_b": b}, jax.random.key(0))[1]
  # SynthFaces' same-identity pairs: each side is the exact truth of the other's translation.
  config.model.lambda_truth, config.model.changed_truth_weight = 50.0, 0.5
  _, paired = recipe_lib.CycleGAN(config).generator_loss(
      gen, critic, {"image": a, "image_b": b}, jax.random.key(0))
  np.testing.assert_allclose(paired["gen/truth_ab"], 50 * np.mean(np.abs(fake_b - b)), rtol=1e-5)
  np.testing.assert_allclose(paired["gen/truth_ba"], 50 * np.mean(np.abs(fake_a - a)), rtol=1e-5)
  changed = np.max(np.abs(a - b), -1, keepdims=True) > 0.04
  want = 25 * np.sum(changed * np.abs(fake_b - b)) / (changed.sum() * 3)
  np.testing.assert_allclose(paired["gen/changed_truth_ab"], want, rtol=1e-5)


def test_critic_loss_terms_by_hand():
  """Critics ``D(x) = w * mean(x)`` per image: the LSGAN terms of both discriminators, on the
  fakes themselves without a pool."""
  config = cyclegan_config.get_config("smoke")
  recipe = recipe_lib.CycleGAN(config)
  critic = types.SimpleNamespace(
      d_a=lambda x: 2.0 * jnp.mean(x, axis=(1, 2, 3))[:, None, None, None],
      d_b=lambda x: -1.0 * jnp.mean(x, axis=(1, 2, 3))[:, None, None, None],
      pool_a=None, pool_b=None)
  rng = np.random.default_rng(1)
  a, b = _images(rng, 2, config.model.image_size)
  fake_a, fake_b = _images(rng, 2, config.model.image_size)
  loss, metrics = recipe.critic_loss(critic, {"image": a, "image_b": b},
                                     {"fake_a": fake_a, "fake_b": fake_b}, jax.random.key(0))

  def lsgan(real, fake):
    return 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2)

  mean = lambda x: x.mean(axis=(1, 2, 3))
  d_a = lsgan(2 * mean(a), 2 * mean(fake_a))
  d_b = lsgan(-mean(b), -mean(fake_b))
  np.testing.assert_allclose(metrics["critic/d_a"], d_a, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/d_b"], d_b, rtol=1e-5)
  np.testing.assert_allclose(loss, d_a + d_b, rtol=1e-5)


def test_image_pool_fills_then_returns_the_new_image_or_swaps_it_for_an_old_one():
  """The official ImagePool: the first N images are stored and returned; after that each image
  is either returned (pool unchanged) or stored in place of an old one, which is returned."""
  pool = nets.ImagePool(2, 4)
  images = jnp.stack([jnp.full((4, 4, 3), v) for v in (1.0, 2.0)])
  out = pool.query(images, jax.random.key(0))
  np.testing.assert_array_equal(out, images)
  np.testing.assert_array_equal(pool.images[...], images)
  assert int(pool.count[...]) == 2
  outcomes, stored, count = set(), pool.images[...], pool.count[...]
  query = jax.jit(nets.query_pool)  # what ImagePool.query runs, compiled once
  for seed in range(16):
    before = np.asarray(stored)[:, 0, 0, 0]
    new = jnp.full((1, 4, 4, 3), 10.0 + seed)
    shown, stored, count = query(stored, count, new, jax.random.key(seed))
    shown, after = float(shown[0, 0, 0, 0]), np.asarray(stored)[:, 0, 0, 0]
    if shown == 10.0 + seed:  # returned as is: the pool is unchanged
      np.testing.assert_array_equal(after, before)
      outcomes.add("kept")
    else:  # an old image returned, the new one stored in its slot
      (slot,) = np.flatnonzero(after != before)
      assert before[slot] == shown and after[slot] == 10.0 + seed
      outcomes.add("swapped")
  assert outcomes == {"kept", "swapped"} and int(count) == 2
  # A batch is queried image by image: while filling, every image is stored and returned.
  out, stored, count = nets.query_pool(jnp.zeros((3, 1, 1, 1)), jnp.int32(1),
                                       jnp.arange(1.0, 3.0).reshape(2, 1, 1, 1),
                                       jax.random.key(0))
  np.testing.assert_array_equal(out.ravel(), [1, 2])
  np.testing.assert_array_equal(stored.ravel(), [0, 1, 2])
  assert int(count) == 3


def test_domains_are_checked_with_one_line_errors():
  config = cyclegan_config.get_config("smoke")
  config.model.domain_b = "joyful"
  with pytest.raises(UserError, match="model.domain_b must be one of neutral, happy") as e:
    recipe_lib.CycleGAN(config)
  assert "\n" not in str(e.value)
  config.model.domain_b = "neutral"
  with pytest.raises(UserError, match="both 'neutral'"):
    recipe_lib.CycleGAN(config)
  recipe = recipe_lib.CycleGAN(cyclegan_config.get_config("smoke"))
  faces = np.zeros((2, 32, 32, 3), np.uint8)
  with pytest.raises(UserError, match="translates only between neutral and happy") as e:
    recipe.edit_inputs(faces, emotion="sad")
  assert "'sad' is neither" in str(e.value) and "\n" not in str(e.value)
  with pytest.raises(UserError, match="CycleGAN.edit needs a target: emotion='happy'"):
    recipe.edit_inputs(faces)
  with pytest.raises(UserError, match="intensity must be 1"):
    recipe.edit_inputs(faces, emotion="happy", intensity=0.5)
  batch = recipe.edit_inputs(faces, emotion=["happy", "neutral"])
  np.testing.assert_array_equal(batch["to_a"], [0, 1])
  assert recipe.generation_targets() == [("happy", {"emotion": "happy"})]


def test_eval_restriction_follows_the_domains():
  config = cyclegan_config.get_config()
  assert (config.evals.pairs.input_emotions, config.evals.pairs.target_emotions) == (
      "neutral", "happy")
  config.model.domain_b = "sad"  # as --config.model.domain_b=sad does
  assert config.evals.pairs.target_emotions == config.evals.fer.target_emotions == "sad"


def test_edit_prediction_runs_the_generator_of_each_row_direction():
  """Under jit: G_AB on rows asking for domain B, G_BA on the others (one, the other, or mixed)."""
  recipe = recipe_lib.CycleGAN(cyclegan_config.get_config("smoke"))
  gen = types.SimpleNamespace(g_ab=lambda x: x + 1.0, g_ba=lambda x: x - 1.0)
  compute = recipe.predictors()["edit"].compute
  edit = jax.jit(lambda batch: compute(gen, batch)["image"])
  image = np.zeros((3, 32, 32, 3), np.float32)
  for to_a, want in (([0, 0, 0], [1, 1, 1]), ([1, 1, 1], [-1, -1, -1]), ([0, 1, 0], [1, -1, 1])):
    out = edit({"image": image, "to_a": np.asarray(to_a, np.int32)})
    np.testing.assert_array_equal(np.asarray(out)[:, 0, 0, 0], want)


def test_examples_pair_the_two_domains(smoke_stills):
  """Unpaired: every (neutral, happy) combination of the split once, the first elements showing
  every neutral face; with lambda_truth the same face's two expressions."""
  source = smoke_stills.as_data_source("train")  # 6 identities x 8 expressions
  config = cyclegan_config.get_config("smoke")
  examples = recipe_lib.CycleGAN(config).examples(source, "train")
  assert len(examples) == 6 * 6
  pairs = [examples.pair(k) for k in range(len(examples))]
  assert len(set(pairs)) == 36
  assert {int(source[i]["emotion"]) for i, _ in pairs} == {0}
  assert {int(source[j]["emotion"]) for _, j in pairs} == {1}
  first = [examples[k] for k in range(6)]
  assert sorted(int(e["identity"]) for e in first) == list(range(6))
  assert all(int(e["identity_b"]) != int(e["identity"]) for e in first)
  assert first[0]["image_b"].shape == (32, 32, 3)
  config.model.lambda_truth = 10.0
  paired = recipe_lib.CycleGAN(config).examples(source, "train")
  assert len(paired) == 6
  assert all(int(paired[k]["identity"]) == int(paired[k]["identity_b"]) for k in range(6))
  recipe = recipe_lib.CycleGAN(config)
  validation = smoke_stills.as_data_source("validation")  # 2 identities: 2 neutral, 2 happy
  assert recipe.examples(validation, "validation").epoch == 2  # unpaired: not the train split
  assert recipe.examples(validation, "validation") is recipe.examples(validation, "validation")
  batches = list(recipe.eval_batches(validation, "validation", 1, 0))  # one epoch, not 2 x 2
  assert len(batches) == 2 and set(batches[0]) == {"image", "image_b"}
  config.model.domain_b = "sad"
  assert {int(source[j]["emotion"]) for _, j in (
      recipe_lib.CycleGAN(config).examples(source, "x").pair(k) for k in range(36))} == {2}


@pytest.mark.parametrize("num_a, num_b", [(4, 6), (2, 4), (5, 3)])
def test_unpaired_elements_are_every_combination_and_one_epoch_shows_every_image(num_a, num_b):
  source = [{"image": np.zeros((4, 4, 3), np.uint8), "emotion": np.int64(e)}
            for e in [0] * num_a + [1] * num_b + [2]]
  examples = domain_pairs.DomainPairs(source, 0, 1)
  pairs = [examples.pair(k) for k in range(len(examples))]
  assert len(examples) == num_a * num_b == len(set(pairs))
  assert {i for i, _ in pairs} == set(range(num_a))
  assert {j for _, j in pairs} == set(range(num_a, num_a + num_b))
  epoch = pairs[:examples.epoch]
  assert examples.epoch == max(num_a, num_b)
  assert {i for i, _ in epoch} == set(range(num_a))
  assert {j for _, j in epoch} == set(range(num_a, num_a + num_b))
  assert "emotion_b" in examples[0] and "identity" not in examples[0]


def test_sample_layout():
  """A | G_AB(A) | G_BA(G_AB(A)) | B | G_BA(B) | G_AB(G_BA(B))."""
  config = cyclegan_config.get_config("smoke")
  recipe = recipe_lib.CycleGAN(config)
  gen = types.SimpleNamespace(g_ab=lambda x: x + 1.0, g_ba=lambda x: x - 3.0)
  a, b = _images(np.random.default_rng(0), 3, 32)
  tiles = np.asarray(recipe.sample(gen, {"image": a, "image_b": b}))
  n = config.logging.num_samples
  assert tiles.shape == (n, 6, 32, 32, 3)
  for column, want in enumerate((a, a + 1, a - 2, b, b - 3, b - 2)):
    np.testing.assert_allclose(tiles[:, column], want[:n], rtol=1e-6)


def _main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def test_main_smoke_trains_evaluates_generates_and_loads(tmp_path, tfds_dir, smoke_stills):
  del smoke_stills
  workdir = tmp_path / "w"
  common = ("--config=configs/cyclegan.py:smoke", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}", "--config.model.lambda_truth=10")
  proc = _main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows if row["step"] == 2 for k, v in row.items()}
  for name in ("critic/d_a", "critic/d_b", "gen/adversarial_ab", "gen/adversarial_ba",
               "gen/cycle_a", "gen/cycle_b", "gen/identity_ab", "gen/identity_ba", "gen/truth_ab",
               "gen/truth_ba", "eval/cycle_l1_a", "eval/d_b_fake"):
    assert np.isfinite(logged[name]), name
  from PIL import Image
  grid = np.asarray(Image.open(workdir / "samples" / "latest.png"))
  assert grid.shape == (2 * 32 + 3 * 2, 6 * 32 + 7 * 2, 3)  # A, fake B, rec A, B, fake A, rec B
  proc = _main(*common, "--mode=generate")
  assert proc.returncode == 0, proc.stderr
  edits = np.asarray(Image.open(workdir / "generate_step_2" / "edits.png"))
  assert edits.shape == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2, 3)  # input, happy
  proc = _main(*common, "--mode=eval")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  # The validation split's 2 neutral faces, each towards the same face happy.
  assert result["model"] == "cyclegan" and result["num_pairs"] == 2
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  assert ("model", "critic_cycle_l1_a") in values and ("model", "critic_d_b_real") in values
  model = fxs_jax.load(workdir)
  assert model.declaration("edit").conditions == ("emotion",)
  face = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
  out = model.edit(face, emotion="happy")
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
  assert model.edit(face, emotion="neutral").shape == (32, 32, 3)
  with pytest.raises(UserError, match="only between neutral and happy"):
    model.edit(face, emotion="sad")
