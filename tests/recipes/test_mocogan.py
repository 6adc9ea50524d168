"""MoCoGAN: parameter counts against the official networks' formula, the GRU cell against
PyTorch's formula, the content code fixed over a clip while the motion path moves, loss terms by
hand with stub networks, the clips and the ``sample_video`` inputs, the video evaluator's
noise-only path, and ``:smoke`` trained, generated, evaluated and loaded from the command line."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from tests.recipes import video_from_noise_cli
from configs import mocogan as mocogan_config
from fxs_jax.errors import UserError
from fxs_jax.eval import identity
from fxs_jax.eval import video as video_eval
from fxs_jax.models import mocogan as nets
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes import mocogan as recipe_lib

K = 7  # classes: happy .. contemptuous


def _recipe(arg="smoke", **model):
  config = mocogan_config.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_lib.MoCoGAN(config)


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _softplus(x):
  return np.log1p(np.exp(x))


def _cross_entropy(logits_BxK, labels_B):
  logits = np.asarray(logits_BxK, np.float64)
  log_z = np.log(np.sum(np.exp(logits), axis=-1))
  return float(np.mean(log_z - logits[np.arange(len(labels_B)), labels_B]))


def test_parameter_counts_match_the_official_networks_at_64_px():
  """sergeytulyakov/mocogan models.py with dim_z_content 50, dim_z_motion 10, 7 categories,
  ngf = ndf = 64: GRUCell(10, 10) (two weights, two biases, 3 gates); bias-free transposed convs
  and convs, 4x4 (x4 in time for the video critic); batch norms with scale and bias."""
  recipe = _recipe(None)
  gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(0)))
  c, z, m = 64, 50 + K + 10, 10
  gru = 2 * 3 * m * m + 2 * 3 * m
  generator = (gru + z * 8 * c * 16 + 2 * 8 * c + 8 * c * 4 * c * 16 + 2 * 4 * c
               + 4 * c * 2 * c * 16 + 2 * 2 * c + 2 * c * c * 16 + 2 * c + c * 3 * 16)
  image = 3 * c * 16 + c * 2 * c * 16 + 2 * 2 * c + 2 * c * 4 * c * 16 + 2 * 4 * c + 4 * c * 16
  video = (3 * c * 64 + c * 2 * c * 64 + 2 * 2 * c + 2 * c * 4 * c * 64 + 2 * 4 * c
           + 4 * c * 8 * c * 64 + 2 * 8 * c + 8 * c * (1 + K) * 4 * 4 * 4)
  assert _num_params(gen) == generator == 3_307_028
  assert _num_params(critic.image) == image == 663_296
  assert _num_params(critic.video) == video == 11_286_272
  assert _num_params(critic) == image + video


def test_gru_cell_is_torchs():
  """torch.nn.GRUCell: r, z, n from (W_i x + b_i) and (W_h h + b_h) split in that order,
  ``n = tanh(i_n + r * h_n)``, ``h' = (1 - z) n + z h``; weights within +-1/sqrt(hidden)."""
  cell = nets.GRUCell(3, 5, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
  wi, bi = np.asarray(cell.input_kernel[...]), np.asarray(cell.input_bias[...])
  wh, bh = np.asarray(cell.hidden_kernel[...]), np.asarray(cell.hidden_bias[...])
  gi, gh = x @ wi + bi, h @ wh + bh
  sig = lambda v: 1 / (1 + np.exp(-v))
  r, zg = sig(gi[:, :5] + gh[:, :5]), sig(gi[:, 5:10] + gh[:, 5:10])
  n = np.tanh(gi[:, 10:] + r * gh[:, 10:])
  np.testing.assert_allclose(cell(jnp.asarray(x, jnp.float32), jnp.asarray(h, jnp.float32)),
                             (1 - zg) * n + zg * h, atol=1e-5)
  for w in (wi, bi, wh, bh):
    assert np.abs(w).max() <= 1 / np.sqrt(5)


def test_content_is_fixed_over_a_clip_and_the_motion_path_moves():
  """The real (smoke) generator: every frame's latent starts with the clip's z_C and class; the
  motion codes are the GRU's states h_1..h_T and differ from frame to frame, and so do the
  frames; frame t alone (``images``) is frame t of the clip; a new content with the same motion
  noise changes the clip, the same content with new motion noise keeps z_C."""
  recipe = _recipe()
  m = recipe.config.model
  gen = frozen(recipe.build_generator(nnx.Rngs(1)))  # running averages: rows independent
  generate = nnx.jit(lambda g, n, labels: g(n["content"], n["h0"], n["motion_noise"], labels))
  noise = recipe.latent_noise(jax.random.key(0), 3)
  labels = jnp.array([0, 3, 6])
  out = generate(gen, noise, labels)
  clips = nnx.jit(lambda g, n, labels: recipe.generate(g, n, labels))(gen, noise, labels)
  np.testing.assert_array_equal(clips, out.frames_BxTxHxWx3)  # the recipe's clips are these
  latents = np.asarray(out.latents_BxTxZ)
  content_and_class = np.concatenate([noise["content"], np.eye(K)[labels]], axis=-1)
  for t in range(m.num_frames):
    np.testing.assert_array_equal(latents[:, t, :m.content_dim + K], content_and_class)
  h = np.asarray(noise["h0"])
  for t in range(m.num_frames):
    h = gen.recurrent(noise["motion_noise"][:, t], h)
    np.testing.assert_allclose(out.motion_BxTxM[:, t], h, atol=1e-5)
  motion = np.asarray(out.motion_BxTxM)
  assert np.all(np.abs(np.diff(motion, axis=1)).max(axis=-1) > 1e-3)  # moves every step
  frames = np.asarray(out.frames_BxTxHxWx3)
  scale = np.abs(frames).max()  # small at initialisation (N(0, 0.02) kernels, unit variances)
  assert frames.shape == (3, m.num_frames, 32, 32, 3) and 0 < scale <= 1.0
  assert np.all(np.abs(np.diff(frames, axis=1)).max(axis=(2, 3, 4)) > 1e-2 * scale)
  t = jnp.array([0, 4, 7])
  alone = nnx.jit(lambda g, n, y, f: g.images(n["content"], n["h0"], n["motion_noise"], y, f))(
      gen, noise, labels, t)
  np.testing.assert_allclose(alone, frames[np.arange(3), np.asarray(t)], atol=1e-3 * scale)
  other_content = generate(gen, {**noise, "content": noise["content"][::-1]}, labels)
  assert np.abs(np.asarray(other_content.frames_BxTxHxWx3) - frames).max() > 1e-2 * scale
  new_motion = generate(gen, {**noise, "motion_noise": -noise["motion_noise"]}, labels)
  np.testing.assert_array_equal(np.asarray(new_motion.latents_BxTxZ)[..., :m.content_dim],
                                latents[..., :m.content_dim])
  assert np.abs(np.asarray(new_motion.frames_BxTxHxWx3) - frames).max() > 1e-2 * scale


class _StubGenerator:
  """Clip i of class y: every pixel ``0.1 * (y + 1) + 0.01 * t``; ``images`` takes frame t."""

  def __call__(self, content, h0, noise, label):
    del content, h0
    t = jnp.arange(noise.shape[1], dtype=jnp.float32)
    v = 0.1 * (label[:, None] + 1.0) + 0.01 * t[None]
    frames = jnp.broadcast_to(v[:, :, None, None, None], noise.shape[:2] + (4, 4, 3))
    return nets.VideoOutput(frames, jnp.zeros(noise.shape), jnp.zeros(noise.shape))

  def images(self, content, h0, noise, label, frame):
    video = self(content, h0, noise, label).frames_BxTxHxWx3
    return video[jnp.arange(video.shape[0]), frame]


W_IMAGE, W_VIDEO = 2.0, -3.0
CLASS_LOGITS = np.array([[0.5, -1.0, 2.0, 0.0, 0.0, 0.3, 0.1]])


class _StubCritic:
  """D_I(x) = W_IMAGE * mean(x) per image as a 2x2 map; D_V(v) = W_VIDEO * mean(v), class logits
  ``CLASS_LOGITS + mean(v)``; the instance-noise keys are ignored."""

  def image(self, x, key=None):
    del key
    return jnp.broadcast_to(W_IMAGE * jnp.mean(x, axis=(1, 2, 3))[:, None, None],
                            (x.shape[0], 2, 2))

  def video(self, v, key=None):
    del key
    mean = jnp.mean(v, axis=(1, 2, 3, 4))
    return nets.VideoCriticOutput(W_VIDEO * mean, jnp.asarray(CLASS_LOGITS) + mean[:, None])


def test_loss_terms_by_hand():
  """Real clips constant in time (the random real frame is any of them) against the stubs' fakes:
  each term is the formula of the recipe's docstring, softplus and cross-entropy written out."""
  recipe = _recipe(lambda_cls=2.5)
  m = recipe.config.model
  real = np.stack([np.full((m.num_frames, 4, 4, 3), 0.2, np.float32),
                   np.full((m.num_frames, 4, 4, 3), -0.4, np.float32)])
  batch = {"frames": jnp.asarray(real), "emotion": jnp.array([1, 7])}  # classes 0 and 6
  labels = np.array([0, 6])
  gen, critic = _StubGenerator(), _StubCritic()
  fakes = recipe.fakes_for_critic(gen, batch, jax.random.key(0))
  fake_mean = 0.1 * (labels + 1) + 0.01 * np.arange(m.num_frames).mean()
  np.testing.assert_allclose(jnp.mean(fakes["video"], axis=(1, 2, 3, 4)), fake_mean, rtol=1e-5)
  fake_image = np.asarray(jnp.mean(fakes["image"], axis=(1, 2, 3)))  # frame t of a clip of y
  t = np.round((fake_image - 0.1 * (labels + 1)) / 0.01)
  assert np.all((0 <= t) & (t < m.num_frames))
  np.testing.assert_allclose(fake_image, 0.1 * (labels + 1) + 0.01 * t, atol=1e-5)

  loss, metrics = recipe.critic_loss(critic, batch, fakes, jax.random.key(1))
  real_mean = np.array([0.2, -0.4])
  image_adv = (np.mean(_softplus(-W_IMAGE * real_mean)) + np.mean(_softplus(W_IMAGE * fake_image)))
  video_adv = (np.mean(_softplus(-W_VIDEO * real_mean))
               + np.mean(_softplus(W_VIDEO * fake_mean)))
  cls = 2.5 * _cross_entropy(CLASS_LOGITS + real_mean[:, None], labels)
  np.testing.assert_allclose(metrics["critic/image_adv"], image_adv, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/video_adv"], video_adv, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/cls"], cls, rtol=1e-5)
  np.testing.assert_allclose(loss, image_adv + video_adv + cls, rtol=1e-5)

  total, terms = recipe.generator_loss(gen, critic, batch, jax.random.key(2))
  gen_fakes = recipe.fakes(gen, jnp.asarray(labels), jax.random.fold_in(jax.random.key(2), 1))
  gen_image = np.asarray(jnp.mean(gen_fakes["image"], axis=(1, 2, 3)))
  np.testing.assert_allclose(terms["gen/image_adv"], np.mean(_softplus(-W_IMAGE * gen_image)),
                             rtol=1e-5)
  np.testing.assert_allclose(terms["gen/video_adv"], np.mean(_softplus(-W_VIDEO * fake_mean)),
                             rtol=1e-5)
  np.testing.assert_allclose(
      terms["gen/cls"], 2.5 * _cross_entropy(CLASS_LOGITS + fake_mean[:, None], labels),
      rtol=1e-5)
  np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)


def test_weight_decay_is_torch_adams_coupled_l2():
  """torch Adam(weight_decay=wd): g' = g + wd * p, then Adam on g'. One step from zero gradients
  moves a parameter p by -lr * g' / (|g'| + eps) (bias-corrected moments), 0 without decay."""
  from fxs_jax.train import state as state_lib
  config = mocogan_config.get_config()
  gen_tx, critic_tx = state_lib.optimizers(config.optim, config.num_train_steps)
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.zeros(2)}
  wd, lr = config.optim.weight_decay, config.optim.lr
  expected = -lr * wd * np.array([1.0, -2.0]) / (wd * np.array([1.0, 2.0]) + 1e-8)
  for tx in (gen_tx, critic_tx):
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-5)
  config = mocogan_config.get_config()
  config.optim.weight_decay = 0.0
  tx, _ = state_lib.optimizers(config.optim, config.num_train_steps)
  np.testing.assert_array_equal(tx.update(grads, tx.init(params), params)[0]["w"], 0.0)


def test_instance_noise_only_with_a_key():
  critic = nets.Critic(7, 16, K, image_base_channels=2, image_num_layers=3,
                       video_base_channels=2, video_num_layers=2, noise_sigma=0.1,
                       rngs=nnx.Rngs(0))
  video = nnx.jit(lambda c, x, key: c.video(x, key))
  clip = jax.random.uniform(jax.random.key(0), (2, 7, 16, 16, 3), minval=-1, maxval=1)
  plain = video(critic, clip, None)
  np.testing.assert_array_equal(plain.logit_B, video(critic, clip, None).logit_B)
  noisy = video(critic, clip, jax.random.key(1))
  assert plain.logit_B.shape == (2,) and plain.class_logits_BxK.shape == (2, K)
  assert np.abs(np.asarray(noisy.logit_B - plain.logit_B)).max() > 0
  assert critic.image(clip[:, 0]).shape == (2, 2, 2)


def test_clips_take_frames_evenly_and_leave_out_unlabelled_sequences():
  def sequence(emotion, identity):
    frames = np.arange(8, dtype=np.uint8)[:, None, None, None] * np.ones((8, 2, 2, 3), np.uint8)
    return {"frames": frames, "emotion": emotion, "identity": identity,
            "landmarks": np.zeros((8, 68, 2), np.float32)}
  source = [sequence(3, 0), sequence(-1, 1), sequence(0, 2), sequence(7, 3)]
  clips = _recipe(num_frames=4, video_critic_num_layers=1).examples(source, "train")
  assert len(clips) == 2
  first = clips[0]
  assert set(first) == {"frames", "emotion", "identity"}
  np.testing.assert_array_equal(first["frames"][:, 0, 0, 0], [0, 2, 5, 7])
  assert (int(first["emotion"]), int(clips[1]["identity"])) == (3, 3)
  with pytest.raises(UserError, match="num_frames = 16"):
    _recipe(num_frames=16, video_critic_num_layers=2).examples(source, "train")


def test_sample_video_inputs():
  recipe = _recipe()
  m = recipe.config.model
  batch = recipe.sample_video_inputs("happy", num_samples=3, seed=4)
  assert batch["content"].shape == (3, m.content_dim)
  assert batch["motion_noise"].shape == (3, m.num_frames, m.motion_dim)
  np.testing.assert_array_equal(batch["emotion"], [1, 1, 1])
  same = recipe.sample_video_inputs(["sad", "angry"], seed=4, same_content=True)
  np.testing.assert_array_equal(same["content"][0], same["content"][1])
  given = recipe.sample_video_inputs([2, 3], seed=4, content=np.ones(m.content_dim))
  np.testing.assert_array_equal(given["content"], 1.0)
  # The motion noise of a seed does not depend on how the content is chosen.
  np.testing.assert_array_equal(given["motion_noise"], same["motion_noise"])
  np.testing.assert_array_equal(given["h0"], same["h0"])
  assert recipe.sample_video_inputs("happy", frames=5)["motion_noise"].shape[1] == 5
  for kwargs in ({"emotion": "neutral"}, {"emotion": "happy", "num_samples": 10_000},
                 {"emotion": "happy", "content": np.ones(3)},
                 {"emotion": ["happy"] * 3, "content": np.ones((2, m.content_dim))},
                 {"emotion": "happy", "seed": -1}):
    with pytest.raises(UserError) as info:
      recipe.sample_video_inputs(**kwargs)
    assert "\n" not in str(info.value)


def test_bad_settings_are_explained():
  for model in ({"num_frames": 4}, {"image_size": 48}, {"noise_sigma": -1.0},
                {"image_critic_num_layers": 6}):
    with pytest.raises(UserError) as info:
      _recipe(**model)
    assert "\n" not in str(info.value)


def test_video_evaluator_scores_clips_sampled_from_noise(monkeypatch):
  """The ``video`` evaluator on a ``sample_video`` prediction (declared conditioned on the class
  alone): one clip per held-out sequence with an expression, ACD by its formula on the stub
  embedding, ACD-I only for the true clips, and the model's ACD-I skipped with its reason."""
  recipe = _recipe()
  rng = np.random.default_rng(0)
  source = [{"frames": rng.integers(0, 255, (8, 32, 32, 3), np.uint8), "emotion": e,
             "landmarks": np.zeros((8, 68, 2), np.float32), "identity": 0} for e in (2, 0, 5)]
  made = rng.uniform(-1, 1, (2, 5, 32, 32, 3)).astype(np.float32)
  asked = []

  def sample_video(emotions, seed):
    asked.append((list(emotions), seed))
    return made

  model = SimpleNamespace(sample_video=sample_video,
                          declaration=lambda name: recipe.predictors()[name])
  config = recipe.config.copy_and_resolve_references()
  config.eval.identity = True
  ctx = SimpleNamespace(config=config, recipe=recipe, model=model, source=source, animate=None)
  monkeypatch.setattr(identity, "FaceEmbedder", video_from_noise_cli.MeanColourEmbedder)
  spec = ml_collections.ConfigDict({"type": "video", "predict": "sample_video", "num_videos": 0})
  result = video_eval.video_identity("video", spec, ctx)
  assert asked == [([2, 5], config.seed)]
  rows = {(r["method"], r["metric"]): r for r in result["rows"]}
  assert set(rows) == {("model", "acd"), ("model", "face_found_rate"), ("ground_truth", "acd"),
                       ("ground_truth", "face_found_rate"), ("ground_truth", "acd_i")}
  assert "video model acd_i" in result["skipped"]

  def acd(videos):
    per_video = []
    for v in videos.astype(np.float64):
      e = v.mean(axis=(1, 2))
      d = np.linalg.norm(e[:, None] - e[None], axis=-1)
      per_video.append(d[np.triu_indices(len(e), 1)].mean())
    return np.mean(per_video)
  made_uint8 = np.clip(np.round((made + 1) * 127.5), 0, 255).astype(np.uint8)
  truth = np.stack([source[0]["frames"], source[2]["frames"]])
  assert rows["model", "acd"]["value"] == pytest.approx(acd(made_uint8), rel=1e-5)
  assert rows["ground_truth", "acd"]["value"] == pytest.approx(acd(truth), rel=1e-5)
  assert rows["model", "acd"]["n"] == 2 and rows["model", "face_found_rate"]["value"] == 1.0


def test_video_evaluator_detects_the_faces_of_sampled_clips_with_dlib():
  """The same path with dlib's embedder: a stub model "sampling" the true SynthFaces clips
  themselves gets the true clips' ACD and face-found rate (dlib's detector finds 4 of these 6
  64 px frames: the rate is reported, the frames without a face are left out)."""
  pytest.importorskip("dlib")
  pytest.importorskip("face_recognition_models")
  from fxs_jax import facs
  from fxs_jax.data import augment
  from fxs_jax.data import synth_faces
  recipe = _recipe()
  clips = [synth_faces.render_sequence(synth_faces.sample_identity(i), facs.emotion_aus(e), 3,
                                       size=64)[:2] for i, e in ((3, "happy"), (4, "sad"))]
  source = [{"frames": f, "landmarks": lms, "emotion": facs.EMOTIONS.index(e), "identity": i}
            for (f, lms), i, e in zip(clips, (3, 4), ("happy", "sad"))]
  made = augment.to_signed_unit(np.stack([f for f, _ in clips]))
  model = SimpleNamespace(sample_video=lambda emotions, seed: made,
                          declaration=lambda name: recipe.predictors()[name])
  config = recipe.config.copy_and_resolve_references()
  config.eval.identity = True
  ctx = SimpleNamespace(config=config, recipe=recipe, model=model, source=source, animate=None)
  spec = ml_collections.ConfigDict({"type": "video", "predict": "sample_video", "num_videos": 0})
  rows = {(r["method"], r["metric"]): r["value"]
          for r in video_eval.video_identity("video", spec, ctx)["rows"]}
  assert rows["model", "face_found_rate"] == rows["ground_truth", "face_found_rate"] > 0.5
  assert rows["model", "acd"] == pytest.approx(rows["ground_truth", "acd"], abs=1e-6)
  assert 0.0 < rows["model", "acd"] < 0.6 and 0.0 < rows["ground_truth", "acd_i"] < 0.6



def test_main_smoke_trains_generates_evaluates_and_loads(tmp_path, tfds_dir):
  model = video_from_noise_cli.smoke_life(
      "mocogan", tmp_path / "w", tfds_dir,
      logged_terms=("critic/image_adv", "critic/video_adv", "critic/cls", "gen/image_adv",
                    "gen/video_adv", "gen/cls", "eval/acc_fake", "eval/frame_change_fake"),
      critic_readings=("acc_real", "acc_fake", "p_video_fake", "frame_change_fake"))
  clip = model.sample_video("surprised", seed=3)
  assert clip.shape == (1, 8, 32, 32, 3) and clip.dtype == np.float32
  assert np.abs(clip).max() <= 1.0
  np.testing.assert_array_equal(clip, model.sample_video(["surprised"], seed=3))
  with pytest.raises(UserError, match="has no edit"):
    model.edit_photo(np.zeros((64, 64, 3), np.uint8), emotion="happy")
