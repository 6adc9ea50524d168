"""Numbers a user gives, out of range or not numbers at all (issue 33): ``fxs_jax.errors.
check_number`` against hand-written intervals, then every place a number enters (``model.edit``'s
intensity, AU vectors, emotion indices, ``animate_photo`` / ``interpolate``'s frames, fps and
max_side, the video memory budget, ``python -m fxs_jax.edit``'s flags, ``convert_torch``'s
image_size, ``faces.prepare``'s numbers): each is a one-line :class:`UserError` (or exit status 1
and one line on stderr) that states the accepted range, before anything is written.

The models are the bundled ``synthfaces/ganimation`` (64 px) and ``synthfaces/lgpgan``; every
case fails in argument checks, before a face is searched or a network runs.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fxs_jax
from fxs_jax import animation
from fxs_jax import convert_torch
from fxs_jax import edit
from fxs_jax import errors
from fxs_jax import inputs
from fxs_jax.errors import UserError
from fxs_jax.faces import prepare

REPO = Path(__file__).resolve().parents[1]
TORCH_DATA = REPO / "tests" / "data" / "torch_ganimation"


def one_line(info_or_text, *phrases) -> str:
  """The error's text, checked to be one line holding every phrase."""
  text = info_or_text if isinstance(info_or_text, str) else str(info_or_text.value)
  assert "\n" not in text.strip() and "Traceback" not in text, text
  for phrase in phrases:
    assert phrase in text, (phrase, text)
  return text


@pytest.fixture(scope="module")
def ganimation():
  return fxs_jax.load("synthfaces/ganimation")


@pytest.fixture(scope="module")
def lgpgan():
  return fxs_jax.load("synthfaces/lgpgan")


@pytest.fixture
def photo(tmp_path):
  """A small face-free photo file: the flag checks come before any face search."""
  path = tmp_path / "photos" / "photo.png"
  path.parent.mkdir()
  Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(path)
  return path


def files_under(folder: Path) -> set:
  return {p.relative_to(folder) for p in folder.rglob("*")}


# ---- the shared check ----------------------------------------------------------------------

@pytest.mark.parametrize("value,kwargs,expected", [
    (3, dict(low=2, high=300, integer=True), 3),
    (12.0, dict(low=2, high=300, integer=True), 12),  # an integral float is an integer
    (np.int64(300), dict(low=2, high=300, integer=True), 300),
    (0.1, dict(low=0.1, high=60), 0.1),
    (np.float32(2.5), dict(low=0, high=5), 2.5),
])
def test_check_number_accepts_the_closed_interval(value, kwargs, expected):
  got = errors.check_number(value, "x", **kwargs)
  assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value,kwargs,shown,interval", [
    (float("nan"), dict(low=0, high=10), "x=nan", "a finite number in [0, 10]"),
    (float("inf"), dict(low=0, high=10), "x=inf", "[0, 10]"),
    (-math.inf, dict(low=0, high=10), "x=-inf", "[0, 10]"),
    (-1, dict(low=0, high=10), "x=-1", "[0, 10]"),
    (10.5, dict(low=0, high=10), "x=10.5", "[0, 10]"),
    (0.0, dict(low=0, high=60, low_open=True), "x=0", "(0, 60]"),
    (60.0, dict(low=0, high=60, high_open=True), "x=60", "[0, 60)"),
    (2.5, dict(low=2, high=300, integer=True), "x=2.5", "an integer in [2, 300]"),
    (True, dict(low=0, high=10), "x=True", "[0, 10]"),  # a bool is no number
    ("3", dict(low=0, high=10), "x='3'", "[0, 10]"),  # nor a string
    (None, dict(low=0, high=10), "x=None", "[0, 10]"),
])
def test_check_number_refuses_in_one_line_naming_value_and_range(value, kwargs, shown, interval):
  with pytest.raises(UserError) as info:
    errors.check_number(value, "x", meaning="the thing", fix="pass e.g. x=1", **kwargs)
  assert one_line(info, shown, interval).startswith(f"{shown}: the thing must be ")
  assert str(info.value).endswith("; pass e.g. x=1.")


def test_check_numbers_names_the_first_bad_item():
  np.testing.assert_array_equal(errors.check_numbers([0, 0.5, 1], "v", low=0, high=1),
                                [0, 0.5, 1])
  with pytest.raises(UserError) as info:
    errors.check_numbers([0.5, np.nan, 7.0], "v", low=0, high=1)
  one_line(info, "v[1]=nan", "each must be a finite number in [0, 1]")
  with pytest.raises(UserError) as info:
    errors.check_numbers(["a", "b"], "v", low=0, high=1)
  one_line(info, "v=['a', 'b']", "[0, 1]")


# ---- model.edit: intensity, AU vectors, emotion indices ------------------------------------

BAD_GANIMATION_INTENSITIES = [float("nan"), float("inf"), -1.0, 11.0, "strong", [1.0, np.nan]]


@pytest.mark.parametrize("intensity", BAD_GANIMATION_INTENSITIES)
def test_ganimation_edit_refuses_non_finite_or_out_of_range_intensity(ganimation, intensity):
  faces = np.zeros((2, 64, 64, 3), np.uint8)
  with pytest.raises(UserError) as info:
    ganimation.edit(faces, emotion="happy", intensity=intensity)
  one_line(info, "intensity", f"in [0, {errors.MAX_INTENSITY:g}]")


def test_ganimation_intensity_at_its_bound_sends_finite_clipped_aus(ganimation):
  """The largest intensity is accepted and the generator gets AUs on the 0-5 scale: happy's
  prototype (AU06 3.5, AU12 4.5, AU25 1.5) times 10, clipped to 5, over 5 (no NaN from 0 * inf,
  the black face intensity=inf painted)."""
  batch = ganimation.recipe.predictors()["edit"].inputs(
      np.zeros((1, 64, 64, 3), np.uint8), emotion="happy", intensity=errors.MAX_INTENSITY)
  expected = np.zeros(17, np.float32)
  expected[[4, 8, 14]] = 1.0  # AU06, AU12, AU25: 35, 45 and 15 clipped to 5, over 5
  np.testing.assert_array_equal(batch["target_aus"], expected[None])


@pytest.mark.parametrize("intensity", [float("nan"), 1.5, -0.1])
def test_lgpgan_edit_refuses_a_blend_outside_0_1(lgpgan, intensity):
  with pytest.raises(UserError) as info:
    lgpgan.edit(np.zeros((1, 64, 64, 3), np.uint8), emotion="happy", intensity=intensity,
                landmarks=np.zeros((1, 68, 2), np.float32))
  one_line(info, "intensity", "in [0, 1]")


def test_lgpgan_edit_refuses_non_finite_landmarks(lgpgan):
  with pytest.raises(UserError) as info:
    lgpgan.edit(np.zeros((1, 64, 64, 3), np.uint8), emotion="happy",
                landmarks=np.full((1, 68, 2), np.nan, np.float32))
  one_line(info, "landmarks", "non-finite")


@pytest.mark.parametrize("aus,phrase", [
    (np.r_[np.full(16, 1.0), np.nan], "aus AU45=nan"),
    (np.r_[np.full(8, 1.0), np.inf, np.full(8, 1.0)], "aus AU12=inf"),
    (np.r_[-1.0, np.zeros(16)], "aus AU01=-1"),
])
def test_ganimation_edit_names_the_bad_action_unit(ganimation, aus, phrase):
  with pytest.raises(UserError) as info:
    ganimation.edit(np.zeros((1, 64, 64, 3), np.uint8), aus=aus)
  one_line(info, phrase, "in [0, 5]")


@pytest.mark.parametrize("emotion", [float("nan"), 2.7, 8, -1])
def test_edit_refuses_an_emotion_index_that_is_not_one(ganimation, emotion):
  with pytest.raises(UserError) as info:
    ganimation.edit(np.zeros((1, 64, 64, 3), np.uint8), emotion=emotion)
  one_line(info, "emotion=", "an integer in [0, 7]")


def test_float_images_with_nan_are_refused(ganimation):
  faces = np.zeros((1, 64, 64, 3), np.float32)
  faces[0, 3, 3, 1] = np.nan
  with pytest.raises(UserError) as info:
    ganimation.edit(faces, emotion="happy")
  one_line(info, "non-finite")


@pytest.mark.parametrize("text,phrase", [
    ("AU¹²=3", "unknown action unit 'AU¹²'"),  # '¹²'.isdigit() is true, int() fails
    ("AU١٢=3", "unknown action unit 'AU١٢'"),  # Arabic-Indic digits: not an AU name either
    ("AU03=2", "unknown action unit 'AU03'"),  # no such AU in the models
    ("AU12=nan", "--aus AU12=nan"),
    ("AU12=inf", "--aus AU12=inf"),
    ("AU6=5.5", "--aus AU06=5.5"),
    ("AU12=2,AU12=3", "AU12 is given twice"),
    ("AU12=x", "'AU12=x' is not AU=number"),
])
def test_parse_aus_refuses_bad_names_and_values(text, phrase):
  with pytest.raises(UserError) as info:
    inputs.parse_aus(text)
  one_line(info, phrase)


def test_parse_aus_reads_good_names():
  aus = inputs.parse_aus("AU6=2, AU12=3.5")
  expected = np.zeros(17)
  expected[[4, 8]] = 2.0, 3.5  # AU06 and AU12: the 5th and 9th of facs.AU_NAMES
  np.testing.assert_array_equal(aus, expected)


# ---- videos: frames, fps, max_side and the memory budget -----------------------------------

@pytest.mark.parametrize("arguments,phrase", [
    (dict(frames=100_000), f"frames=100000: the number of frames must be an integer in "
                           f"[2, {errors.MAX_FRAMES}]"),
    (dict(frames=0), "frames=0"),
    (dict(frames=2.5), "frames=2.5"),
    (dict(fps=-1), f"fps=-1: frames per second must be a finite number in "
                   f"[{errors.MIN_FPS:g}, {errors.MAX_FPS:g}]"),
    (dict(fps=float("nan")), "fps=nan"),
    (dict(max_side=-5), f"max_side=-5: the longer side of a video's frames in pixels must be an "
                        f"integer in [{errors.MIN_VIDEO_SIDE}, {errors.MAX_VIDEO_SIDE}]"),
    (dict(max_side=1), "max_side=1"),
    (dict(intensity=float("nan")), "intensity=nan"),
])
def test_animate_photo_refuses_bad_numbers_before_reading_the_photo(ganimation, arguments,
                                                                    phrase):
  with pytest.raises(UserError) as info:
    ganimation.animate_photo("no/such/photo.png", emotion="happy", **arguments)
  one_line(info, phrase)


@pytest.mark.parametrize("arguments,phrase", [
    (dict(frames=errors.MAX_FRAMES + 1), f"frames={errors.MAX_FRAMES + 1}"),
    (dict(fps=0), "fps=0"),
    (dict(intensity=float("inf")), "intensity=inf"),
])
def test_interpolate_refuses_bad_numbers(ganimation, arguments, phrase):
  with pytest.raises(UserError) as info:
    ganimation.interpolate(np.zeros((64, 64, 3), np.uint8), emotion="happy", **arguments)
  one_line(info, phrase)


def test_video_frames_times_pixels_stay_within_the_budget(ganimation):
  """A 2000 x 2000 px photo at max_side=2048 keeps its size: 4 MP a frame, so the 100 MP
  budget allows 25 frames (100e6 // 4e6) and 26 are refused, before any face search."""
  assert errors.MAX_VIDEO_MEGAPIXELS == 100.0  # the hand-computed numbers below assume it
  photo = np.zeros((2000, 2000, 3), np.uint8)
  with pytest.raises(UserError) as info:
    ganimation.animate_photo(photo, emotion="happy", frames=26, max_side=2048)
  one_line(info, "26 frames of 2000x2000 px are 104 MP", "at most 25 frames")
  assert animation.check_video_size("p", (2000, 2000), 25, 2048) == (2000, 2000)  # 25 pass
  # Faces count too: 300 frames of 512 x 512 px (78.6 MP) leave room for 17 faces of 64 px
  # (21.4 MP / 300 / 4096 = 17.4); 18 make 100.8 MP, so at most 100e6 // (512**2 + 18 * 64**2)
  # = 297 frames.
  assert animation.check_video_size("p", (512, 512), 300, None, 17, 64) == (512, 512)
  with pytest.raises(UserError) as info:
    animation.check_video_size("p", (512, 512), 300, None, 18, 64)
  one_line(info, "p: 300 frames of 512x512 px and 18 faces of 64 px are 101 MP",
           "at most 297 frames")


def test_a_photo_larger_than_a_video_frame_needs_a_max_side(ganimation):
  photo = np.zeros((100, errors.MAX_VIDEO_SIDE + 1, 3), np.uint8)
  with pytest.raises(UserError) as info:
    ganimation.animate_photo(photo, emotion="happy", frames=2, max_side=None)
  one_line(info, f"{errors.MAX_VIDEO_SIDE + 1}x100 px at its own size", "pass a max_side")


# ---- python -m fxs_jax.edit ----------------------------------------------------------------

@pytest.mark.parametrize("flags,phrase", [
    (["--emotion=happy", "--intensity=nan"], "--intensity=nan: the edit's strength must be a "
                                             "finite number in [0, 10]"),
    (["--emotion=happy", "--intensity=inf"], "--intensity=inf"),
    (["--emotion=happy", "--animate=100000"], "--animate=100000: the number of frames must be "
                                              f"an integer in [2, {errors.MAX_FRAMES}]"),
    (["--emotion=happy", "--animate=0"], "--animate=0"),
    (["--emotion=happy", "--animate=3", "--max_side=-5"], "--max_side=-5"),
    (["--emotion=happy", "--animate=3", "--fps=-1"], "--fps=-1: frames per second must be"),
    (["--emotion=happy", "--animate=3", "--fps=nan"], "--fps=nan"),
    (["--aus=AU¹²=3"], "--aus: unknown action unit 'AU¹²'"),
    (["--aus=AU12=nan"], "--aus AU12=nan"),
    (["--aus=AU99=1"], "unknown action unit 'AU99'"),
])
def test_edit_cli_refuses_bad_numbers_in_one_line_before_loading(photo, monkeypatch, capsys,
                                                                 flags, phrase):
  monkeypatch.setattr(fxs_jax.inference, "load", lambda *a, **k: pytest.fail("model loaded"))
  before = files_under(photo.parent)
  code = edit.main([str(photo), "--model=synthfaces/ganimation", *flags])
  err = capsys.readouterr().err
  assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
  one_line(err, phrase)
  assert files_under(photo.parent) == before  # nothing written


def test_edit_cli_refuses_a_video_over_the_budget_before_loading(tmp_path, monkeypatch, capsys):
  """A 3000 x 2000 px photo at --max_side=2048 makes 2048 x 1365 px frames (2.8 MP): the budget
  allows 35 of them (100e6 // (2048 * 1365))."""
  path = tmp_path / "wide.png"
  Image.fromarray(np.zeros((2000, 3000, 3), np.uint8)).save(path)
  monkeypatch.setattr(fxs_jax.inference, "load", lambda *a, **k: pytest.fail("model loaded"))
  code = edit.main([str(path), "--model=synthfaces/ganimation", "--emotion=happy",
                    "--animate=300", "--max_side=2048", "--gif"])
  err = capsys.readouterr().err
  assert code == 1
  one_line(err, f"error: {path}: 300 frames of 2048x1365 px", "at most 35 frames")
  assert files_under(tmp_path) == {Path("wide.png")}


# ---- convert_torch --image_size ------------------------------------------------------------

@pytest.mark.parametrize("size,critic,phrase", [
    (0, True, "config.model.image_size=0: the face crops' side in pixels must be an integer in "
              f"[{errors.MIN_IMAGE_SIZE}, {errors.MAX_IMAGE_SIZE}]"),
    (-128, True, "config.model.image_size=-128"),
    (100_000, False, "config.model.image_size=100000"),
    (66, False, "must be a multiple of 4 (the generator's two stride-2 steps)"),
    (40, True, "must be a multiple of 16 (the critic's 4 stride-2 layers)"),
])
def test_convert_refuses_an_image_size_the_networks_do_not_allow(tmp_path, size, critic, phrase):
  from configs import ganimation as ganimation_config  # pylint: disable=import-outside-toplevel
  config = ganimation_config.get_config("smoke")
  config.model.update(image_size=size, gen_base_channels=4, gen_num_res_blocks=2,
                      critic_base_channels=4, critic_num_layers=4)
  with pytest.raises(UserError) as info:
    convert_torch.convert_ganimation(TORCH_DATA / "official_G.pth",
                                     TORCH_DATA / "official_D.pth" if critic else None,
                                     config=config, out_dir=tmp_path / "export")
  one_line(info, phrase)
  assert not (tmp_path / "export").exists()


def test_convert_cli_refuses_image_size_0_before_reading(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "fxs_jax.convert_torch", "--generator=no_such.pth",
       "--image_size=0", f"--out={tmp_path / 'export'}"],
      capture_output=True, text=True, timeout=300, cwd=REPO,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert proc.returncode == 1, proc.stderr
  one_line(proc.stderr.strip(), "error: --image_size=0: the face crops' side in pixels must be",
           f"[{errors.MIN_IMAGE_SIZE}, {errors.MAX_IMAGE_SIZE}]")
  assert not (tmp_path / "export").exists()


# ---- faces.prepare -------------------------------------------------------------------------

@pytest.mark.parametrize("flags,phrase", [
    (["--size=0"], f"size=0: the crops' side in pixels must be an integer in "
                   f"[16, {errors.MAX_CROP_SIZE}]"),
    (["--size=100000"], "size=100000"),
    (["--threshold=nan"], "threshold=nan: dlib's detection score must be a finite number"),
    (["--min_face=-1"], "min_face=-1"),
])
def test_prepare_refuses_bad_numbers_before_any_work(photo, tmp_path, capsys, flags, phrase):
  out = tmp_path / "crops"
  assert prepare.main([str(photo.parent), str(out), *flags]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1, err
  one_line(err, phrase)
  assert not out.exists()
