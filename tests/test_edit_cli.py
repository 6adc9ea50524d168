"""``python -m fxs_jax.edit`` on many photos in one call (fxs_jax/edit.py) and the batch buckets of
``TrainedModel.predict`` (fxs_jax/inference.py): photos and folders in one call, a photo without
a face skipped, --out=DIR, outputs that would overwrite an input, the model loaded once and
compiled once per bucket, padded rows equal to unpadded ones.

The model is the bundled ``synthfaces/ganimation`` (64 px), loaded once for the module: every
call of ``edit.main`` gets it from a counting stand-in for ``inference.load``, so the compiled
batch sizes accumulate over the tests (at most 1, 4 and 8 rows: the photos hold 1, 3 or 5
faces). The photos are scikit-image's astronaut and canvases of 3 or 5 copies of her head.
"""

import re

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

import fxs_jax
from fxs_jax import edit
from fxs_jax import inference
from fxs_jax import photos
from fxs_jax.errors import UserError

pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")

MODEL = "synthfaces/ganimation"
BUCKETS_1_3_5 = {1, 4, 8}  # the padded batch sizes of 1, 3 and 5 faces


@pytest.fixture(scope="module")
def model():
  return fxs_jax.load(MODEL)


@pytest.fixture
def loads(model, monkeypatch):
  """The model paths ``edit`` loads (each call of ``inference.load``), served by the module's
  model."""
  calls, real_load = [], inference.load

  def load(path, step=None):
    calls.append(str(path))
    return model if str(path) == MODEL else real_load(path, step)
  monkeypatch.setattr(inference, "load", load)
  return calls


def _heads(n: int) -> np.ndarray:
  """``n`` copies of the astronaut's head side by side at 0.6 scale (dlib finds all ``n``)."""
  head = Image.fromarray(skimage_data.astronaut()[:300, 90:360]).resize((162, 180),
                                                                        Image.BILINEAR)
  return np.concatenate([np.asarray(head)] * n, axis=1)


def _save(path, image):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(image).save(path)
  return path


@pytest.fixture
def album(tmp_path):
  """A loose photo (1 face) and a folder: sub/three.png (3 faces), five.jpg (5 faces), wall.png
  (no face) and notes.txt (not an image)."""
  ramp = np.linspace(40, 220, 200, dtype=np.uint8)
  paths = {"one": _save(tmp_path / "one.png", _heads(1)),
           "three": _save(tmp_path / "folder" / "sub" / "three.png", _heads(3)),
           "five": _save(tmp_path / "folder" / "five.jpg", _heads(5)),
           "wall": _save(tmp_path / "folder" / "wall.png",
                         np.stack([np.tile(ramp, (150, 1))] * 3, -1))}
  (tmp_path / "folder" / "notes.txt").write_text("not a photo")
  return paths


def _cli(capsys, *argv):
  code = edit.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return code, out, err


def _outputs(folder):
  return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*_happy.*"))


def test_photos_and_a_folder_in_one_call_one_load_one_compile_per_bucket(
    model, loads, album, tmp_path, capsys):
  before = {name: path.read_bytes() for name, path in album.items()}
  code, out, err = _cli(capsys, album["one"], tmp_path / "folder", f"--model={MODEL}",
                        "--emotion=happy")
  assert code == 0, err  # a skipped photo alone does not fail the run
  assert loads == [MODEL]
  assert _outputs(tmp_path) == ["folder/five_happy.jpg", "folder/sub/three_happy.png",
                                "one_happy.png"]
  (skipped,) = err.strip().splitlines()
  assert skipped.startswith(f"skipped {album['wall']}: no face found"), err
  assert out.splitlines()[-1].startswith("edited 3, skipped 1, failed 0 in ")
  assert f"{album['three']} -> {tmp_path / 'folder/sub/three_happy.png'}" in out
  assert {name: path.read_bytes() for name, path in album.items()} == before
  # Each output is the API's edit of its photo, all of its faces changed.
  three = np.asarray(Image.open(tmp_path / "folder/sub/three_happy.png"))
  expected = model.edit_photo(album["three"], emotion="happy")
  assert len(expected.faces) == 3
  np.testing.assert_array_equal(three, expected.photo)
  # 1, 3 and 5 faces: three padded batch sizes, each compiled once (whichever test ran first).
  traced = model.traced_batch_sizes["edit"]
  assert set(traced) <= BUCKETS_1_3_5 and len(traced) == len(set(traced)), traced


def test_out_dir_keeps_folder_layout_and_never_overwrites_an_input(model, loads, album,
                                                                   tmp_path, capsys):
  out_dir = tmp_path / "edited"
  code, out, err = _cli(capsys, album["one"], tmp_path / "folder", f"--model={MODEL}",
                        "--emotion=happy", f"--out={out_dir}", "--quiet")
  assert code == 0, err
  assert _outputs(out_dir) == ["five_happy.jpg", "one_happy.png", "sub/three_happy.png"]
  assert not list((tmp_path / "folder").rglob("*_happy.*")) and " -> " not in out
  # Two photos with one output name: the first is written, the second fails (exit 1), and a
  # photo whose output is another input photo is not edited.
  twin = _save(tmp_path / "other" / "one.png", _heads(1))
  earlier = _save(tmp_path / "other" / "one_happy.png", _heads(1))
  before = earlier.read_bytes()
  code, out, err = _cli(capsys, album["one"], twin, f"--model={MODEL}", "--emotion=happy",
                        f"--out={out_dir}")
  assert code == 1
  assert f"failed {twin}: its output {out_dir / 'one_happy.png'} is also the output of " \
         f"{album['one']}" in err
  code, out, err = _cli(capsys, twin, earlier, f"--model={MODEL}", "--emotion=happy")
  assert code == 1 and earlier.read_bytes() == before
  assert f"failed {twin}: its output {earlier} is an input photo" in err
  assert (tmp_path / "other" / "one_happy_happy.png").exists()
  assert out.splitlines()[-1].startswith("edited 1, skipped 0, failed 1 in ")
  assert loads == [MODEL] * 3


def test_bad_inputs_are_one_line_before_any_work(loads, album, tmp_path, capsys):
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "notes.txt").write_text("no photos here")
  cases = {
      "no such file or folder": [album["one"], tmp_path / "missing.jpg"],
      "no images (jpg, jpeg, png": [album["one"], tmp_path / "empty"],
      "names a file; with several photos": [album["one"], album["three"],
                                            f"--out={tmp_path / 'x.jpg'}"],
  }
  for reason, argv in cases.items():
    code, out, err = _cli(capsys, *argv, f"--model={MODEL}", "--emotion=happy")
    assert code == 1 and err.count("\n") == 1 and reason in err and not out, err
  assert not loads and not _outputs(tmp_path)
  # A flag the model refuses: checked on a blank crop once the model is loaded, before any photo.
  code, out, err = _cli(capsys, album["one"], tmp_path / "folder", f"--model={MODEL}",
                        "--emotion=grumpy")
  assert code == 1 and err.count("\n") == 1 and "grumpy" in err and not out, err
  assert not _outputs(tmp_path)


def test_an_error_not_about_the_photo_stops_the_run(model, loads, album, tmp_path, capsys,
                                                    monkeypatch):
  def broken(photo, **kwargs):
    del photo, kwargs
    raise UserError("the model is broken.")
  monkeypatch.setitem(model.__dict__, "edit_photo", broken)  # shadows the recipe's method
  code, out, err = _cli(capsys, tmp_path / "folder", f"--model={MODEL}", "--emotion=happy")
  assert code == 1 and err == "error: the model is broken.\n"
  assert "edited 0, skipped 0, failed 0" in out and f"stopped at {album['five']}" in out


def test_padded_rows_equal_unpadded_rows(model):
  """3 faces run padded to 4 rows. The real rows do not depend on the padding row (exact), and
  match an unpadded batch of 3 within XLA's batch-size noise (measured 4e-6, AMD EPYC)."""
  faces = photos.find_faces(_heads(3), model.config.model.image_size)
  crops = np.stack([f.image for f in faces])
  batch = model.recipe.predictors()["edit"].inputs(crops, emotion="happy")
  padded = model.predict("edit", batch)  # 3 rows padded to 4 (zeros)
  other = {k: np.concatenate([v, v[1:2] * 0.5]) for k, v in batch.items()}
  assert 4 in model.traced_batch_sizes["edit"]
  for key, value in model.predict("edit", other).items():
    np.testing.assert_array_equal(value[:3], padded[key])
  compute = model.recipe.predictors()["edit"].compute
  unpadded = jax.jit(lambda p, r, b: compute(nnx.merge(model.graphdef, p, r), b))(
      model.params, model.rest, batch)
  for key, value in unpadded.items():
    difference = float(np.max(np.abs(np.asarray(value) - padded[key])))
    print(f"{key}: padded vs unpadded max |difference| {difference:.2g}")
    assert difference < 1e-4, (key, difference)  # outputs in [-1, 1] / [0, 1]; uint8 step 8e-3


def test_every_face_of_a_group_photo_is_accounted_for(loads, tmp_path, capsys):
  """insightface's group photo: dlib's default search edits five of its six people and reports
  the sixth (turned away, score 0.21 < 0.3) as skipped; --thorough finds it; --faces picks."""
  from tests import real_photos  # pylint: disable=import-outside-toplevel
  photo = tmp_path / "group.png"
  _save(photo, real_photos.group_photo())
  assert edit.main([str(photo), f"--model={MODEL}", "--emotion=happy",
                    f"--out={tmp_path / 'a.png'}"]) == 0
  line = capsys.readouterr().out.strip()
  assert re.search(r"\(5 faces edited; skipped the face at x 9\d\d-10\d\d, y \d+-\d+: weak "
                   r"detection \(score 0\.\d\d < 0\.3\)", line), line
  assert edit.main([str(photo), f"--model={MODEL}", "--emotion=happy", "--thorough",
                    f"--out={tmp_path / 'b.png'}"]) == 0
  assert capsys.readouterr().out.strip().endswith("(6 faces edited)")
  assert edit.main([str(photo), f"--model={MODEL}", "--emotion=happy", "--faces=0,2",
                    f"--out={tmp_path / 'c.png'}"]) == 0
  line = capsys.readouterr().out
  assert "2 faces edited" in line and line.count("not chosen (faces=[0, 2])") == 3
  assert edit.main([str(photo), f"--model={MODEL}", "--emotion=happy", "--faces=7"]) == 1
  assert "no face 7; the photo has faces 0-4" in capsys.readouterr().err
