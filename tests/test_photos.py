"""Models on real photos (fxs_jax.photos) and the ``python -m fxs_jax.edit`` command: one face
(scikit-image's astronaut), two faces, none; pixels far from the faces unchanged; the animation
writer read back with Pillow and PyAV; the start -> target conditions of intensity /
interpolation by their formulas; one-line errors.

The models are the ``:smoke`` generators with random weights, written as exports directly (an
untrained generator runs the same code path; building one eagerly, or training one, costs
tens of seconds on CPU).
"""

import json
import subprocess
import sys

import av
import jax
import numpy as np
import pytest
from PIL import Image

import fxs_jax
from configs import cgan_transfer as cgan_transfer_config
from configs import ganimation as ganimation_config
from configs import lgpgan as lgpgan_config
from configs import motiongan as motiongan_config
from configs import texturegan as texturegan_config
from fxs_jax import edit
from fxs_jax import facs
from fxs_jax import inference
from fxs_jax import photos
from fxs_jax.errors import UserError
from fxs_jax.faces import search as face_search
from fxs_jax.faces.preprocessing import face_width
from fxs_jax.train.checkpoint import path_name

pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")

CONFIGS = {"ganimation": ganimation_config, "lgpgan": lgpgan_config,
           "cgan_transfer": cgan_transfer_config, "motiongan": motiongan_config}


def _export_random_generator(config, directory):
  """An fxs_jax export of ``config``'s generator with random N(0, 0.1) weights."""
  _, abstract = inference.abstract_generator(inference.recipe_for(config))
  rng = np.random.default_rng(0)
  arrays = {path_name(p): rng.normal(0.0, 0.1, leaf.shape).astype(leaf.dtype)
            for p, leaf in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  directory.mkdir(parents=True)
  np.savez(directory / inference.PARAMS_FILE, **arrays)
  (directory / "config.json").write_text(config.to_json_best_effort())
  (directory / inference.MANIFEST).write_text(json.dumps(
      {"format": inference.EXPORT_FORMAT, "version": inference.EXPORT_VERSION,
       "model": config.model_name, "step": 0}))
  return directory


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
  """Random-weight exports of the ``:smoke`` generators; the TextureGAN one names the
  MotionGAN one as its motion run."""
  base = tmp_path_factory.mktemp("exports")
  made = {name: _export_random_generator(module.get_config("smoke"), base / name)
          for name, module in CONFIGS.items()}
  texture = texturegan_config.get_config("smoke")
  texture.video.motion = str(made["motiongan"])
  made["texturegan"] = _export_random_generator(texture, base / "texturegan")
  return made


@pytest.fixture(scope="module")
def astronaut():
  return skimage_data.astronaut()


@pytest.fixture(scope="module")
def two_faces(astronaut):
  """Two heads side by side, the right one at 0.7 scale (dlib finds both, the left larger)."""
  head = astronaut[:300, 90:360]
  small = np.asarray(Image.fromarray(head).resize((189, 210), Image.BILINEAR))
  canvas = np.full((300, 270 + 189 + 20, 3), 230, np.uint8)
  canvas[:, :270] = head
  canvas[45:255, 290:] = small
  return canvas


@pytest.fixture(scope="module")
def files(tmp_path_factory, astronaut, two_faces):
  folder = tmp_path_factory.mktemp("photos")
  paths = {"one": folder / "astronaut.png", "two": folder / "two.png",
           "none": folder / "wall.png", "broken": folder / "broken.jpg"}
  Image.fromarray(astronaut).save(paths["one"])
  Image.fromarray(two_faces).save(paths["two"])
  ramp = np.linspace(40, 220, 400, dtype=np.uint8)
  Image.fromarray(np.stack([np.tile(ramp, (300, 1))] * 3, -1)).save(paths["none"])
  paths["broken"].write_bytes(paths["one"].read_bytes()[:3000])  # a truncated PNG
  return paths


def _far_from_faces(result: photos.PhotoEdit, shape) -> np.ndarray:
  """Photo pixels more than a quarter of a face width outside every face's landmark box (the
  face mask ends 0.1 crop side = 0.19 face widths outside the landmarks' hull)."""
  far = np.ones(shape[:2], bool)
  for face, (x0, y0, x1, y1) in zip(result.faces, result.boxes):
    pad = int(0.25 * face_width(face.landmarks) / _crop_scale(face))
    far[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad] = False
  return far


def _crop_scale(face) -> float:
  """Crop pixels per photo pixel."""
  return float(np.sqrt(abs(np.linalg.det(face.transform[:, :2]))))


def _in_crop_square(face, shape) -> np.ndarray:
  ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
  t, size = face.transform, face.image.shape[0]
  cx, cy = t[0, 0] * xs + t[0, 1] * ys + t[0, 2], t[1, 0] * xs + t[1, 1] * ys + t[1, 2]
  return (cx > -0.5) & (cx < size - 0.5) & (cy > -0.5) & (cy < size - 0.5)


def _cli(capsys, *argv):
  code = edit.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return code, out, err


def test_cli_one_face_edited_and_pixels_far_from_it_unchanged(exports, files, astronaut,
                                                              tmp_path, capsys):
  before = files["one"].read_bytes()
  out = tmp_path / "happy.png"
  code, stdout, err = _cli(capsys, files["one"], f"--model={exports['ganimation']}",
                           "--emotion=happy", f"--out={out}")
  assert code == 0, err
  assert str(out) in stdout and files["one"].read_bytes() == before
  edited = np.asarray(Image.open(out))
  assert edited.shape == astronaut.shape and edited.dtype == np.uint8
  model = fxs_jax.load(exports["ganimation"])
  result = model.edit_photo(astronaut, emotion="happy")
  np.testing.assert_array_equal(result.photo, edited)  # the CLI is the API
  (face,) = result.faces
  assert face.image.shape == (32, 32, 3) and result.edited.shape == (1, 32, 32, 3)
  far = _far_from_faces(result, astronaut.shape)
  assert np.sum(far & _in_crop_square(face, astronaut.shape)) > 5000  # the mask is tested
  np.testing.assert_array_equal(edited[far], astronaut[far])
  x0, y0, x1, y1 = result.boxes[0]
  assert np.mean(edited[y0:y1, x0:x1] != astronaut[y0:y1, x0:x1]) > 0.5  # the face did change
  # --out=the photo itself is refused; the default output goes beside it.
  code, _, err = _cli(capsys, files["one"], f"--model={exports['ganimation']}",
                      "--emotion=sad", f"--out={files['one']}")
  assert code == 1 and "is the input photo" in err and files["one"].read_bytes() == before
  code, _, err = _cli(capsys, files["one"], f"--model={exports['ganimation']}",
                      "--aus=AU12=3,AU6=2", "--intensity=0.5")
  assert code == 0, err
  assert (files["one"].parent / "astronaut_aus.png").exists()


def test_cli_several_faces_all_or_the_largest(exports, files, two_faces, tmp_path, capsys):
  changed = {}
  for choice in ("all", "largest"):
    out = tmp_path / f"{choice}.png"
    code, _, err = _cli(capsys, files["two"], f"--model={exports['ganimation']}",
                        "--emotion=surprised", f"--faces={choice}", f"--out={out}")
    assert code == 0, err
    diff = np.any(np.asarray(Image.open(out)) != two_faces, axis=-1)
    changed[choice] = (diff[:, :270].sum(), diff[:, 290:].sum(), diff[:, 270:290].sum())
  left, right, gap = changed["all"]
  assert left > 2000 and right > 1000 and gap == 0  # both faces edited, nothing between them
  left, right, _ = changed["largest"]
  assert left > 2000 and right == 0  # the left face is the larger


def test_cli_errors_are_one_line_naming_the_file(exports, files, tmp_path, capsys,
                                                 monkeypatch):
  model = f"--model={exports['ganimation']}"
  cases = {"none": "no face found", "broken": "unreadable", "missing": "no such file"}
  paths = {**files, "missing": tmp_path / "missing.jpg"}
  for name, reason in cases.items():
    code, _, err = _cli(capsys, paths[name], model, "--emotion=happy",
                        f"--out={tmp_path / 'out.png'}")
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: {paths[name]}: ") and reason in err, err
  with monkeypatch.context() as patch:
    patch.setattr(photos, "MAX_MEGAPIXELS", 0.1)  # the astronaut is 0.26 MP
    code, _, err = _cli(capsys, files["one"], model, "--emotion=happy",
                        f"--out={tmp_path / 'out.png'}")
  assert code == 1 and err.count("\n") == 1 and "512x512 px (0.3 MP)" in err, err
  assert "0.1 MP limit" in err
  assert not (tmp_path / "out.png").exists()
  code, _, err = _cli(capsys, files["one"], model, "--aus=AU99=2")
  assert code == 1 and "unknown action unit 'AU99'" in err
  code, _, err = _cli(capsys, files["one"], f"--model={exports['lgpgan']}", "--aus=AU12=2")
  assert code == 1 and "lgpgan takes no aus=" in err
  # The module entry point itself: exit status 1 and the one line on stderr.
  proc = subprocess.run([sys.executable, "-m", "fxs_jax.edit", str(files["broken"]), model,
                         "--emotion=happy"], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and proc.stderr.startswith(f"error: {files['broken']}: unreadable")
  assert proc.stderr.count("\n") == 1, proc.stderr


def test_large_photos_are_searched_at_a_reduced_scale(astronaut, monkeypatch):
  full = photos.find_faces(astronaut, 64)
  monkeypatch.setattr(face_search, "DETECT_MAX_SIDE", 300)  # 512 px -> searched at 256 px
  (reduced,) = photos.find_faces(astronaut, 64)
  # Landmarks from the half-scale copy, mapped back: within ~2 crop px of the full-scale ones.
  assert np.abs(reduced.landmarks - full[0].landmarks).mean() < 2.0


def _gif_frames(path) -> int:
  """Frames of play time (Pillow stores a run of identical frames once, with their summed
  delay)."""
  with Image.open(path) as im:
    delays = []
    for i in range(im.n_frames):
      im.seek(i)
      delays.append(im.info["duration"])
  return round(sum(delays) / min(delays))


def test_cli_animation_gif_and_mp4_frame_count(exports, files, astronaut, tmp_path, capsys):
  code, _, err = _cli(capsys, files["one"], f"--model={exports['ganimation']}",
                      "--emotion=happy", "--animate=4", "--max_side=256",
                      f"--out={tmp_path / 'smile'}")
  assert code == 0, err
  assert _gif_frames(tmp_path / "smile.gif") == 4
  with Image.open(tmp_path / "smile.gif") as im:
    assert im.size == (256, 256)  # 512 px photo downscaled to --max_side
  with av.open(str(tmp_path / "smile.mp4")) as container:
    mp4 = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
  assert mp4.shape == (4, 256, 256, 3)
  # The API: every frame is the photo with the face's edit at intensity t / 3 pasted back.
  model = fxs_jax.load(exports["ganimation"])
  video = model.animate_photo(astronaut, emotion="happy", frames=4, max_side=None)
  assert len(video) == 4 and video.frames.shape == (4, 512, 512, 3) and video.landmarks is None
  for t in (0, 3):
    still = model.edit_photo(astronaut, emotion="happy", intensity=t / 3).photo
    np.testing.assert_array_equal(video.frames[t], still)
  assert not np.array_equal(video.frames[0], video.frames[3])
  assert [p.name for p in video.save(tmp_path / "api", min_side=64, formats=("gif",))] == [
      "api.gif"]


def test_intensity_and_interpolation_move_the_condition_from_start_to_target(exports):
  ganimation = fxs_jax.load(exports["ganimation"])
  face = np.full((32, 32, 3), 128, np.uint8)
  happy, sad = facs.emotion_aus("happy"), facs.emotion_aus("sad")
  batch = ganimation.recipe.edit_inputs(np.stack([face] * 3), emotion="happy",
                                        intensity=[0.0, 0.5, 1.5], start="sad")
  expected = np.clip([sad, sad + 0.5 * (happy - sad), sad + 1.5 * (happy - sad)], 0, 5) / 5
  np.testing.assert_allclose(batch["target_aus"], expected, atol=1e-6)
  aus = np.zeros(17, np.float32)
  aus[facs.AU_NAMES.index("AU12")] = 4.0
  scaled = ganimation.recipe.edit_inputs(face, aus=aus, intensity=0.25)["target_aus"]
  np.testing.assert_allclose(scaled[0], aus * 0.25 / 5, atol=1e-6)
  lgpgan = fxs_jax.load(exports["lgpgan"])
  landmarks = np.zeros((68, 2), np.float32)
  blend = lgpgan.recipe.edit_inputs(np.stack([face] * 2), emotion="happy",
                                    landmarks=[landmarks] * 2,
                                    intensity=[0.25, 1.0])["target_condition"]
  expected = np.zeros((2, 8), np.float32)
  expected[:, facs.EMOTIONS.index("neutral")] = [0.75, 0.0]
  expected[:, facs.EMOTIONS.index("happy")] = [0.25, 1.0]
  np.testing.assert_allclose(blend, expected, atol=1e-6)
  with pytest.raises(UserError, match=r"must be a finite number in \[0, 1\]"):
    lgpgan.recipe.edit_inputs(face, emotion="happy", landmarks=landmarks, intensity=1.5)
  # interpolate: frame t is the edit at intensity t / (frames - 1), all in one batch.
  video = ganimation.interpolate(face, aus=aus, frames=4, start="surprised")
  assert video.frames.shape == (4, 32, 32, 3) and video.emotion == "aus"
  for t in (0, 2):
    np.testing.assert_array_equal(
        video.frames[t], ganimation.edit(face, aus=aus, intensity=t / 3, start="surprised"))


def test_lgpgan_edit_and_cgan_transfer_on_photos(exports, files, astronaut, two_faces):
  lgpgan = fxs_jax.load(exports["lgpgan"])
  result = lgpgan.edit_photo(files["two"], emotion="angry", intensity=0.5, faces="largest")
  assert len(result.faces) == 1 and result.name == str(files["two"])
  far = _far_from_faces(result, two_faces.shape)
  np.testing.assert_array_equal(result.photo[far], two_faces[far])
  transfer = fxs_jax.load(exports["cgan_transfer"])
  moved = transfer.transfer_photo(astronaut, files["two"])  # onto both faces
  assert len(moved.faces) == 2 and moved.edited.shape == (2, 32, 32, 3)
  far = _far_from_faces(moved, two_faces.shape)
  np.testing.assert_array_equal(moved.photo[far], two_faces[far])
  assert np.any(moved.photo != two_faces)


def test_photo_methods_follow_the_declared_predictions(exports):
  uses = {name: set(fxs_jax.load(path).uses) for name, path in exports.items()}
  photo_methods = {"edit_photo", "interpolate", "animate_photo", "transfer_photo"}
  assert uses["ganimation"] & photo_methods == {"edit_photo", "interpolate", "animate_photo"}
  assert uses["lgpgan"] & photo_methods == {"edit_photo", "interpolate", "animate_photo"}
  assert uses["cgan_transfer"] & photo_methods == {"transfer_photo"}
  assert uses["texturegan"] == {"animate_photo", "animate"}
  assert not uses["motiongan"]
  with pytest.raises(UserError, match="ganimation has no transfer_photo: it needs a 'transfer'"):
    fxs_jax.load(exports["ganimation"]).transfer_photo("a.png", "b.png")


def test_cli_texturegan_video_of_a_photo(exports, files, astronaut, tmp_path, capsys):
  """MotionGAN + TextureGAN on the astronaut: the face's video pasted back, through the same
  writer; a still edit is refused with the hint to animate."""
  code, _, err = _cli(capsys, files["one"], f"--model={exports['texturegan']}",
                      "--emotion=happy", "--animate=3", "--mp4", "--max_side=128",
                      f"--out={tmp_path / 'video.mp4'}")
  assert code == 0, err
  assert not (tmp_path / "video.gif").exists()
  with av.open(str(tmp_path / "video.mp4")) as container:
    frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
  assert frames.shape == (3, 128, 128, 3)
  code, _, err = _cli(capsys, files["one"], f"--model={exports['texturegan']}",
                      "--emotion=happy", f"--out={tmp_path / 'still.png'}")
  assert code == 1 and "add --animate=K" in err
