"""TGAN: parameter counts against the official networks' layer list, singular value clipping
against numpy's SVD, the critic optimiser's projection every ``svc_every`` updates (and no other
recipe's optimiser touched), Chainer's RMSprop, the temporal generator's latents, the strided
3-D conv against ``lax.conv``, WGAN loss terms by hand with stub networks, one-line errors, and
``:smoke`` trained, generated, evaluated and loaded from the command line."""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from tests.recipes import video_from_noise_cli
from configs import mocogan as mocogan_config
from configs import tgan as tgan_config
from fxs_jax import recipes
from fxs_jax.errors import UserError
from fxs_jax.models import mocogan as mocogan_nets
from fxs_jax.models import tgan as nets
from fxs_jax.nn import spectral
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes import tgan as recipe_lib
from fxs_jax.recipes.mocogan import MoCoGAN
from fxs_jax.train import state as state_lib

K = 7  # classes: happy .. contemptuous


def _recipe(arg="smoke", **model):
  config = tgan_config.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.TGAN(config)


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_parameter_counts_match_the_official_networks_at_64_px():
  """pfnet-research/tgan with z_slow = z_fast = 100 (+ 7 classes on z0):
  FrameSeedGeneratorNoBeta (1x1 deconv 107 -> 512, deconvs 512 -> 256 -> 128 -> 128 -> 100, all
  with bias; batch norms without beta), VideoGenerator (bias-free linears to 256 x 4 x 4 with
  batch norms over those 4096 features, bias-free 4x4 deconvs 512 -> 32, batch norms, a 3x3
  deconv with bias to RGB), VideoDiscriminatorNoBeta (4x4x4 convs 3 -> 512 with bias, batch norms
  without beta on the last three, a 4x4 head with bias, to 1 + 7 outputs here)."""
  recipe = _recipe(None)
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  z = 100 + K
  g0 = (z * 512 + 512 + 512 * 256 * 4 + 256 + 256 * 128 * 4 + 128 + 128 * 128 * 4 + 128
        + 128 * 100 * 4 + 100 + (512 + 256 + 128 + 128))
  g1 = (z * 4096 + 100 * 4096 + 2 * 2 * 4096 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16
        + 64 * 32 * 16 + 2 * (256 + 128 + 64 + 32) + 32 * 3 * 9 + 3)
  d = (3 * 64 * 64 + 64 + 64 * 128 * 64 + 128 + 128 + 128 * 256 * 64 + 256 + 256
       + 256 * 512 * 64 + 512 + 512 + 512 * (1 + K) * 16 + 1 + K)
  assert _num_params(gen.temporal) == g0 == 829_028
  assert _num_params(gen.image) == g1 == 3_651_363
  assert _num_params(gen) == g0 + g1
  assert _num_params(critic) == d == 11_089_736


def _svd(matrix):
  return np.linalg.svd(np.asarray(matrix, np.float64), full_matrices=False)


def test_singular_value_clipping_against_numpys_svd():
  """Each weight read as (in * k..., out): the singular values above 1 become 1, those below are
  kept, and so are the singular vectors (U diag(min(s, 1)) V^T of numpy's SVD); a batch norm's
  scale beside a running variance is clipped to [0.01 sd, sd]; vectors are left alone."""
  rng = np.random.default_rng(0)
  conv = (rng.standard_normal((4, 4, 4, 3, 8)) * 0.3).astype(np.float32)
  linear = (rng.standard_normal((6, 5)) * np.array([3.0, 0.1, 1.0, 0.2, 2.0])).astype(np.float32)
  small = (rng.standard_normal((5, 4)) * 0.05).astype(np.float32)
  params = {"conv": {"kernel": conv, "bias": np.full(8, 7.0, np.float32)}, "lin": linear,
            "small": small,
            "norm": {"scale": np.array([5.0, 0.5, 1e-4, -1.0], np.float32)},
            "other": {"scale": np.array([5.0], np.float32)}}
  rest = {"norm": {"running_var": np.array([4.0, 4.0, 4.0, 1.0], np.float32)}}
  out = jax.device_get(spectral.singular_value_clipping(
      jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, rest)))
  for name, before, after in (("conv", conv, out["conv"]["kernel"]), ("lin", linear, out["lin"]),
                              ("small", small, out["small"])):
    a = before.reshape(-1, before.shape[-1])
    u, s, vh = _svd(a)
    assert s.max() > 1 or name == "small"
    expected = (u * np.minimum(s, 1.0)) @ vh
    np.testing.assert_allclose(after.reshape(a.shape), expected, atol=1e-5, err_msg=name)
    s_after = _svd(after.reshape(a.shape))[1]
    assert s_after.max() <= 1 + 1e-5, name
    np.testing.assert_allclose(s_after[s < 1], s[s < 1], atol=1e-5)
  np.testing.assert_allclose(out["small"], small, atol=1e-6)  # nothing above 1: unchanged
  np.testing.assert_array_equal(out["conv"]["bias"], 7.0)
  np.testing.assert_allclose(out["norm"]["scale"], [2.0, 0.5, 0.02, 0.01])
  np.testing.assert_array_equal(out["other"]["scale"], [5.0])  # no running variance beside it


def test_the_critic_optimiser_projects_every_svc_every_updates_only():
  """``projected``: the projection (here: everything to its rest value) on updates 3 and 6 of
  6, ``tx``'s own updates on the others; it reads the ``critic_rest`` the trainer passes."""
  optim = tgan_config.get_config().optim
  seen = []

  def project(params, rest):
    seen.append(rest)
    return jax.tree.map(lambda p: jnp.full_like(p, rest), params)

  _, tx = state_lib.optimizers(optim, 100, critic_projection=project, projection_every=3)
  plain = state_lib.optimizers(optim, 100)[1]
  params, plain_params = {"w": jnp.ones(3)}, {"w": jnp.ones(3)}
  opt, plain_opt = tx.init(params), plain.init(plain_params)
  update = jax.jit(tx.update)
  for step in range(1, 7):
    grads = {"w": jnp.array([0.5, -1.0, 2.0]) * step}
    updates, opt = update(grads, opt, params, critic_rest=jnp.float32(-step))
    params = optax.apply_updates(params, updates)
    plain_updates, plain_opt = plain.update(grads, plain_opt, plain_params)
    plain_params = optax.apply_updates(plain_params, plain_updates)
    if step % 3:
      np.testing.assert_allclose(updates["w"], plain_updates["w"], rtol=1e-6)
    else:
      np.testing.assert_allclose(params["w"], -step, rtol=1e-6)
      plain_params = params
  assert len(seen) == 1  # traced once; the projection runs under lax.cond
  recipe = recipes.RECIPES["tgan"](tgan_config.get_config("smoke"))
  _, critic_tx = state_lib.recipe_optimizers(recipe, recipe.config)
  assert isinstance(critic_tx.init({"w": jnp.ones(2)}), state_lib.ProjectedState)


def test_other_recipes_optimisers_are_unchanged():
  """No recipe but TGAN projects; MoCoGAN's critic optimiser is its Adam, bit for bit, and the
  trainer's ``critic_rest`` argument changes nothing."""
  assert [n for n, cls in recipes.RECIPES.items() if cls.critic_projection is not None] == ["tgan"]
  config = mocogan_config.get_config("smoke")
  _, tx = state_lib.recipe_optimizers(MoCoGAN(config), config)
  schedule = state_lib.lr_schedule(config.optim, config.num_train_steps)
  reference = optax.chain(optax.add_decayed_weights(config.optim.weight_decay),
                          optax.adam(lambda count: schedule(count), b1=config.optim.b1,
                                     b2=config.optim.b2))
  params, grads = {"w": jnp.array([1.0, -2.0, 3.0])}, {"w": jnp.array([0.3, 0.1, -4.0])}
  ours, state = tx.update(grads, tx.init(params), params, critic_rest={"x": jnp.ones(1)})
  theirs, ref_state = reference.update(grads, reference.init(params), params)
  np.testing.assert_array_equal(ours["w"], theirs["w"])
  assert jax.tree.structure(state) == jax.tree.structure(ref_state)


def test_rmsprop_is_chainers():
  """Chainer RMSprop(lr, alpha=0.99, eps=1e-8): ms = 0.01 g^2 after one step, the step
  -lr g / (sqrt(ms) + eps) = -10 lr sign(g)."""
  optim = tgan_config.get_config().optim
  gen_tx, _ = state_lib.optimizers(optim, 100)
  g = jnp.array([0.5, -2.0, 1e-3])
  step, _ = gen_tx.update(g, gen_tx.init(jnp.zeros(3)), jnp.zeros(3))
  expected = -optim.lr * np.asarray(g) / (np.sqrt(0.01) * np.abs(np.asarray(g)) + 1e-8)
  np.testing.assert_allclose(step, expected, rtol=1e-5)


def test_temporal_latents_move_while_z0_is_shared():
  """G0's latents differ frame to frame; every frame t is G1(z0 + class, z1^t) with the clip's
  one z0; another z0 changes every latent and every frame."""
  recipe = _recipe()
  m = recipe.config.model
  gen = frozen(recipe.build_generator(nnx.Rngs(1)))
  run = nnx.jit(lambda g, z, y: g(z, y))
  z0 = recipe.latent_noise(jax.random.key(0), 3)["content"]
  labels = jnp.array([0, 3, 6])
  out = run(gen, z0, labels)
  latents = np.asarray(out.frame_latents_BxTxF)
  frames = np.asarray(out.frames_BxTxHxWx3)
  assert latents.shape == (3, m.num_frames, m.frame_dim) and np.abs(latents).max() < 1
  assert np.all(np.abs(np.diff(latents, axis=1)).max(axis=-1) > 1e-4)
  slow = jnp.concatenate([z0, jax.nn.one_hot(labels, K)], axis=-1)
  for t in (0, m.num_frames - 1):
    alone = nnx.jit(lambda g, s, f: g.image(s, f))(gen, slow, latents[:, t])
    np.testing.assert_allclose(alone, frames[:, t], atol=1e-5)
  other = run(gen, z0[::-1], labels)
  assert np.all(np.abs(np.asarray(other.frame_latents_BxTxF) - latents).max(axis=-1)[[0, 2]]
                > 1e-4)
  np.testing.assert_array_equal(
      nnx.jit(lambda g, n, y: recipe.generate(g, n, y))(gen, {"content": z0}, labels), frames)


def test_critic_norm_keeps_chainers_running_variance_and_frozen_leaves_it():
  norm = nets.CriticNorm(2)
  x = jax.random.normal(jax.random.key(0), (3, 2, 2, 2, 2)) * jnp.array([2.0, 0.5])
  norm(x)
  unbiased = np.var(np.asarray(x).reshape(-1, 2), axis=0, ddof=1)
  np.testing.assert_allclose(norm.running_var[...], 0.9 + 0.1 * unbiased, rtol=1e-5)
  frozen(norm)(x)
  np.testing.assert_allclose(norm.running_var[...], 0.9 + 0.1 * unbiased, rtol=1e-5)


class _StubGenerator:
  """Clip of class y: every pixel ``0.1 * (y + 1) + 0.01 * t``."""

  def __call__(self, z0, label):
    t = jnp.arange(4, dtype=jnp.float32)
    v = 0.1 * (label[:, None] + 1.0) + 0.01 * t[None]
    frames = jnp.broadcast_to(v[:, :, None, None, None], (z0.shape[0], 4, 4, 4, 3))
    return nets.VideoOutput(frames, jnp.zeros((z0.shape[0], 4, 2)))


W = -3.0
CLASS_LOGITS = np.array([[0.5, -1.0, 2.0, 0.0, 0.0, 0.3, 0.1]])


class _StubCritic:
  """D(v) = W * mean(v); class logits ``CLASS_LOGITS + mean(v)``."""

  def video(self, v, key=None):
    del key
    mean = jnp.mean(v, axis=(1, 2, 3, 4))
    return mocogan_nets.VideoCriticOutput(W * mean, jnp.asarray(CLASS_LOGITS) + mean[:, None])


def _cross_entropy(logits_BxK, labels_B):
  logits = np.asarray(logits_BxK, np.float64)
  log_z = np.log(np.sum(np.exp(logits), axis=-1))
  return float(np.mean(log_z - logits[np.arange(len(labels_B)), labels_B]))


def test_wgan_loss_terms_by_hand():
  recipe = _recipe(lambda_cls=2.5)
  real = np.stack([np.full((4, 4, 4, 3), 0.2, np.float32), np.full((4, 4, 4, 3), -0.4, np.float32)])
  batch = {"frames": jnp.asarray(real), "emotion": jnp.array([1, 7])}
  labels = np.array([0, 6])
  gen, critic = _StubGenerator(), _StubCritic()
  fakes = recipe.fakes_for_critic(gen, batch, jax.random.key(0))
  fake_mean = 0.1 * (labels + 1) + 0.01 * 1.5
  real_mean = np.array([0.2, -0.4])
  loss, metrics = recipe.critic_loss(critic, batch, fakes, jax.random.key(1))
  adv = np.mean(W * fake_mean) - np.mean(W * real_mean)
  cls = 2.5 * _cross_entropy(CLASS_LOGITS + real_mean[:, None], labels)
  np.testing.assert_allclose(metrics["critic/video_adv"], adv, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/cls"], cls, rtol=1e-5)
  np.testing.assert_allclose(loss, adv + cls, rtol=1e-5)
  total, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(2))
  np.testing.assert_allclose(terms["gen/video_adv"], -np.mean(W * fake_mean), rtol=1e-5)
  np.testing.assert_allclose(
      terms["gen/cls"], 2.5 * _cross_entropy(CLASS_LOGITS + fake_mean[:, None], labels),
      rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)
  assert set(terms) == {"gen/video_adv", "gen/cls"}
  readings = recipe.eval_metrics(gen, critic, batch, jax.random.key(3))
  np.testing.assert_allclose(readings["score_video_fake"], np.mean(W * fake_mean), rtol=1e-5)


def test_a_training_step_clips_the_critic(tmp_path):
  """The trainer on the smoke networks (``svc_every`` 1): after one iteration every critic
  weight's largest singular value is at most 1 and every norm scale within [0.01 sd, sd]."""
  from fxs_jax.train.trainer import GANTrainer
  recipe = _recipe()
  config, m = recipe.config, recipe.config.model
  trainer = GANTrainer(recipe, config)
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  batch = {"frames": rng.uniform(-1, 1, (2, m.num_frames, 32, 32, 3)).astype(np.float32),
           "emotion": np.array([1, 5], np.int32), "identity": np.zeros(2, np.int32)}
  state, metrics = trainer.train_iteration(state, batch, 0)
  assert np.isfinite(float(metrics["critic/loss"]))
  params = jax.device_get(nnx.to_pure_dict(state.critic_params))
  rest = jax.device_get(nnx.to_pure_dict(state.critic_rest))
  kernels = [x for x in jax.tree.leaves(params) if x.ndim >= 2]
  assert len(kernels) == m.critic_num_layers + 1
  for kernel in kernels:
    assert _svd(kernel.reshape(-1, kernel.shape[-1]))[1].max() <= 1 + 1e-4
  norm = params["video"]["norms"][1]
  sd = np.sqrt(rest["video"]["norms"][1]["running_var"])
  assert np.all(norm["scale"] <= sd + 1e-6) and np.all(norm["scale"] >= 0.01 * sd - 1e-6)


def test_bad_settings_are_explained():
  for model in ({"num_frames": 6}, {"image_size": 48}, {"critic_num_layers": 4},
                {"svc_every": 0}, {"z_dim": 0}, {"gen_wscale": 0.0}):
    with pytest.raises(UserError) as info:
      _recipe(**model)
    assert "\n" not in str(info.value)
  with pytest.raises(UserError, match="frames") as info:
    _recipe().sample_video_inputs("happy", frames=5)
  assert "\n" not in str(info.value)
  optim = tgan_config.get_config("smoke").optim
  optim.optimizer = "sgd"
  with pytest.raises(UserError) as info:
    state_lib.optimizers(optim, 10)
  assert "\n" not in str(info.value)



def test_main_smoke_trains_generates_evaluates_and_loads(tmp_path, tfds_dir):
  model = video_from_noise_cli.smoke_life(
      "tgan", tmp_path / "w", tfds_dir,
      logged_terms=("critic/video_adv", "critic/cls", "gen/video_adv", "gen/cls", "eval/acc_fake",
                    "eval/score_video_fake", "eval/frame_change_fake"),
      critic_readings=("acc_real", "acc_fake", "score_video_fake", "frame_change_fake"))
  clip = model.sample_video("happy", num_samples=2)
  assert clip.shape == (2, 8, 32, 32, 3) and clip.dtype == np.float32
  assert np.abs(clip).max() <= 1.0
  np.testing.assert_array_equal(clip, model.sample_video(["happy", "happy"], seed=0))
  with pytest.raises(UserError, match="has no edit"):
    model.edit_photo(np.zeros((64, 64, 3), np.uint8), emotion="happy")
