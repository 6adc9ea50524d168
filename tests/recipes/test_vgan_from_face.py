"""VGAN's future generation from a still image (``configs/vgan.py:from_face``,
``main_conditional.lua``): parameter counts against the reference's layer list, the first-frame
L1 by hand, the ``video`` evaluator's face-and-class path against its formulas (ACD, ACD-I on a
stub embedding; the apex PSNR / SSIM against scikit-image), one-line errors, and ``:smoke``
trained, generated, evaluated and loaded from the command line."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx
from skimage.metrics import peak_signal_noise_ratio
from skimage.metrics import structural_similarity

from configs import mocogan as mocogan_config
from configs import tgan as tgan_config
from configs import vgan as vgan_config
from fxs_jax.errors import UserError
from fxs_jax.eval import identity
from fxs_jax.eval import video as video_eval
from fxs_jax.models import mocogan as mocogan_nets
from fxs_jax.models import vgan as nets
from fxs_jax.recipes import mocogan as mocogan_lib
from fxs_jax.recipes import tgan as tgan_lib
from fxs_jax.recipes import vgan as recipe_lib
from tests.recipes import video_from_noise_cli

K = 7  # classes: happy .. contemptuous


def _recipe(arg="from_face,smoke", **model):
  return video_from_noise_cli.make_recipe(vgan_config, recipe_lib.VGAN, arg, **model)


_num_params = video_from_noise_cli.num_params


def test_parameter_counts_match_main_conditional_at_64_px():
  """cvondrick/videogan main_conditional.lua at 64 px, 16 frames (T0 = 1), with 7 class channels
  on the code, every conv with a bias, batch norms with scale and bias: encoder 4x4 stride 2
  3 -> 128 -> 256 -> 512 -> 1024 (no norm after the first); foreground Tx1x1 1024 + 7 -> 1024,
  then 4x4x4 1024 -> 512 -> 256 -> 128, then 128 -> 3 + 1 (f and m), a norm after each but the
  last; background 4x4 stride 2 1024 + 7 -> 512 -> 256 -> 128 -> 3."""
  recipe = _recipe("from_face")
  assert recipe.config.model.gen_base_channels == 128
  gen = nnx.eval_shape(lambda: recipe.build_generator(nnx.Rngs(0)))
  enc = [3, 128, 256, 512, 1024]
  encoder = sum(a * b * 16 + b for a, b in zip(enc[:-1], enc[1:])) + 2 * (256 + 512 + 1024)
  fg = [1024, 512, 256, 128]
  foreground = (1024 + K) * 1024 * 1 + 1024 + 2 * 1024
  foreground += sum(a * b * 64 + b + 2 * b for a, b in zip(fg[:-1], fg[1:]))
  foreground += 128 * 4 * 64 + 4
  bg = [1024 + K, 512, 256, 128]
  background = sum(a * b * 16 + b + 2 * b for a, b in zip(bg[:-1], bg[1:])) + 128 * 3 * 16 + 3
  assert _num_params(gen) == encoder + foreground + background


class _StubGenerator:
  """From face x and class y: every frame ``x + 0.1 * (y + 1)``, mask 0.5."""

  def __call__(self, face, label):
    frames = jnp.broadcast_to(face[:, None] + 0.1 * (label[:, None, None, None, None] + 1.0),
                              (face.shape[0], 4, *face.shape[1:]))
    mask = jnp.full(frames.shape[:-1] + (1,), 0.5)
    return nets.VideoOutput(frames, frames, mask, face)


class _StubCritic:

  def video(self, v, key=None):
    del key
    mean = jnp.mean(v, axis=(1, 2, 3, 4))
    return mocogan_nets.VideoCriticOutput(mean, jnp.zeros((len(mean), K)) + mean[:, None])


def test_first_frame_term_by_hand_and_no_noise():
  """The generator's extra term is ``lambda_first_frame * mean|G(x, y)_0 - x|`` with x each
  clip's frame 0; the generator draws no noise; the mask penalty is off (the reference's
  conditional model has none)."""
  recipe = _recipe(lambda_first_frame=3.0)
  assert recipe.noise_shapes(2, 8) == {} and recipe.config.model.lambda_mask == 0.0
  rng = np.random.default_rng(0)
  real = rng.uniform(-0.5, 0.5, (2, 8, 4, 4, 3)).astype(np.float32)
  batch = {"frames": jnp.asarray(real), "emotion": jnp.array([1, 7])}
  fakes = recipe.fakes_for_critic(_StubGenerator(), batch, jax.random.key(0))
  np.testing.assert_allclose(fakes["video"][:, 2], real[:, 0] + np.array([0.1, 0.7])[:, None,
                                                                                     None, None],
                             rtol=1e-6)
  _, terms = recipe.generator_loss(_StubGenerator(), _StubCritic(), batch, jax.random.key(1))
  assert set(terms) == {"gen/video_adv", "gen/cls", "gen/mask", "gen/first_frame"}
  np.testing.assert_allclose(terms["gen/first_frame"], 3.0 * np.mean([0.1, 0.7]), rtol=1e-5)
  assert terms["gen/mask"] == 0.0


def test_animate_face_inputs_and_bad_settings_are_explained():
  recipe = _recipe()
  faces = np.full((2, 32, 32, 3), 255, np.uint8)
  batch = recipe.animate_face_inputs(faces, ["happy", "sad"])
  assert set(batch) == {"emotion", "face"} and batch["face"].shape == (2, 32, 32, 3)
  np.testing.assert_array_equal(batch["face"], 1.0)
  np.testing.assert_array_equal(batch["emotion"], [1, 2])
  for args in ((np.zeros((2, 48, 48, 3), np.uint8), "happy"), (faces, "neutral"),
               (faces, ["happy", "sad", "angry"]), (np.full((32, 32, 3), 3.0), "happy")):
    with pytest.raises(UserError) as info:
      recipe.animate_face_inputs(*args)
    assert "\n" not in str(info.value)
  for config, cls in ((mocogan_config.get_config("smoke"), mocogan_lib.MoCoGAN),
                      (tgan_config.get_config("smoke"), tgan_lib.TGAN)):
    with config.unlocked():
      config.model.from_face = True
    with pytest.raises(UserError, match="no image-conditioned variant") as info:
      cls(config)
    assert "\n" not in str(info.value)
  with pytest.raises(UserError, match="lambda_first_frame"):
    _recipe(lambda_first_frame=-1.0)


def test_video_evaluator_scores_clips_animated_from_faces(monkeypatch):
  """The ``video`` evaluator on ``animate_face`` (a face and a class): the model gets each moving
  sequence's frame 0 and class; ACD and ACD-I of the model, frame 0 repeated and the truth by
  their formulas on the stub embedding; the last frame's PSNR / SSIM against the true last frame
  as scikit-image computes them."""
  recipe = _recipe()
  rng = np.random.default_rng(0)
  source = [{"frames": rng.integers(0, 255, (8, 32, 32, 3), np.uint8), "emotion": e,
             "landmarks": np.zeros((8, 68, 2), np.float32), "identity": 0} for e in (2, 0, 5)]
  truth = np.stack([source[0]["frames"], source[2]["frames"]])
  made = np.clip(truth.astype(int) + rng.integers(-40, 40, truth.shape), 0, 255).astype(np.uint8)
  asked = []

  def animate_face(faces, emotions, seed):
    asked.append((faces, list(emotions), seed))
    return made

  model = SimpleNamespace(animate_face=animate_face,
                          declaration=lambda name: recipe.predictors()[name])
  config = recipe.config.copy_and_resolve_references()
  config.eval.identity = True
  ctx = SimpleNamespace(config=config, recipe=recipe, model=model, source=source, animate=None)
  monkeypatch.setattr(identity, "FaceEmbedder", video_from_noise_cli.MeanColourEmbedder)
  spec = ml_collections.ConfigDict({"type": "video", "predict": "animate_face", "num_videos": 0})
  result = video_eval.video_identity("video", spec, ctx)
  (faces, emotions, seed), = asked
  np.testing.assert_array_equal(faces, truth[:, 0])
  assert faces.dtype == np.uint8 and emotions == [2, 5] and seed == config.seed
  rows = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}

  def embed(video):
    return video.astype(np.float64).mean(axis=(-3, -2))

  def acd(videos):
    e = embed(videos)
    d = np.linalg.norm(e[:, :, None] - e[:, None], axis=-1)
    i, j = np.triu_indices(videos.shape[1], 1)
    return d[:, i, j].mean()

  def acd_i(videos):
    return np.linalg.norm(embed(videos) - embed(truth[:, 0])[:, None], axis=-1).mean()

  copy = np.repeat(truth[:, :1], 8, axis=1)
  for method, videos in (("model", made), ("copy_input", copy), ("ground_truth", truth)):
    assert rows[method, "acd"] == pytest.approx(acd(videos), rel=1e-5, abs=1e-6)
    assert rows[method, "acd_i"] == pytest.approx(acd_i(videos), rel=1e-5, abs=1e-6)
    assert rows[method, "face_found_rate"] == 1.0
  assert rows["copy_input", "acd"] == rows["copy_input", "acd_i"] == 0.0
  for method, videos in (("model", made), ("copy_input", copy)):
    psnr = [peak_signal_noise_ratio(t[-1], v[-1], data_range=255) for t, v in zip(truth, videos)]
    ssim = [structural_similarity(t[-1] / 255.0, v[-1] / 255.0, channel_axis=-1,
                                  gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=1.0)
            for t, v in zip(truth, videos)]
    assert rows[method, "last_frame_psnr"] == pytest.approx(np.mean(psnr), abs=1e-3)
    assert rows[method, "last_frame_ssim"] == pytest.approx(np.mean(ssim), abs=1e-3)
  assert ("ground_truth", "last_frame_psnr") not in rows


def test_main_smoke_trains_generates_evaluates_and_loads(tmp_path, tfds_dir):
  model = video_from_noise_cli.smoke_life(
      "vgan", tmp_path / "w", tfds_dir, variants="from_face,smoke", task="animate_face",
      logged_terms=("critic/video_adv", "critic/cls", "gen/video_adv", "gen/cls",
                    "gen/first_frame", "eval/first_frame_l1", "eval/frame_change_fake"),
      critic_readings=("acc_real", "acc_fake", "p_video_fake", "first_frame_l1"))
  face = np.full((32, 32, 3), 128, np.uint8)
  clip = model.animate_face(face, "happy")
  assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.uint8
  clips = model.animate_face(np.stack([face, face]), ["happy", "sad"])
  assert clips.shape == (2, 8, 32, 32, 3)
  np.testing.assert_array_equal(clips[0], clip)
  with pytest.raises(UserError, match="32x32"):
    model.animate_face(np.zeros((64, 64, 3), np.uint8), "happy")
