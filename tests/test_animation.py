"""Expression videos (fxs_jax.animation): MotionGAN + TextureGAN `:smoke` runs chained by
``model.animate`` and by ``--mode=generate``; the GIF / MP4 read back with Pillow and PyAV
(FFmpeg's own decoder, independent of the writer); the motion's geometry by hand; bad inputs."""

import json

import av
import numpy as np
import pytest
from PIL import Image

import fxs_jax
from configs import motiongan as motiongan_config
from configs import texturegan as texturegan_config
from fxs_jax import animation
from fxs_jax import run
from fxs_jax import viz
from fxs_jax.errors import UserError

S = 32  # the TextureGAN smoke config's image size


def _read_gif(path, delay_ms=None):
  """The GIF's frames; with ``delay_ms``, one per ``delay_ms`` of play time (Pillow stores a run
  of identical frames once, with their summed duration)."""
  with Image.open(path) as im:
    frames = []
    for i in range(im.n_frames):
      im.seek(i)
      repeat = 1 if delay_ms is None else round(im.info["duration"] / delay_ms)
      frames += [np.asarray(im.convert("RGB"))] * repeat
  return np.stack(frames)


def _read_mp4(path):
  with av.open(str(path)) as container:
    return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_gif_and_mp4_writers_round_trip(tmp_path):
  # Flat colour blocks (few colours: a GIF palette holds them exactly) that move frame by frame.
  frames = np.zeros((9, 30, 47, 3), np.uint8)  # odd width: the MP4 writer pads it
  for t in range(9):
    frames[t, :, : 5 * t + 3] = (200, 40, 90)
    frames[t, 10:20, 20:] = (20, 180, 250)
  gif = _read_gif(viz.save_gif(tmp_path / "w.gif", frames, fps=12))
  np.testing.assert_array_equal(gif, frames)
  with Image.open(tmp_path / "w.gif") as im:
    assert im.info["duration"] == 80 and im.info["loop"] == 0  # 1/12 s in whole 1/100 s
  mp4 = _read_mp4(viz.save_mp4(tmp_path / "w.mp4", frames, fps=12))
  assert mp4.shape == (9, 30, 48, 3)
  err = np.abs(mp4[:, :, :47].astype(float) - frames)
  assert err.mean() < 6.0  # lossy H.264 of flat blocks
  with av.open(str(tmp_path / "w.mp4")) as container:
    assert container.streams.video[0].average_rate == 12
  assert viz.upscale(frames, 64).shape == (9, 90, 141, 3)  # factor ceil(64 / 30) = 3


def test_resample_in_time_is_linear_interpolation():
  rng = np.random.default_rng(0)
  seq = rng.standard_normal((5, 68, 2)).astype(np.float32)
  out = animation.resample_in_time(seq, 9)  # every half step
  assert out.shape == (9, 68, 2)
  np.testing.assert_allclose(out[::2], seq, atol=1e-6)
  np.testing.assert_allclose(out[1::2], (seq[:-1] + seq[1:]) / 2, atol=1e-6)
  three = animation.resample_in_time(seq, 3)  # t = 0, 2, 4
  np.testing.assert_allclose(three, seq[[0, 2, 4]], atol=1e-6)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tfds_dir):
  """MotionGAN and TextureGAN `:smoke` runs (2 steps each), the texture run naming the motion."""
  base = tmp_path_factory.mktemp("animation")
  motion = motiongan_config.get_config("smoke")
  motion.data.data_dir = str(tfds_dir)
  run.run(motion, str(base / "motion"), "train")
  texture = texturegan_config.get_config("smoke")
  texture.data.data_dir = str(tfds_dir)
  texture.video.motion = str(base / "motion")
  run.run(texture, str(base / "texture"), "train")
  return texture, base


@pytest.fixture(scope="module")
def face(runs):
  """A held-out neutral face of the smoke sequences (frame 0) and its landmarks."""
  from fxs_jax.data import pipeline  # pylint: disable=import-outside-toplevel
  config, _ = runs
  example = pipeline.load(config.data, ["test"])["test"][0]
  return np.asarray(example["frames"][0]), np.asarray(example["landmarks"][0], np.float32)


def test_animate_writes_the_requested_frames_from_the_neutral_face(runs, face, tmp_path):
  _, base = runs
  model = fxs_jax.load(base / "texture")
  image, lms = face
  video = model.animate(image, emotion="happy", frames=11, neutral_landmarks=lms)
  assert video.frames.shape == (11, S, S, 3) and video.frames.dtype == np.uint8
  assert video.landmarks.shape == (11, 68, 2) and video.emotion == "happy"
  # The motion starts at the neutral face (the curve's first point is 0) ...
  np.testing.assert_allclose(video.landmarks[0], lms, atol=1e-4)
  # ... and its displacement scales linearly with the amplitude; scale 0 keeps the face still.
  moved = video.landmarks - lms
  assert np.abs(moved).max() > 1e-3
  still = model.animate(image, emotion="happy", frames=11, neutral_landmarks=lms, scale=0.0)
  np.testing.assert_allclose(still.landmarks, np.broadcast_to(lms, (11, 68, 2)), atol=1e-4)
  motion_scale = fxs_jax.load(base / "motion").config.model.motion_scale
  twice = model.animate(image, emotion="happy", frames=11, neutral_landmarks=lms,
                        scale=2 * motion_scale)
  np.testing.assert_allclose(twice.landmarks - lms, 2 * moved, atol=1e-4)
  # The frames are what render_frames makes of the neutral face and those landmarks.
  np.testing.assert_array_equal(video.frames, model.render_frames(image, video.landmarks))

  paths = video.save(tmp_path / "happy", min_side=64)
  assert [p.name for p in paths] == ["happy.gif", "happy.mp4", "happy_landmarks.gif"]
  delay = 10 * round(100 / video.fps)  # ms: GIF delays are whole 1/100 s
  gif, mp4, dots = _read_gif(paths[0], delay), _read_mp4(paths[1]), _read_gif(paths[2], delay)
  assert gif.shape == mp4.shape == dots.shape == (11, 64, 64, 3)  # 32 px x 2 (nearest)
  big = viz.upscale(video.frames, 64).astype(float)
  assert np.abs(gif - big).mean() < 3.0  # the GIF palette's rounding
  assert np.abs(mp4 - big).mean() < 8.0  # H.264
  # The landmark animation: dots over black, the first frame's on the neutral positions.
  assert (dots[0].sum(-1) > 0).mean() > 0.02 and (dots[0].sum(-1) == 0).mean() > 0.5


def test_generate_mode_writes_videos_for_held_out_faces_and_a_file(runs, face, tmp_path):
  config, base = runs
  image, lms = face
  Image.fromarray(image).resize((2 * S, 2 * S)).save(tmp_path / "me.png")
  np.save(tmp_path / "me.npy", (lms + 0.5) * 2 - 0.5)  # the file's own (2x) pixels
  config = config.copy_and_resolve_references()
  config.unlock()
  config.generate.neutral_image = str(tmp_path / "me.png")
  config.generate.neutral_landmarks = str(tmp_path / "me.npy")
  config.video.emotions = "happy,surprised"
  config.video.num_faces = 1
  config.video.frames = 6
  config.video.min_side = 32
  run.run(config, str(base / "texture"), "generate")
  out = base / "texture" / "generate_step_2"
  names = {p.name for p in out.iterdir()}
  for face_name in ("file", "face0"):
    for emotion in ("happy", "surprised"):
      assert {f"{face_name}_{emotion}.gif", f"{face_name}_{emotion}.mp4",
              f"{face_name}_{emotion}_landmarks.gif"} <= names
  grid = _read_mp4(out / "videos.mp4")
  delay = 10 * round(100 / config.video.fps)
  assert len(grid) == 6 and len(_read_gif(out / "videos.gif", delay)) == 6
  assert "videos.gif" in (out / "targets.txt").read_text()


def test_bad_inputs_are_explained_in_one_line(runs, face):
  _, base = runs
  model = fxs_jax.load(base / "texture")
  image, lms = face
  cases = [(dict(emotion="sleepy"), "sleepy"),
           (dict(emotion="neutral"), "neutral -> an expression"),
           (dict(emotion="happy", neutral_landmarks=lms[:60]), r"\(68, 2\)"),
           (dict(emotion="happy", neutral_landmarks=np.stack([lms, lms])), "one face"),
           (dict(emotion="happy", neutral_landmarks=lms * 10), "outside the 32x32 image"),
           (dict(emotion="happy", neutral_landmarks=lms, frames=1), "frames must be"),
           (dict(emotion="happy", neutral_landmarks=lms, motion=base / "texture"),
            "must be a MotionGAN run"),
           (dict(emotion="happy", neutral_landmarks=lms, motion=base / "nowhere"),
            "does not exist")]
  for kwargs, match in cases:
    with pytest.raises(UserError, match=match) as info:
      model.animate(image, **kwargs)
    assert "\n" not in str(info.value)
  with pytest.raises(UserError, match="32x32"):
    model.animate(np.zeros((40, 40, 3), np.uint8), emotion="happy", neutral_landmarks=lms)
  model.config.unlock()
  model.config.video.motion = ""
  with pytest.raises(UserError, match="--config.video.motion"):
    model.animate(image, emotion="happy", neutral_landmarks=lms)


def test_video_evaluator_scores_identity_through_the_videos(runs):
  config, base = runs
  config = config.copy_and_resolve_references()
  config.unlock()
  config.evals.frames.enabled = False
  config.evals.video.num_videos = 2
  config.eval.identity = True
  run.run(config, str(base / "texture"), "eval")
  result = json.loads((base / "texture" / "eval.json").read_text())
  value = {(r["method"], r["metric"]): (r["value"], r["n"]) for r in result["rows"]}
  # Frame 0 repeated: every frame embeds exactly as the input does.
  assert value["copy_input", "acd"] == (0.0, 2) and value["copy_input", "acd_i"][0] == 0.0
  for method in ("model", "ground_truth", "generated_motion"):
    for metric in ("acd", "acd_i"):
      assert 0.0 < value[method, metric][0] < 2.0, (method, metric)  # unit-norm-ish embeddings
  assert value["model", "acd_i"][1] == value["generated_motion", "acd_i"][1] == 2 * 8  # 8 frames
  config.video.motion = ""
  run.run(config, str(base / "texture"), "eval")
  result = json.loads((base / "texture" / "eval.json").read_text())
  assert "generated_motion" not in {r["method"] for r in result["rows"]}
  assert "video.motion" in result["skipped"]["video generated_motion"]
