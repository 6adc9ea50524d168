"""TextureGAN recipe: frame pairing, the copy-the-neutral-face start, the losses by hand, input
checks, and a `:smoke` run (train / eval / generate) through ``fxs_jax.run``."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import texturegan as texturegan_config
from fxs_jax import run
from fxs_jax.errors import UserError
from fxs_jax.models import cgan_transfer as nets
from fxs_jax.recipes import RECIPES
from fxs_jax.recipes import texturegan as recipe_lib

S = 32  # the smoke config's image size


def _recipe(arg="smoke", **model):
  config = texturegan_config.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.TextureGAN(config)


def _sequences(num, T, rng):
  return [{"frames": rng.integers(0, 255, (T, 4, 4, 3), np.uint8),
           "landmarks": rng.uniform(0, 4, (T, 68, 2)).astype(np.float32),
           "aus": rng.uniform(0, 1, (T, 17)).astype(np.float32), "emotion": 3 + s,
           "identity": 10 + s} for s in range(num)]


def test_examples_pair_the_neutral_frame_with_each_later_frame():
  source = _sequences(2, 4, np.random.default_rng(0))
  assert len(_recipe(frames_per_sequence=0).examples(source, "train")) == 2 * 3  # every t > 0
  pairs = _recipe(frames_per_sequence=2).examples(source, "train")
  assert len(pairs) == 4 and pairs.times.tolist() == [1, 3]  # both ends of 1 .. T - 1
  example = pairs[3]  # sequence 1, frame 3
  seq = source[1]
  np.testing.assert_array_equal(example["target_image"], seq["frames"][0])
  np.testing.assert_array_equal(example["target_landmarks"], seq["landmarks"][0])
  np.testing.assert_array_equal(example["image"], seq["frames"][3])
  np.testing.assert_array_equal(example["landmarks"], seq["landmarks"][3])
  np.testing.assert_array_equal(example["aus"], seq["aus"][3])
  assert (example["frame"], example["emotion"], example["identity"]) == (3, 4, 11)
  with pytest.raises(UserError, match="sequences"):
    _recipe().examples([{"image": seq["frames"][0], "landmarks": seq["landmarks"][0]}], "test")
  assert RECIPES["texturegan"] is recipe_lib.TextureGAN


def test_generator_starts_as_copy_the_neutral_face():
  recipe = _recipe()
  gen = recipe.build_generator(nnx.Rngs(0))
  rng = np.random.default_rng(1)
  neutral = rng.uniform(-1, 1, (2, S, S, 3)).astype(np.float32)
  lms = rng.uniform(4, 28, (2, 68, 2)).astype(np.float32)
  out = recipe._render(gen, {"target_image": jnp.asarray(neutral), "landmarks": jnp.asarray(lms)})
  np.testing.assert_allclose(out, neutral, atol=1e-6)


class _FixedGenerator:
  """Returns the given fake whatever it is asked."""

  def __init__(self, fake, condition):
    self.fake, self.condition = fake, condition

  def __call__(self, source, source_lms, target, target_lms):
    return nets.TransferOutput(self.fake, self.condition, None)


def test_generator_loss_terms_by_hand():
  recipe = _recipe(identity_sigma=1.5)
  rng = np.random.default_rng(2)
  B, H = 2, S
  fake, truth, neutral = (rng.uniform(-1, 1, (B, H, H, 3)).astype(np.float32) for _ in range(3))
  lms0, lms_t = (rng.uniform(0, H - 1, (B, 68, 2)).astype(np.float32) for _ in range(2))
  condition = rng.uniform(-1, 1, (B, H, H, 5)).astype(np.float32)
  logits = rng.standard_normal((B, 4, 4, 1)).astype(np.float32)
  seen = {}

  def critic(image, cond):
    seen["image"], seen["cond"] = image, cond
    return jnp.asarray(logits)

  batch = {"target_image": neutral, "image": truth, "landmarks": lms_t, "target_landmarks": lms0}
  _, terms = recipe.generator_loss(_FixedGenerator(jnp.asarray(fake), jnp.asarray(condition)),
                                   critic, {k: jnp.asarray(v) for k, v in batch.items()}, None)
  # The critic sees the fake beside [neutral, J].
  np.testing.assert_allclose(seen["cond"], np.concatenate([neutral, condition], -1))
  # Literal formulas, float64 numpy.
  adversarial = np.mean(-np.log(1.0 / (1.0 + np.exp(-logits.astype(np.float64)))))
  l1 = 100.0 * np.mean(np.abs(fake - truth))
  ys, xs = np.mgrid[0:H, 0:H]
  near = np.zeros((B, H, H))
  for b in range(B):
    for x, y in np.concatenate([lms0[b], lms_t[b]]):
      near[b] = np.maximum(near[b], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5 ** 2)))
  identity = 10.0 * np.mean((1.0 - near)[..., None] * np.abs(fake - neutral))
  assert float(terms["gen/adversarial"]) == pytest.approx(adversarial, rel=1e-5)
  assert float(terms["gen/l1"]) == pytest.approx(l1, rel=1e-5)
  assert float(terms["gen/identity"]) == pytest.approx(identity, rel=1e-4)


def test_render_inputs_broadcast_and_bad_landmarks_are_explained():
  recipe = _recipe()
  face = np.zeros((S, S, 3), np.uint8)
  lms = np.full((5, 68, 2), 16.0, np.float32)
  batch = recipe.render_inputs(face, lms)
  assert batch["target_image"].shape == (5, S, S, 3) and batch["landmarks"].shape == (5, 68, 2)
  cases = [((face, lms[0]), r"\(T, 68, 2\); got shape \(68, 2\)"),
           ((face, lms[:, :5]), "68 finite"),
           ((face, np.full((5, 68, 2), np.nan)), "non-finite"),
           ((np.zeros((3, S, S, 3), np.uint8), lms), "one neutral image or one per frame"),
           ((np.zeros((64, 64, 3), np.uint8), lms), "64x64 px")]
  for args, match in cases:
    with pytest.raises(UserError, match=match) as info:
      recipe.render_inputs(*args)
    assert "\n" not in str(info.value)
  with pytest.raises(UserError, match="residual"):
    _recipe(output="absolute")
  with pytest.raises(UserError, match="model.variant"):
    _recipe(variant="cgan")


def test_smoke_trains_evaluates_and_generates(tmp_path, tfds_dir):
  config = texturegan_config.get_config("smoke")
  config.data.data_dir = str(tfds_dir)
  config.eval.identity = False  # dlib is the eval suite's test, not this one's
  workdir = tmp_path / "w"
  for mode in ("train", "eval", "generate"):
    run.run(config, str(workdir), mode)
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows for k, v in row.items()}
  for name in ("critic/adversarial", "gen/adversarial", "gen/l1", "gen/identity",
               "eval/l1_to_truth", "eval/l1_copy_target"):
    assert np.isfinite(logged[name]), name
  result = json.loads((workdir / "eval.json").read_text())
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert result["num_pairs"] == config.eval.num_examples
  assert values["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0)
  for method in ("model", "copy_input"):
    assert 0.0 < values[method, "ssim_vs_truth"] < 1.0
    assert np.isfinite(values[method, "psnr_vs_truth"])
  assert (workdir / "generate_step_2" / "frames.png").exists()
