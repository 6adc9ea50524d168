"""GANimation's recipe: loss terms and weights against hand-computed values on stub networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import config_upgrade
from fxs_jax import inputs
from fxs_jax.errors import UserError
from fxs_jax.recipes import ganimation as recipe_lib

B, S = 25, 8  # the official batch size, tiny images

# float32 means over the batch's ~10^4 mask pixels, accumulated in order (the suite compiles
# without vectorised partial sums, tests/conftest.py): up to ~2e-5 from the exact value.
MEAN_RTOL = 5e-5


def _recipe(**model):
  config = ganimation_config.get_config()
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.GANimation(config)


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  image = rng.uniform(-1, 1, (B, S, S, 3)).astype(np.float32)
  aus = rng.uniform(0, 1, (B, 17)).astype(np.float32)
  target = rng.uniform(0, 1, (B, 17)).astype(np.float32)
  return {"image": image, "aus": aus, "target_aus": target}


def test_targets_are_another_examples_aus_plus_bounded_noise():
  rng = np.random.default_rng(0)
  aus = rng.uniform(0, 5, (B, 17)).astype(np.float32)
  out = _recipe().prepare_batch({"image": np.zeros((B, S, S, 3)), "aus": aus}, rng)
  np.testing.assert_allclose(out["aus"], aus / 5)
  # Each target row is some row of aus/5 (a permutation) within +-0.1.
  dist = np.abs(out["target_aus"][:, None, :] - out["aus"][None, :, :]).max(-1)  # (B, B)
  owner = dist.argmin(1)
  assert np.all(dist.min(1) <= 0.1 + 1e-6)
  assert sorted(owner) == list(range(B))
  assert np.any(owner != np.arange(B))


def test_generator_loss_official_terms_on_constant_stub_networks():
  a, c, d_au = 0.3, 0.5, 0.25
  batch = _batch()
  gen = lambda img, aus: (jnp.full(img.shape, c), jnp.full(img.shape[:3] + (1,), a))
  critic = lambda img: (jnp.mean(img, axis=(1, 2, 3))[:, None, None, None],
                        jnp.full((img.shape[0], 17), d_au))
  loss, m = _recipe().generator_loss(gen, critic, batch, jax.random.key(0))
  x, y = batch["image"], batch["target_aus"]
  fake = a * x + (1 - a) * c
  rec = a * fake + (1 - a) * c
  expected = {
      "gen/adversarial": -fake.mean(),
      "gen/au": 4000 * np.mean((d_au - y) ** 2) / 25,
      "gen/cycle": 10 * np.abs(rec - x).mean(),
      "gen/mask": 0.1 * (a + a),
      "gen/mask_tv": 0.0,  # constant masks
  }
  for name, value in expected.items():
    np.testing.assert_allclose(m[name], value, rtol=MEAN_RTOL, atol=1e-7, err_msg=name)
  np.testing.assert_allclose(loss, sum(expected.values()), rtol=MEAN_RTOL)


def test_l2_attention_penalty_and_tv_weight_switches():
  batch = _batch()
  a = 0.3
  gen = lambda img, aus: (jnp.zeros(img.shape), jnp.full(img.shape[:3] + (1,), a))
  critic = lambda img: (jnp.zeros((img.shape[0], 1, 1, 1)), jnp.zeros((img.shape[0], 17)))
  _, m = _recipe(attention_penalty="l2").generator_loss(gen, critic, batch, jax.random.key(0))
  np.testing.assert_allclose(m["gen/mask"], 0.1 * 2 * a * a, rtol=MEAN_RTOL)
  with pytest.raises(UserError, match="attention_penalty"):
    _recipe(attention_penalty="l3")


@pytest.mark.parametrize("separate", [True, False])
def test_critic_loss_with_a_linear_critic(separate):
  """Linear critic D(x) = <w, x>: WGAN term by hand and GP = (||w|| - 1)^2 exactly."""
  batch = _batch()
  w = np.random.default_rng(1).normal(0, 0.05, (S, S, 3)).astype(np.float32)
  au_pred = 0.4
  critic = lambda img: (jnp.sum(img * w, axis=(1, 2, 3))[:, None, None, None],
                        jnp.full((img.shape[0], 17), au_pred))
  fake = np.random.default_rng(2).uniform(-1, 1, batch["image"].shape).astype(np.float32)
  recipe = _recipe(gp_separate_step=separate)
  total, metrics = 0.0, {}
  for i, phase in enumerate(recipe.critic_phases()):
    loss, m = recipe.critic_loss(critic, batch, {"image": fake}, jax.random.key(i), phase)
    total, metrics = total + loss, {**metrics, **m}
  assert len(recipe.critic_phases()) == (2 if separate else 1)
  scores = lambda x: (x * w).sum((1, 2, 3))
  wgan = scores(fake).mean() - scores(batch["image"]).mean()
  au = 4000 * np.mean((au_pred - batch["aus"]) ** 2) / 25
  gp = (np.linalg.norm(w) - 1) ** 2
  np.testing.assert_allclose(metrics["critic/gp"], gp, rtol=1e-4)
  np.testing.assert_allclose(total, wgan + au + 10 * gp, rtol=1e-4)


def test_sample_layout():
  config = ganimation_config.get_config("smoke")
  recipe = recipe_lib.GANimation(config)
  s = config.model.image_size
  gen = lambda img, aus: (jnp.zeros(img.shape), jnp.ones(img.shape[:3] + (1,)))  # keep input
  batch = {k: v[:, :s, :s] if k == "image" else v for k, v in _batch().items()}
  batch["image"] = np.resize(batch["image"], (B, s, s, 3))
  tiles = recipe.sample(gen, batch)
  n, targets = config.logging.num_samples, 1 + len(recipe_lib.SAMPLE_EMOTIONS)
  assert tiles.shape == (n, 1 + 3 * targets, s, s, 3)
  # With A = 1 every output column equals the input.
  np.testing.assert_allclose(tiles[:, 3], batch["image"][:n])


@pytest.mark.parametrize("text,match", [("1,2,3", "has 3 values"), ("a,b", "not a list"),
                                         (",".join(["6"] * 17), r"in \[0, 5\]")])
def test_bad_au_vectors_are_explained(text, match):
  with pytest.raises(UserError, match=match):
    inputs.parse_aus(text)


def test_good_au_vector_parses():
  np.testing.assert_allclose(inputs.parse_aus(",".join(["2.5"] * 17)), np.full(17, 2.5))


def test_edit_inputs_build_the_batch_and_explain_bad_arguments():
  """What ``fxs_jax.load(...).edit`` sends to the network: AUs / 5, EMFACS prototypes times the
  intensity, uint8 images scaled to [-1, 1]; one-line errors for the rest."""
  from fxs_jax import facs  # pylint: disable=import-outside-toplevel
  recipe = recipe_lib.GANimation(ganimation_config.get_config("smoke"))
  images = np.zeros((17, 32, 32, 3), np.uint8)  # 17 images: AU vectors are not mistaken for rows
  batch = recipe.edit_inputs(images, aus=np.full(17, 2.5))
  np.testing.assert_allclose(batch["target_aus"], np.full((17, 17), 0.5))
  np.testing.assert_allclose(batch["image"], -1.0)
  batch = recipe.edit_inputs(images[:2], emotion=["happy", "sad"], intensity=[1.0, 0.5])
  np.testing.assert_allclose(batch["target_aus"][0] * 5, facs.emotion_aus("happy"), rtol=1e-6)
  np.testing.assert_allclose(batch["target_aus"][1] * 5, facs.emotion_aus("sad") * 0.5, rtol=1e-6)
  for arguments, match in ((dict(aus=[1, 2]), "17 intensities"),
                           (dict(aus=np.ones((3, 17))), "once or once per image"),
                           (dict(emotion="hapy"), "Unknown emotion 'hapy'"),
                           (dict(), "exactly one target"),
                           (dict(emotion="sad", intensity=-1), r"intensity=-1: .* in \[0, 10\]"),
                           (dict(aus=np.full(17, 6.0)), r"\[0, 5\]")):
    with pytest.raises(UserError, match=match) as info:
      recipe.edit_inputs(images, **arguments)
    assert "\n" not in str(info.value)
  with pytest.raises(UserError, match="64x64 px; this model edits 32x32"):
    recipe.edit_inputs(np.zeros((1, 64, 64, 3), np.uint8), emotion="happy")


def test_colour_switch_is_checked_and_older_configs_read_as_absolute():
  assert _recipe().colour == "absolute"  # the official setting is the default
  assert _recipe(colour="residual").colour == "residual"
  with pytest.raises(UserError, match="model.colour must be one of"):
    _recipe(colour="additive")
  config = ganimation_config.get_config()
  with config.unlocked():
    del config.model["colour"]  # a config saved before the switch, upgraded where it is read
  assert recipe_lib.GANimation(config_upgrade.upgrade(config)).colour == "absolute"


def test_paired_batches_target_the_partner_and_add_the_truth_l1():
  rng = np.random.default_rng(1)
  aus, partner_aus = rng.uniform(0, 5, (2, B, 17)).astype(np.float32)
  truth = rng.uniform(-1, 1, (B, S, S, 3)).astype(np.float32)
  paired = {"image": np.zeros((B, S, S, 3), np.float32), "aus": aus, "target_aus": partner_aus,
            "target_image": truth}
  out = _recipe(lambda_truth=100.0).prepare_batch(paired, rng)
  np.testing.assert_allclose(out["target_aus"], partner_aus / 5)  # exact: no noise
  np.testing.assert_array_equal(out["target_image"], truth)
  a, c = 0.25, 0.5
  batch = {**_batch(), "target_image": truth}
  gen = lambda img, aus: (jnp.full(img.shape, c), jnp.full(img.shape[:3] + (1,), a))
  critic = lambda img: (jnp.zeros((img.shape[0], 1, 1, 1)), jnp.zeros((img.shape[0], 17)))
  fake = a * batch["image"] + (1 - a) * c
  loss, m = _recipe(lambda_truth=100.0).generator_loss(gen, critic, batch, jax.random.key(0))
  np.testing.assert_allclose(m["gen/truth"], 100 * np.abs(fake - truth).mean(), rtol=1e-5)
  loss0, m0 = _recipe().generator_loss(gen, critic, batch, jax.random.key(0))
  assert "gen/truth" not in m0  # the paper's setting: no truth term, even on a paired batch
  np.testing.assert_allclose(loss - loss0, m["gen/truth"], rtol=1e-4)
  with pytest.raises(UserError, match="lambda_truth must be >= 0"):
    _recipe(lambda_truth=-1.0)
  assert "gen/colour_truth" not in m  # colour_truth_weight 0: the truth on the edit only


def test_changed_truth_weight_adds_the_truth_l1_over_the_changed_pixels_only():
  image = _batch()["image"]
  truth = image.copy()
  truth[:, 2:5, 1:6] += 0.5  # the truth changes a 3 x 5 window (by more than 5/255)
  truth[:, 6, 6] += 0.02  # and one pixel by less: kept, not in the term
  batch = {**_batch(), "target_image": truth}
  gen = lambda img, aus: (img + 0.3, jnp.zeros(img.shape[:3] + (1,)))  # the edit: input + 0.3
  critic = lambda img: (jnp.zeros((img.shape[0], 1, 1, 1)), jnp.zeros((img.shape[0], 17)))
  _, m = _recipe(lambda_truth=100.0, changed_truth_weight=0.25).generator_loss(
      gen, critic, batch, jax.random.key(0))
  # On the 15 changed pixels |0.3 - 0.5| = 0.2; over the image the mean is mostly 0.3.
  np.testing.assert_allclose(m["gen/changed_truth"], 0.25 * 100 * 0.2, rtol=1e-5)
  np.testing.assert_allclose(m["gen/truth"], 100 * np.abs(image + 0.3 - truth).mean(), rtol=1e-5)
  _, unpaired = _recipe(changed_truth_weight=0.25).generator_loss(gen, critic, _batch(),
                                                                  jax.random.key(0))
  assert "gen/changed_truth" not in unpaired  # lambda_truth 0: no pairs, no truth terms
  with pytest.raises(UserError, match="changed_truth_weight must be >= 0"):
    _recipe(lambda_truth=100.0, changed_truth_weight=-1.0)


def test_colour_truth_weight_puts_the_truth_on_the_colour_mask():
  # C = the input + 0.3 wherever A is: L1(C, truth) counts pixels where A = 1 too.
  rng = np.random.default_rng(2)
  image = _batch()["image"]
  truth = image.copy()
  truth[:, 2:5, 1:6] += 0.5  # the truth changes a 3 x 5 window (by more than 5/255)
  truth[:, 6, 6] += 0.02  # and one pixel by less: kept
  batch = {**_batch(), "target_image": truth}
  attention = np.ones((B, S, S, 1), np.float32)
  attention[:, :4] = 0.0  # opens the top rows only
  gen = lambda img, aus: (img + 0.3, jnp.asarray(attention))
  critic = lambda img: (jnp.zeros((img.shape[0], 1, 1, 1)), jnp.zeros((img.shape[0], 17)))
  colour = image + 0.3
  changed = np.abs(colour - truth)[:, 2:5, 1:6]  # |0.3 - 0.5| = 0.2 there
  np.testing.assert_allclose(changed, 0.2, rtol=1e-5)
  for region, expected in (("changed", 0.2), ("all", np.abs(colour - truth).mean())):
    _, m = _recipe(lambda_truth=100.0, colour_truth_weight=0.5,
                   colour_truth_region=region).generator_loss(gen, critic, batch,
                                                               jax.random.key(0))
    np.testing.assert_allclose(m["gen/colour_truth"], 0.5 * 100 * expected, rtol=1e-5)
  fake = np.where(attention > 0, image, colour)
  np.testing.assert_allclose(m["gen/truth"], 100 * np.abs(fake - truth).mean(), rtol=1e-5)
  _, unpaired = _recipe(colour_truth_weight=0.5).generator_loss(gen, critic, _batch(),
                                                                jax.random.key(0))
  assert "gen/colour_truth" not in unpaired  # lambda_truth 0: no pairs, no truth terms
  with pytest.raises(UserError, match="colour_truth_weight must be >= 0"):
    _recipe(lambda_truth=100.0, colour_truth_weight=-1.0)
  with pytest.raises(UserError, match="colour_truth_region must be one of"):
    _recipe(colour_truth_region="mouth")
