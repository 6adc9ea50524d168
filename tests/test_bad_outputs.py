"""Writing where it cannot (issue 33): an output under an existing file (which fails even for
root), in a read-only folder (skipped as root: root ignores the mode bits), a write that fails
half-way. ``python -m fxs_jax.edit``, ``python -m fxs_jax.convert_torch`` and ``python -m
fxs_jax.faces.prepare`` stop with one line before loading a model or reading a photo's faces;
``save_photo``, ``Animation.save``, the converter and ``prepare`` never leave a half-written
file or temporary, keep an earlier file whole, and never touch the input photo.

The oracle is the file system: the folder's listing and the bytes of every file before and after.
"""

import errno
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
from fxs_jax import inference
from fxs_jax import photo_io
from fxs_jax.errors import UserError
from fxs_jax.faces import prepare

REPO = Path(__file__).resolve().parents[1]
TORCH_DATA = REPO / "tests" / "data" / "torch_ganimation"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="root writes into read-only folders")


def snapshot(folder: Path) -> dict:
  """Every file under ``folder`` and its bytes (folders as None)."""
  return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None)
          for p in sorted(folder.rglob("*"))}


def one_line(text: str, *phrases) -> str:
  text = text.strip()
  assert "\n" not in text and "Traceback" not in text, text
  for phrase in phrases:
    assert phrase in text, (phrase, text)
  return text


@pytest.fixture
def album(tmp_path):
  """``photos/a.png`` (no face: nothing gets that far), ``blocker`` (a file), ``locked/`` (a
  read-only folder)."""
  (tmp_path / "photos").mkdir()
  Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(tmp_path / "photos" / "a.png")
  (tmp_path / "blocker").write_text("a file, where the output's folder would go")
  (tmp_path / "locked").mkdir()
  (tmp_path / "locked").chmod(0o555)
  yield tmp_path
  (tmp_path / "locked").chmod(0o755)


@pytest.fixture
def no_model(monkeypatch):
  """Fails the test if a model is loaded: the output is checked before."""
  monkeypatch.setattr(inference, "load", lambda *a, **k: pytest.fail("the model was loaded"))


def _edit(capsys, *argv) -> tuple[int, str]:
  code = edit.main([str(a) for a in argv])
  return code, capsys.readouterr().err


# ---- python -m fxs_jax.edit ----------------------------------------------------------------

@pytest.mark.parametrize("out,phrase", [
    ("blocker/a_happy.png", "cannot write it: a file stands where its folder should be"),
    ("blocker/deeper/a_happy.png", "cannot write it: a file stands where its folder should be"),
    ("photos/a_happy.xyz", "cannot write '.xyz'"),
])
def test_edit_checks_its_output_before_loading_the_model(album, no_model, capsys, out, phrase):
  before = snapshot(album)
  code, err = _edit(capsys, album / "photos" / "a.png", "--model=synthfaces/ganimation",
                    "--emotion=happy", f"--out={album / out}")
  assert code == 1
  one_line(err, f"error: {album / out}: ", phrase)
  assert snapshot(album) == before


def test_edit_video_output_under_a_file_is_one_line(album, no_model, capsys):
  code, err = _edit(capsys, album / "photos" / "a.png", "--model=synthfaces/ganimation",
                    "--emotion=happy", "--animate=3", f"--out={album / 'blocker' / 'clip'}")
  assert code == 1
  one_line(err, f"error: {album / 'blocker' / 'clip.gif'}: cannot write it")
  assert not (album / "blocker").is_dir()


@needs_non_root
def test_edit_into_a_read_only_folder_is_one_line(album, no_model, capsys):
  before = snapshot(album)
  code, err = _edit(capsys, album / "photos" / "a.png", "--model=synthfaces/ganimation",
                    "--emotion=happy", f"--out={album / 'locked' / 'a_happy.png'}")
  assert code == 1
  one_line(err, "cannot write it: permission denied; choose a folder you can write to")
  assert snapshot(album) == before


def test_edit_never_writes_onto_its_input_photo(album, no_model, capsys):
  before = snapshot(album)
  code, err = _edit(capsys, album / "photos" / "a.png", "--model=synthfaces/ganimation",
                    "--emotion=happy", f"--out={album / 'photos' / 'a.png'}")
  assert code == 1
  one_line(err, "is the input photo", "never overwritten")
  assert snapshot(album) == before


def test_edit_of_a_folder_into_a_path_under_a_file_fails_each_photo_without_a_model(
    album, no_model, capsys):
  before = snapshot(album)
  code = edit.main([str(album / "photos"), "--model=synthfaces/ganimation", "--emotion=happy",
                    f"--out={album / 'blocker' / 'edited'}", "--quiet"])
  out, err = capsys.readouterr()
  assert code == 1
  out_path = album / "blocker" / "edited" / "a_happy.png"
  one_line(err, f"failed {album / 'photos' / 'a.png'}: {out_path}: cannot write it: a file "
                "stands where its folder should be")
  assert out.startswith("edited 0, skipped 0, failed 1")
  assert snapshot(album) == before


# ---- writers: whole files only -------------------------------------------------------------

def _failing_save(monkeypatch, error):
  """Pillow's ``Image.save`` writes a few bytes, then raises ``error``: a full disk."""
  real_save = Image.Image.save

  def save(self, fp, *args, **kwargs):
    Path(fp).write_bytes(b"half")
    raise error
  monkeypatch.setattr(Image.Image, "save", save)
  return real_save


def test_save_photo_keeps_an_earlier_file_whole_when_writing_fails(tmp_path, monkeypatch):
  path = tmp_path / "out.png"
  photo_io.save_photo(path, np.zeros((8, 8, 3), np.uint8))
  before = snapshot(tmp_path)
  _failing_save(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
  with pytest.raises(UserError) as info:
    photo_io.save_photo(path, np.full((8, 8, 3), 255, np.uint8))
  one_line(str(info.value), f"{path}: cannot write it: No space left on device; check the disk")
  assert snapshot(tmp_path) == before  # the earlier file, and no temporary beside it


def test_save_photo_writes_no_temporary_and_the_whole_photo(tmp_path):
  pixels = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
  photo_io.save_photo(tmp_path / "sub" / "out.png", pixels)
  assert list(snapshot(tmp_path)) == [Path("sub"), Path("sub/out.png")]
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sub" / "out.png")), pixels)


def test_animation_save_checks_every_file_before_writing_any(tmp_path):
  video = animation.Animation(frames=np.zeros((2, 8, 8, 3), np.uint8),
                              landmarks=None, emotion="happy", fps=12.0)
  (tmp_path / "blocker").write_text("a file")
  with pytest.raises(UserError) as info:
    video.save(tmp_path / "blocker" / "clip")
  one_line(str(info.value), "clip.gif: cannot write it: a file stands where its folder should be")
  assert list(snapshot(tmp_path)) == [Path("blocker")]
  # A write that fails (the MP4, after the GIF is written): one line naming it.
  def full_disk(path, frames, fps):
    raise OSError(errno.ENOSPC, "No space left on device")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(animation.viz, "save_mp4", full_disk)
    with pytest.raises(UserError) as info:
      video.save(tmp_path / "clip", min_side=0)
  one_line(str(info.value), f"{tmp_path / 'clip.mp4'}: cannot write it: No space left")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "clip.gif"]
  with Image.open(tmp_path / "clip.gif") as gif:
    assert gif.n_frames == 1  # two identical frames, stored once (viz.save_gif)


# ---- convert_torch -------------------------------------------------------------------------

def _tiny_config():
  from configs import ganimation as ganimation_config  # pylint: disable=import-outside-toplevel
  config = ganimation_config.get_config("smoke")
  config.model.update(image_size=32, gen_base_channels=4, gen_num_res_blocks=2,
                      critic_base_channels=4, critic_num_layers=4)
  return config


def test_convert_checks_its_output_before_reading_the_checkpoint(album):
  before = snapshot(album)
  with pytest.raises(UserError) as info:  # the generator file does not exist: never read
    convert_torch.convert_ganimation(album / "no_such.pth", out_dir=album / "blocker" / "export",
                                     config=_tiny_config())
  one_line(str(info.value), f"{album / 'blocker' / 'export'}: cannot write it")
  with pytest.raises(UserError) as info:
    convert_torch.convert_ganimation(album / "no_such.pth", out_dir=album / "blocker",
                                     config=_tiny_config())
  one_line(str(info.value), "a file stands where the folder should be")
  assert snapshot(album) == before


@needs_non_root
def test_convert_into_a_read_only_folder_is_one_line(album):
  with pytest.raises(UserError) as info:
    convert_torch.convert_ganimation(TORCH_DATA / "official_G.pth", config=_tiny_config(),
                                     out_dir=album / "locked" / "export")
  one_line(str(info.value), "permission denied")


def test_convert_leaves_no_half_export_when_writing_fails(tmp_path, monkeypatch):
  real_write = inference.write_export

  def full_disk(model, out_dir, **kwargs):
    real_write(model, out_dir, **kwargs)  # every file, then the disk is full
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(inference, "write_export", full_disk)
  with pytest.raises(UserError) as info:
    convert_torch.convert_ganimation(TORCH_DATA / "official_G.pth", config=_tiny_config(),
                                     out_dir=tmp_path / "export")
  one_line(str(info.value), f"{tmp_path / 'export'}: cannot write it: No space left on device")
  assert snapshot(tmp_path) == {}  # neither the export nor its temporary folder
  monkeypatch.setattr(inference, "write_export", real_write)
  converted = convert_torch.convert_ganimation(TORCH_DATA / "official_G.pth",
                                               config=_tiny_config(), out_dir=tmp_path / "export")
  assert fxs_jax.load(converted.out_dir).config.model.image_size == 32
  assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_convert_cli_under_a_file_is_one_line(album):
  proc = subprocess.run(
      [sys.executable, "-m", "fxs_jax.convert_torch",
       f"--generator={TORCH_DATA / 'official_G.pth'}", f"--out={album / 'blocker' / 'export'}"],
      capture_output=True, text=True, timeout=300, cwd=REPO,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert proc.returncode == 1
  one_line(proc.stderr, f"error: {album / 'blocker' / 'export'}: cannot write it: a file stands "
                        "where its folder should be")


# ---- faces.prepare -------------------------------------------------------------------------

class _NoDetector:
  threshold = 0.3

  def __init__(self, *args, **kwargs):
    raise AssertionError("the face detector was loaded")


@pytest.mark.parametrize("out", ["blocker/crops", "blocker"])
def test_prepare_checks_its_output_before_any_work(album, monkeypatch, capsys, out):
  monkeypatch.setattr(prepare, "FaceDetector", _NoDetector)
  before = snapshot(album)
  assert prepare.main([str(album / "photos"), str(album / out)]) == 1
  err = capsys.readouterr().err
  one_line(err, f"{album / out}", "is a file" if out == "blocker" else "cannot write it")
  assert snapshot(album) == before


@needs_non_root
def test_prepare_into_a_read_only_folder_is_one_line(album, monkeypatch, capsys):
  monkeypatch.setattr(prepare, "FaceDetector", _NoDetector)
  assert prepare.main([str(album / "photos"), str(album / "locked" / "crops")]) == 1
  one_line(capsys.readouterr().err, "permission denied")


def test_prepare_leaves_no_half_written_image_when_writing_fails(album, monkeypatch):
  """The crop is written, then the landmarks' write fails: one line naming that file, and
  none of the image's three files (nor a temporary) is left."""
  face = type("Face", (), {"image": np.zeros((16, 16, 3), np.uint8),
                           "landmarks": np.zeros((68, 2)), "transform": np.eye(2, 3)})()
  monkeypatch.setattr(prepare, "preprocess", lambda *a, **k: face)
  detector = type("Detector", (), {"threshold": 0.3})()

  def full_disk(path, array):
    Path(path).write_bytes(b"half")
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(prepare.np, "save", full_disk)
  out = album / "crops"
  with pytest.raises(UserError) as info:
    prepare.prepare_folder(album / "photos", out, size=16, detector=detector, progress=False)
  one_line(str(info.value), f"{out / 'a.png.landmarks.npy'}: cannot write it: No space left")
  assert snapshot(out) == {}
