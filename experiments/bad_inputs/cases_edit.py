"""``python -m fxs_jax.edit`` (in the worker through ``fxs_jax.edit.main(argv)``; memory-bound
cases in their own process) and the API's ``model.edit`` / ``edit_photo`` / ``animate_photo``.

Every case writes (or must not write) into its sandbox: an ``error`` case that leaves anything
there, or changes the photo it was given, is bad."""

from __future__ import annotations

import shutil

from PIL import Image

from experiments.bad_inputs import api_calls
from experiments.bad_inputs import fixtures
from experiments.bad_inputs.harness import Case

MODEL = "--model=synthfaces/ganimation"
ASTRO = "{fx}/astro.png"
OUT = "--out={sb}/out.png"
VIDEO = "--out={sb}/anim"
BIG_CAP_MB = 2500


def _case(name, expect, *argv, **kw) -> Case:
  return Case(id=f"edit.{name}", cls="edit", expect=expect, module="fxs_jax.edit", argv=argv,
              **kw)


def _image(name: str, size=(512, 512)):
  def check(sb, fx, run):
    del fx, run
    path = sb / name
    if not path.is_file():
      return f"{name} was not written"
    with Image.open(path) as image:
      return "" if image.size == size else f"{name} is {image.size}, expected {size}"
  return check


def _gif(name: str, frames: int, longer_side: int | None = None, fps: float | None = None):
  def check(sb, fx, run):
    del fx, run
    path = sb / name
    if not path.is_file():
      return f"{name} was not written"
    with Image.open(path) as gif:
      found, side, duration = gif.n_frames, max(gif.size), gif.info.get("duration")
    if found != frames:
      return f"{name} has {found} frames, expected {frames}"
    if longer_side is not None and side != longer_side:
      return f"{name}'s longer side is {side} px, expected {longer_side}"
    if fps is not None and duration is not None and abs(duration - 1000 / fps) > 10:
      return f"{name}: {duration} ms a frame, expected {1000 / fps:.0f} ms ({fps:g} fps)"
    return ""
  return check


def _photo_copy(sb, fx):
  shutil.copy(fx / "astro.png", sb / "astro.png")


def _readonly(sb, fx):
  del fx
  fixtures.make_immutable(sb / "ro")


def _a_file(sb, fx):
  del fx
  (sb / "file").write_text("a file, not a folder\n")


def _broken_export(change):
  def setup(sb, fx):
    change(fixtures.export_copy(sb, fx))
  return setup


def _api(name, expect, call, value, isolate=False, **kw) -> Case:
  what = f"{call}({value}) on {api_calls.MODEL}"
  if isolate:
    return Case(id=f"edit.api_{name}", cls="edit", expect=expect, what=what,
                module="experiments.bad_inputs.api_calls", argv=(call, str(value)), isolate=True,
                mem_cap_mb=BIG_CAP_MB, **kw)
  return Case(id=f"edit.api_{name}", cls="edit", expect=expect, what=what,
              call=lambda sb, fx: api_calls.CALLS[call](value), **kw)


def cases() -> list[Case]:
  c = [
      # controls
      _case("still_emotion", "ok", ASTRO, MODEL, "--emotion=happy", OUT, check=_image("out.png")),
      _case("still_aus", "ok", ASTRO, MODEL, "--aus=AU12=3,AU06=2", OUT, check=_image("out.png")),
      _case("still_aus_17", "ok", ASTRO, MODEL, "--aus=" + ",".join(["0"] * 11 + ["3"] + ["0"] * 5),
            OUT, check=_image("out.png")),
      _case("still_intensity_half", "ok", ASTRO, MODEL, "--emotion=sad", "--intensity=0.5", OUT,
            check=_image("out.png")),
      _case("still_jpeg_largest_face", "ok", "{fx}/astro.jpg", MODEL, "--emotion=happy",
            "--faces=largest", "--out={sb}/out.jpg", check=_image("out.jpg")),
      _case("animate_3", "ok", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--gif", VIDEO,
            check=_gif("anim.gif", 3)),
      _case("animate_fps_max_side", "ok", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--gif",
            "--fps=12", "--max_side=256", VIDEO, check=_gif("anim.gif", 3, 256, 12)),
      _case("folder", "ok", "{fx}/photos", MODEL, "--emotion=happy", "--out={sb}/edited",
            check=_image("edited/astro_happy.png")),
      # the photo
      _case("photo_missing", "error", "{sb}/nope.png", MODEL, "--emotion=happy", OUT),
      _case("photo_corrupt", "error", "{fx}/corrupt.png", MODEL, "--emotion=happy", OUT),
      _case("photo_truncated", "error", "{fx}/truncated.png", MODEL, "--emotion=happy", OUT),
      _case("photo_empty_file", "error", "{fx}/empty.jpg", MODEL, "--emotion=happy", OUT),
      _case("photo_text_file", "error", "{fx}/text.jpg", MODEL, "--emotion=happy", OUT),
      _case("photo_no_face", "error", "{fx}/noface.png", MODEL, "--emotion=happy", OUT),
      _case("photo_decompression_bomb", "error", "{fx}/bomb.png", MODEL, "--emotion=happy", OUT,
            isolate=True, mem_cap_mb=BIG_CAP_MB),
      _case("folder_without_images", "error", "{fx}/no_images", MODEL, "--emotion=happy",
            "--out={sb}/edited"),
      _case("several_missing_path", "error", ASTRO, "{sb}/nope.png", MODEL, "--emotion=happy",
            "--out={sb}/edited"),
      _case("several_out_is_file_name", "error", ASTRO, "{fx}/noface.png", MODEL,
            "--emotion=happy", "--out={sb}/x.png"),
      # --aus
      _case("aus_superscript_digits", "error", ASTRO, MODEL, "--aus=AU¹²=3", OUT),
      _case("aus_value_text", "error", ASTRO, MODEL, "--aus=AU12=abc", OUT),
      _case("aus_unknown_au", "error", ASTRO, MODEL, "--aus=AU99=3", OUT),
      _case("aus_no_value", "error", ASTRO, MODEL, "--aus=AU12", OUT),
      _case("aus_double_equals", "error", ASTRO, MODEL, "--aus=AU12==3", OUT),
      _case("aus_nan", "error", ASTRO, MODEL, "--aus=AU12=nan", OUT),
      _case("aus_inf", "error", ASTRO, MODEL, "--aus=AU12=inf", OUT),
      _case("aus_negative", "error", ASTRO, MODEL, "--aus=AU12=-1", OUT),
      _case("aus_above_5", "error", ASTRO, MODEL, "--aus=AU12=6", OUT),
      _case("aus_three_numbers", "error", ASTRO, MODEL, "--aus=1,2,3", OUT),
      _case("aus_17_with_nan", "error", ASTRO, MODEL, "--aus=" + ",".join(["0"] * 16 + ["nan"]),
            OUT),
      _case("aus_empty", "error", ASTRO, MODEL, "--aus=", OUT),
      # the target
      _case("emotion_unknown", "error", ASTRO, MODEL, "--emotion=happyy", OUT),
      _case("no_target", "error", ASTRO, MODEL, OUT),
      _case("start_unknown", "error", ASTRO, MODEL, "--emotion=happy", "--start=happyy", OUT),
      _case("relative_to_unknown", "error", ASTRO, MODEL, "--emotion=happy",
            "--relative_to=bogus", OUT),
      _case("source_with_ganimation", "error", ASTRO, MODEL, "--source={fx}/astro.png", OUT),
      _case("faces_index_out_of_range", "error", ASTRO, MODEL, "--emotion=happy", "--faces=5",
            OUT),
      _case("faces_text", "error", ASTRO, MODEL, "--emotion=happy", "--faces=abc", OUT),
      _case("faces_negative", "error", ASTRO, MODEL, "--emotion=happy", "--faces=-1", OUT),
      # --intensity
      _case("intensity_nan", "error", ASTRO, MODEL, "--emotion=happy", "--intensity=nan", OUT),
      _case("intensity_inf", "error", ASTRO, MODEL, "--emotion=happy", "--intensity=inf", OUT),
      _case("intensity_minus_inf", "error", ASTRO, MODEL, "--emotion=happy", "--intensity=-inf",
            OUT),
      _case("intensity_negative", "error", ASTRO, MODEL, "--emotion=happy", "--intensity=-1",
            OUT),
      _case("intensity_text", "error", ASTRO, MODEL, "--emotion=happy", "--intensity=abc", OUT),
      # --animate, --max_side, --fps
      _case("animate_0", "error", ASTRO, MODEL, "--emotion=happy", "--animate=0", VIDEO),
      _case("animate_minus_1", "error", ASTRO, MODEL, "--emotion=happy", "--animate=-1", VIDEO),
      _case("animate_1", "error", ASTRO, MODEL, "--emotion=happy", "--animate=1", VIDEO),
      _case("animate_text", "error", ASTRO, MODEL, "--emotion=happy", "--animate=abc", VIDEO),
      _case("animate_100000", "error", ASTRO, MODEL, "--emotion=happy", "--animate=100000",
            VIDEO, isolate=True, mem_cap_mb=BIG_CAP_MB, timeout=180),
      _case("max_side_minus_5", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3",
            "--max_side=-5", VIDEO),
      _case("max_side_text", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3",
            "--max_side=abc", VIDEO),
      _case("max_side_100000", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3",
            "--max_side=100000", VIDEO, isolate=True, mem_cap_mb=BIG_CAP_MB, timeout=180),
      _case("fps_minus_1", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--fps=-1",
            VIDEO),
      _case("fps_nan", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--fps=nan",
            VIDEO),
      _case("fps_inf", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--fps=inf",
            VIDEO),
      _case("fps_0", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--fps=0", VIDEO),
      _case("fps_1000", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3", "--fps=1000",
            VIDEO),
      _case("fps_without_animate", "error", ASTRO, MODEL, "--emotion=happy", "--fps=nan", OUT),
      # where the output goes
      _case("out_read_only_folder", "error", ASTRO, MODEL, "--emotion=happy",
            "--out={sb}/ro/out.png", setup=_readonly),
      _case("out_under_a_file", "error", ASTRO, MODEL, "--emotion=happy",
            "--out={sb}/file/out.png", setup=_a_file),
      _case("out_in_proc", "error", ASTRO, MODEL, "--emotion=happy", "--out=/proc/fxs_out.png"),
      _case("out_is_the_photo", "error", "{sb}/astro.png", MODEL, "--emotion=happy",
            "--out={sb}/astro.png", setup=_photo_copy),
      _case("out_gif_without_animate", "error", ASTRO, MODEL, "--emotion=happy",
            "--out={sb}/out.gif"),
      _case("video_read_only_folder", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3",
            "--out={sb}/ro/anim", setup=_readonly),
      _case("video_under_a_file", "error", ASTRO, MODEL, "--emotion=happy", "--animate=3",
            "--out={sb}/file/anim", setup=_a_file),
      _case("folder_into_read_only_folder", "error", "{fx}/photos", MODEL, "--emotion=happy",
            "--out={sb}/ro", setup=_readonly),
      # the model
      _case("model_missing", "error", ASTRO, "--model={sb}/nope", "--emotion=happy", OUT),
      _case("model_params_truncated", "error", ASTRO, "--model={sb}/export", "--emotion=happy",
            OUT, setup=_broken_export(lambda e: fixtures.truncate(e / "params.npz"))),
      _case("model_params_flipped_byte", "error", ASTRO, "--model={sb}/export",
            "--emotion=happy", OUT,
            setup=_broken_export(lambda e: fixtures.flip_byte(e / "params.npz", 0.6))),
      _case("model_config_wrong_shape", "error", ASTRO, "--model={sb}/export", "--emotion=happy",
            OUT, setup=_broken_export(lambda e: (e / "config.json").write_text("[1, 2]"))),
      _case("model_without_edits", "error", ASTRO, "--model=synthfaces/motiongan",
            "--emotion=happy", OUT),
      # the API
      _api("edit_control", "ok", "edit", 1.0),
      _api("edit_intensity_nan", "error", "edit", float("nan")),
      _api("edit_intensity_inf", "error", "edit", float("inf")),
      _api("edit_intensity_negative", "error", "edit", -1.0),
      _api("edit_photo_intensity_nan", "error", "edit_photo", float("nan")),
      _api("animate_photo_frames_0", "error", "animate_frames", 0),
      _api("animate_photo_frames_100000", "error", "animate_frames", 100000, isolate=True,
           timeout=180),
      _api("animate_photo_max_side_minus_5", "error", "animate_max_side", -5),
      _api("animate_photo_fps_nan", "error", "animate_fps", float("nan")),
  ]
  return c
