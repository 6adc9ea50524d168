"""MotionGAN recipe: losses against the authors' literal formulas, the sphere, the Karcher mean
through checkpoints and exports, input checks, and a `:smoke` run (train / eval / generate)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import fxs_jax
from configs import motiongan as motiongan_config
from fxs_jax import geometry
from fxs_jax import run
from fxs_jax.errors import UserError
from fxs_jax.models import motiongan as nets
from fxs_jax.recipes import motiongan as recipe_lib

T, D = 8, 136  # the smoke config's frames; 68 landmarks x 2


def _recipe(arg="smoke", **model):
  config = motiongan_config.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.MotionGAN(config)


def _unit(x):
  return x / np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True) / x.shape[-2])


def _at_angle(mu, angle, rng):
  """A unit SRVF at geodesic distance ``angle`` from the unit ``mu``, in a random direction."""
  w = rng.standard_normal(mu.shape)
  w -= np.sum(w * mu) / T * mu
  return np.cos(angle) * mu + np.sin(angle) * _unit(w)


# ---- the authors' formulas, literally (TensorFlow SRVF_WGAN.py), in float64 numpy --------------
def _inner(a, b):
  return np.sum(a * b, axis=(-2, -1)) / a.shape[-2]


def _authors_log(q, mu, clip=0.98):
  prod = _inner(mu, q)
  u = q - mu * prod[..., None, None]
  theta = np.arccos(np.clip(prod, -clip, clip))
  return u * (theta / np.sqrt(_inner(u, u)))[..., None, None]


def _authors_geodesic(q1, q2, clip=0.98):
  return np.arccos(np.clip(_inner(q1, q2), -clip, clip))


class _FixedGenerator:
  """Stands in for the generator: returns the given fakes, holds mu."""

  def __init__(self, mu, fakes):
    self.reference, self.fakes = jnp.asarray(mu, jnp.float32), jnp.asarray(fakes, jnp.float32)

  def __call__(self, noise, label):
    del noise, label
    return nets.MotionOutput(self.fakes, self.fakes)


def test_losses_match_the_authors_formulas_on_a_constructed_batch():
  rng = np.random.default_rng(0)
  mu = _unit(rng.standard_normal((T, D)))
  # Real motions at 0.1 (inside the 0.98 clip: theta floored at 0.2), 0.7 and 1.3 rad from mu;
  # fakes 0.05 (clipped in the geodesic loss), 0.5 and 1.0 rad from their reals.
  real = np.stack([_at_angle(mu, a, rng) for a in (0.1, 0.7, 1.3)])
  fake = np.stack([_at_angle(r, a, rng) for r, a in zip(real, (0.05, 0.5, 1.0))])
  emotion = np.array([1, 4, 7], np.int32)
  # A linear critic: its input gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly.
  w = 1.7 * rng.standard_normal((T, D)) / np.sqrt(T * D)
  w_norm = np.sqrt(np.sum(w * w))
  bias = rng.standard_normal(7)

  def critic(x, label):
    return jnp.sum(jnp.asarray(w, jnp.float32) * x, axis=(1, 2)) + jnp.asarray(bias)[label]

  recipe = _recipe()
  recipe.reference_TxD = mu.astype(np.float32)
  gen = _FixedGenerator(mu, fake)
  batch = {"srvf": jnp.asarray(real, jnp.float32), "emotion": jnp.asarray(emotion),
           "noise": jnp.zeros((3, 8))}
  fakes = recipe.fakes_for_critic(gen, batch, None)
  log_real, log_fake = _authors_log(real, mu), _authors_log(fake, mu)
  np.testing.assert_allclose(fakes["log_real"], log_real, atol=2e-5)
  np.testing.assert_allclose(fakes["log_fake"], log_fake, atol=2e-5)
  score = lambda x: np.sum(w * x, axis=(1, 2)) + bias[emotion - 1]
  loss, metrics = recipe.critic_loss(critic, batch, fakes, jax.random.key(0))
  want_adv = np.mean(score(log_fake)) - np.mean(score(log_real))
  np.testing.assert_allclose(metrics["critic/gp"], (w_norm - 1.0) ** 2, rtol=1e-4)
  np.testing.assert_allclose(loss, want_adv + 10.0 * (w_norm - 1.0) ** 2, rtol=1e-4)
  loss, terms = recipe.generator_loss(gen, critic, batch, None)
  want = {"gen/adversarial": -np.mean(score(log_fake)),
          "gen/l1": 10.0 * np.mean(np.abs(log_real - log_fake)),
          "gen/geodesic": 10.0 * np.mean(_authors_geodesic(fake, real))}
  assert _authors_geodesic(fake, real)[0] == pytest.approx(np.arccos(0.98))  # the clip acts
  for name, value in want.items():
    np.testing.assert_allclose(terms[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
  np.testing.assert_allclose(loss, sum(want.values()), rtol=1e-4)


@pytest.mark.parametrize("tangent_scale", [1.0, 8.0])
def test_generated_motions_lie_on_the_sphere(tangent_scale):
  mu = _unit(np.random.default_rng(1).standard_normal((T, D))).astype(np.float32)
  gen = nets.MotionGenerator(T, D, 7, noise_dim=8, base_channels=16, num_up=1,
                             tangent_scale=tangent_scale, reference_TxD=mu, rngs=nnx.Rngs(0))
  noise = jax.random.normal(jax.random.key(1), (5, 8))
  out = gen(noise, jnp.arange(5))
  np.testing.assert_allclose(geometry.inner(out.srvf_BxTxD, out.srvf_BxTxD), 1.0, atol=1e-5)
  np.testing.assert_allclose(geometry.inner(out.tangent_BxTxD, mu), 0.0, atol=1e-5)
  assert float(jnp.min(geometry.norm(out.tangent_BxTxD))) > 0  # not collapsed onto mu
  critic = nets.MotionCritic(T, D, 7, channels=(8, 4), hidden=16, norm="layer",
                             rngs=nnx.Rngs(2))
  assert critic(out.tangent_BxTxD, jnp.arange(5)).shape == (5,)


def test_animate_moves_a_face_in_its_own_frame():
  rng = np.random.default_rng(2)
  neutral = rng.uniform(10, 50, (68, 2)).astype(np.float32)
  curve = rng.standard_normal((T, D)).astype(np.float32) * 0.1
  normalised = geometry.normalise_landmarks(neutral)
  np.testing.assert_allclose(geometry.motion_on_face(normalised, curve, 0.14),
                             geometry.apply_motion(normalised, curve, 0.14), atol=1e-6)
  # Equivariant: scaling and moving the face scales and moves its animation.
  np.testing.assert_allclose(geometry.motion_on_face(3.0 * neutral + 7.0, curve, 0.14),
                             3.0 * geometry.motion_on_face(neutral, curve, 0.14) + 7.0, rtol=1e-5)
  np.testing.assert_allclose(geometry.motion_on_face(neutral, np.zeros((T, D)), 0.14),
                             np.broadcast_to(neutral, (T, 68, 2)), rtol=1e-5)


def test_bad_settings_and_inputs_are_explained():
  for key, value, match in (("critic_norm", "batch", "model.critic_norm"),
                            ("log_clip", 1.5, "model.log_clip"),
                            ("num_frames", 1, "model.num_frames")):
    with pytest.raises(UserError, match=match):
      _recipe(**{key: value})
  recipe = _recipe()
  batch = recipe.sample_motion_inputs("happy", num_samples=2)
  assert batch["emotion"].tolist() == [1, 1] and batch["noise"].shape == (2, 8)
  lms = np.full((68, 2), 16.0)
  assert recipe.sample_motion_inputs(["sad", 4], neutral_landmarks=lms)[
      "neutral_landmarks"].shape == (2, 68, 2)
  cases = [(dict(emotion="joyful"), "happy, sad"),
           (dict(emotion="neutral"), "neutral -> an expression"),
           (dict(emotion=0), "index 1-7"),
           (dict(emotion="happy", neutral_landmarks=np.zeros((68, 3))), r"68 \(x, y\) points"),
           (dict(emotion="happy", neutral_landmarks=np.zeros((5, 2))), r"\(68, 2\)"),
           (dict(emotion="happy", neutral_landmarks=np.full((68, 2), np.nan)), "no face found"),
           (dict(emotion=["happy", "sad"], neutral_landmarks=np.zeros((3, 68, 2))),
            "once per sample"),
           (dict(emotion="happy", noise=np.zeros((2, 3))), "noise must be")]
  for kwargs, match in cases:
    with pytest.raises(UserError, match=match) as info:
      recipe.sample_motion_inputs(**kwargs)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, tfds_dir):
  """The `:smoke` config trained (2 steps), evaluated and generated through ``fxs_jax.run``."""
  config = motiongan_config.get_config("smoke")
  config.data.data_dir = str(tfds_dir)
  workdir = tmp_path_factory.mktemp("motiongan") / "w"
  for mode in ("train", "eval", "generate"):
    run.run(config, str(workdir), mode)
  return config, workdir


def test_smoke_trains_evaluates_and_generates(smoke_run):
  _, workdir = smoke_run
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows for k, v in row.items()}
  for name in ("critic/wasserstein", "critic/gp", "gen/adversarial", "gen/l1", "gen/geodesic",
               "eval/geodesic_paired", "eval/wasserstein"):
    assert np.isfinite(logged[name]), name
  assert {"motions_latest.png", "real_vs_generated_latest.png"} <= {
      p.name for p in (workdir / "samples").iterdir()}
  result = json.loads((workdir / "eval.json").read_text())
  value = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  assert 0.0 <= value["model", "geodesic_paired"] <= np.pi
  for method in ("model", "real_heldout"):  # (one validation motion per class: no paired reals)
    for metric in ("geodesic_nearest_same_class", "geodesic_nearest_other_class"):
      assert 0.0 <= value[method, metric] <= np.pi
    assert 0.0 <= value[method, "motion_class_accuracy"] <= 1.0
  assert value["chance", "motion_class_accuracy"] == pytest.approx(1 / 7)
  assert result["evaluators"]["motion_classifier"]["classes"] == list(range(1, 8))
  saved = np.load(workdir / "generate_step_2" / "motions.npz")
  assert saved["landmarks"].shape == (7, T, 68, 2) and saved["srvf"].shape == (7, T, D)


def test_karcher_mean_survives_checkpoint_load_and_export(smoke_run, tmp_path):
  config, workdir = smoke_run
  from fxs_jax.data import pipeline
  recipe = recipe_lib.MotionGAN(config)
  train = pipeline.load(config.data, ["train"])["train"]
  srvfs = np.stack([e["srvf"] for e in recipe.examples(train, "train")])
  mu = recipe.reference_TxD
  np.testing.assert_allclose(geometry.inner(mu, mu), 1.0, atol=1e-5)
  # The Karcher mean: the mean of the logs there vanishes (geodesic distances are stationary).
  np.testing.assert_allclose(np.mean(geometry.log_map(srvfs, mu), axis=0), 0.0, atol=1e-4)
  for path in (workdir, fxs_jax.export(workdir, tmp_path / "export")):
    model = fxs_jax.load(path)
    np.testing.assert_allclose(model.generator.reference[...], mu, atol=1e-6)
    out = model.sample_motion("happy", neutral_landmarks=np.random.default_rng(0).uniform(
        8, 24, (68, 2)))
    assert out["landmarks"].shape == (1, T, 68, 2)
    np.testing.assert_allclose(geometry.inner(out["srvf"], out["srvf"]), 1.0, atol=1e-5)


def test_paper_lr_decays_exponentially_in_stairs_of_1000_iterations():
  from fxs_jax.train import state as state_lib
  config = motiongan_config.get_config()
  schedule = state_lib.lr_schedule(config.optim, config.num_train_steps)
  np.testing.assert_allclose([schedule(s) for s in (0, 999, 1000, 2500)],
                             [1e-6, 1e-6, 0.96e-6, 0.96**2 * 1e-6], rtol=1e-5)
