"""VGAN: parameter counts against the paper's layer list, the matmul 3-D convs against
``lax.conv``, the two-stream composition ``m * f + (1 - m) * b`` on the real generator, loss
terms by hand with stub networks, one-line errors for bad settings, and ``:smoke`` trained,
generated, evaluated and loaded from the command line."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.recipes import video_from_noise_cli
from configs import vgan as vgan_config
from fxs_jax.errors import UserError
from fxs_jax.models import mocogan as mocogan_nets
from fxs_jax.models import vgan as nets
from fxs_jax.nn import conv3d
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes import vgan as recipe_lib

K = 7  # classes: happy .. contemptuous


def _recipe(arg="smoke", **model):
  return video_from_noise_cli.make_recipe(vgan_config, recipe_lib.VGAN, arg, **model)


_num_params = video_from_noise_cli.num_params


def _softplus(x):
  return np.log1p(np.exp(x))


def _cross_entropy(logits_BxK, labels_B):
  logits = np.asarray(logits_BxK, np.float64)
  log_z = np.log(np.sum(np.exp(logits), axis=-1))
  return float(np.mean(log_z - logits[np.arange(len(labels_B)), labels_B]))


def test_parameter_counts_match_the_papers_layer_list_at_64_px():
  """cvondrick/videogan main.lua with z 100 + 7 class inputs, ngf = ndf = 64, every conv with a
  bias, batch norms with scale and bias: foreground 3-D transposed convs (T0x4x4 then 4x4x4)
  512 -> 256 -> 128 -> 64 -> 3 + 1 (f and m); background 2-D 4x4 512 -> 256 -> 128 -> 64 -> 3;
  critic 4x4x4 3 -> 64 -> 128 -> 256 -> 512 (no norm after the first), head 512 -> 1 + 7 over
  the remaining extent (1x4x4 at 16 frames, T0 = 1)."""
  recipe = _recipe(None)
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  z, ch = 100 + K, [512, 256, 128, 64]

  def stream(taps_first, taps):  # first layer from the latent, then stride-2 layers, BN each
    n = z * ch[0] * taps_first + ch[0] + 2 * ch[0]
    return n + sum(a * b * taps + b + 2 * b for a, b in zip(ch[:-1], ch[1:]))

  foreground = stream(1 * 4 * 4, 64) + 64 * (3 + 1) * 64 + (3 + 1)
  background = stream(4 * 4, 16) + 64 * 3 * 16 + 3
  cc = [3, 64, 128, 256, 512]
  video = sum(a * b * 64 + b for a, b in zip(cc[:-1], cc[1:])) + 2 * (128 + 256 + 512)
  video += 512 * (1 + K) * 1 * 4 * 4 + (1 + K)
  assert _num_params(gen) == foreground + background == 15_540_871
  assert _num_params(critic) == video == 11_090_632
  # The reference's own 32 frames: a 2x4x4 first kernel and a 2x4x4 head.
  recipe32 = _recipe(None, num_frames=32)
  gen32, critic32 = nnx.eval_shape(lambda: recipe32.build(nnx.Rngs(0)))
  assert _num_params(gen32) == _num_params(gen) + z * ch[0] * 16
  assert _num_params(critic32) == _num_params(critic) + 512 * (1 + K) * 16


def test_matmul_3d_convs_are_lax_convs():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 4, 6, 8, 3)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((4, 4, 4, 3, 5)), jnp.float32)
  np.testing.assert_allclose(conv3d.conv3d_stride2(x, k), conv3d.conv3d_plain(x, k, 2, 1),
                             atol=1e-4)
  up = conv3d.conv_transpose3d_stride2(x, k)
  assert up.shape == (2, 8, 12, 16, 5)
  np.testing.assert_allclose(up, conv3d.conv_transpose3d_plain(x, k, 2, 1), atol=1e-4)
  # A 1x1x1 input through a (2, 4, 4) kernel with stride 1: the kernel's extent.
  layer = conv3d.ConvTranspose3d(3, 5, kernel=(2, 4, 4), from_vector=True, rngs=nnx.Rngs(0))
  v = x[:, 0, 0, 0]
  np.testing.assert_allclose(
      layer(v), conv3d.conv_transpose3d_plain(v[:, None, None, None], layer.kernel[...], 1, 0),
      atol=1e-5)
  # Gradients through both agree with lax's.
  for fast, plain in ((conv3d.conv3d_stride2, lambda a, b: conv3d.conv3d_plain(a, b, 2, 1)),
                      (conv3d.conv_transpose3d_stride2,
                       lambda a, b: conv3d.conv_transpose3d_plain(a, b, 2, 1))):
    g_fast = jax.grad(lambda a, b: jnp.sum(fast(a, b) ** 2), argnums=(0, 1))(x, k)
    g_plain = jax.grad(lambda a, b: jnp.sum(plain(a, b) ** 2), argnums=(0, 1))(x, k)
    for a, b in zip(g_fast, g_plain):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_clip_is_the_mask_blend_of_a_moving_foreground_and_a_still_background():
  """The real (smoke) generator: the clip is m * f + (1 - m) * b (numpy), f and m are the
  foreground stream's, b the background stream's single image, the same in every frame; m in
  (0, 1); the foreground moves; the class changes the clip. In training mode (batch statistics:
  activations of unit scale; frozen at initialisation the outputs are ~1e-7)."""
  recipe = _recipe()
  m_cfg = recipe.config.model
  gen = recipe.build_generator(nnx.Rngs(1))
  noise = recipe.latent_noise(jax.random.key(0), 3)
  labels = jnp.array([0, 3, 6])
  out = nnx.jit(lambda g, z, y: g(z, y))(gen, noise["z"], labels)
  clips = nnx.jit(lambda g, n, y: recipe.generate(g, n, y))(gen, noise, labels)
  np.testing.assert_array_equal(clips, out.frames_BxTxHxWx3)
  video, f = np.asarray(out.frames_BxTxHxWx3), np.asarray(out.foreground_BxTxHxWx3)
  m, b = np.asarray(out.mask_BxTxHxWx1), np.asarray(out.background_BxHxWx3)
  assert video.shape == f.shape == (3, m_cfg.num_frames, 32, 32, 3)
  assert m.shape == (3, m_cfg.num_frames, 32, 32, 1) and b.shape == (3, 32, 32, 3)
  assert 0 < m.min() and m.max() < 1 and np.abs(f).max() <= 1 and np.abs(b).max() <= 1
  np.testing.assert_allclose(video, m * f + (1 - m) * b[:, None], atol=1e-6)
  latents = gen.latents(noise["z"], labels)
  np.testing.assert_array_equal(latents, np.concatenate([noise["z"], np.eye(K)[labels]], -1))
  f2, m2 = nnx.jit(lambda g, h: g.foreground(h))(gen, latents)
  np.testing.assert_allclose(f2, f, atol=1e-6)
  np.testing.assert_allclose(m2, m, atol=1e-6)
  np.testing.assert_allclose(nnx.jit(lambda g, h: g.background(h))(gen, latents), b, atol=1e-6)
  # What is left of a frame without its foreground is the same still image in every frame.
  still = (video - m * f) / (1 - m)
  np.testing.assert_allclose(still, np.broadcast_to(still[:, :1], still.shape), atol=1e-4)
  scale = np.abs(f).max()
  assert scale > 1e-2 and np.abs(b).max() > 1e-2
  assert np.all(np.abs(np.diff(f, axis=1)).max(axis=(2, 3, 4)) > 1e-3 * scale)
  other = nnx.jit(lambda g, z, y: g(z, y))(gen, noise["z"], labels[::-1]).frames_BxTxHxWx3
  assert np.abs(np.asarray(other)[0] - video[0]).max() > 1e-2 * np.abs(video[0]).max()
  # Frozen (running averages, as samples and sample_video): the same composition.
  out = nnx.jit(lambda g, z, y: g(z, y))(frozen(gen), noise["z"], labels)
  np.testing.assert_allclose(out.frames_BxTxHxWx3, out.mask_BxTxHxWx1 * out.foreground_BxTxHxWx3
                             + (1 - out.mask_BxTxHxWx1) * out.background_BxHxWx3[:, None],
                             atol=1e-7)


class _StubGenerator:
  """Clip of class y: every pixel ``0.1 * (y + 1)``, mask ``0.3 + 0.05 * y`` everywhere."""

  def __call__(self, z, label):
    shape = (z.shape[0], 4, 4, 4)
    v = 0.1 * (label + 1.0)
    frames = jnp.broadcast_to(v[:, None, None, None, None], shape + (3,))
    mask = jnp.broadcast_to((0.3 + 0.05 * label)[:, None, None, None, None], shape + (1,))
    return nets.VideoOutput(frames, frames, mask, frames[:, 0])


W_VIDEO = -3.0
CLASS_LOGITS = np.array([[0.5, -1.0, 2.0, 0.0, 0.0, 0.3, 0.1]])


class _StubCritic:
  """D(v) = W_VIDEO * mean(v), class logits ``CLASS_LOGITS + mean(v)``."""

  def video(self, v, key=None):
    del key
    mean = jnp.mean(v, axis=(1, 2, 3, 4))
    return mocogan_nets.VideoCriticOutput(W_VIDEO * mean,
                                          jnp.asarray(CLASS_LOGITS) + mean[:, None])


def test_loss_terms_by_hand():
  recipe = _recipe(lambda_cls=2.5, lambda_mask=0.7)
  m = recipe.config.model
  real = np.stack([np.full((m.num_frames, 4, 4, 3), 0.2, np.float32),
                   np.full((m.num_frames, 4, 4, 3), -0.4, np.float32)])
  batch = {"frames": jnp.asarray(real), "emotion": jnp.array([1, 7])}  # classes 0 and 6
  labels = np.array([0, 6])
  gen, critic = _StubGenerator(), _StubCritic()
  fakes = recipe.fakes_for_critic(gen, batch, jax.random.key(0))
  assert set(fakes) == {"video", "mask"}
  fake_mean = 0.1 * (labels + 1)
  loss, metrics = recipe.critic_loss(critic, batch, fakes, jax.random.key(1))
  real_mean = np.array([0.2, -0.4])
  video_adv = np.mean(_softplus(-W_VIDEO * real_mean)) + np.mean(_softplus(W_VIDEO * fake_mean))
  cls = 2.5 * _cross_entropy(CLASS_LOGITS + real_mean[:, None], labels)
  np.testing.assert_allclose(metrics["critic/video_adv"], video_adv, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/cls"], cls, rtol=1e-5)
  np.testing.assert_allclose(loss, video_adv + cls, rtol=1e-5)

  total, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(2))
  assert set(terms) == {"gen/video_adv", "gen/cls", "gen/mask"}
  np.testing.assert_allclose(terms["gen/video_adv"], np.mean(_softplus(-W_VIDEO * fake_mean)),
                             rtol=1e-5)
  np.testing.assert_allclose(
      terms["gen/cls"], 2.5 * _cross_entropy(CLASS_LOGITS + fake_mean[:, None], labels),
      rtol=1e-5)
  np.testing.assert_allclose(terms["gen/mask"], 0.7 * np.mean(np.abs(0.3 + 0.05 * labels)),
                             rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)


def test_paper_settings():
  config = vgan_config.get_config()
  assert (config.optim.lr, config.optim.b1, config.optim.b2) == (2e-4, 0.5, 0.999)
  assert config.model.lambda_mask == 0.1 and config.model.z_dim == 100
  assert config.data.batch_size == 64 and config.model.image_size == 64


def test_sample_video_inputs_and_bad_settings_are_explained():
  recipe = _recipe()
  m = recipe.config.model
  batch = recipe.sample_video_inputs("happy", num_samples=3, seed=4)
  assert set(batch) == {"emotion", "z"} and batch["z"].shape == (3, m.z_dim)
  same = recipe.sample_video_inputs(["sad", "angry"], seed=4, same_content=True)
  np.testing.assert_array_equal(same["z"][0], same["z"][1])
  given = recipe.sample_video_inputs([2, 3], seed=4, content=np.ones(m.z_dim))
  np.testing.assert_array_equal(given["z"], 1.0)
  for kwargs in ({"emotion": "happy", "frames": 5}, {"emotion": "neutral"},
                 {"emotion": "happy", "content": np.ones(m.z_dim + 1)}):
    with pytest.raises(UserError) as info:
      recipe.sample_video_inputs(**kwargs)
    assert "\n" not in str(info.value)
  for model in ({"num_frames": 12}, {"num_frames": 4}, {"image_size": 48},
                {"critic_num_layers": 4}, {"critic_num_layers": 0}, {"lambda_mask": -1.0},
                {"z_dim": 0}, {"lambda_cls": -1.0}):
    with pytest.raises(UserError) as info:
      _recipe(**model)
    assert "\n" not in str(info.value), model



def test_main_smoke_trains_generates_evaluates_and_loads(tmp_path, tfds_dir):
  model = video_from_noise_cli.smoke_life(
      "vgan", tmp_path / "w", tfds_dir,
      logged_terms=("critic/video_adv", "critic/cls", "gen/video_adv", "gen/cls", "gen/mask",
                    "eval/acc_fake", "eval/frame_change_fake", "eval/mask_fake"),
      critic_readings=("acc_real", "acc_fake", "p_video_fake", "frame_change_fake", "mask_fake"))
  clips = model.sample_video("happy", num_samples=2)
  assert clips.shape == (2, 8, 32, 32, 3) and clips.dtype == np.float32
  assert np.abs(clips).max() <= 1.0
  np.testing.assert_array_equal(clips, model.sample_video(["happy"] * 2, seed=0))
  with pytest.raises(UserError, match="num_frames"):
    model.sample_video("happy", frames=4)
