"""The bundled SynthFaces models: every one loads by name and does its job on held-out SynthFaces
faces (against their exact truth), and the README's snippet runs as written."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import fxs_jax
from fxs_jax import facs
from fxs_jax import inference
from fxs_jax.data import synth_faces_examples as examples_lib
from fxs_jax.errors import UserError

README = Path(__file__).resolve().parents[1] / "README.md"
EXPECTED = {"synthfaces/ganimation": "ganimation", "synthfaces/lgpgan": "lgpgan",
            "synthfaces/cgan_transfer": "cgan_transfer", "synthfaces/motiongan": "motiongan",
            "synthfaces/texturegan": "texturegan"}
TEST_IDS = range(300, 312)  # stills_64's held-out identities start at 300


@pytest.fixture(scope="module")
def held_out_pairs():
  """Neutral held-out faces, and for each the true face of every other emotion (exact truth)."""
  rows = []
  for identity in TEST_IDS:
    stills = examples_lib.identity_examples(examples_lib.Job("stills", 64, identity, 1, 16, None),
                                            encode=False)
    neutral = stills[0][1]
    rows += [(neutral, still) for _, still in stills[1:]]
  return {"image": np.stack([n["image"] for n, _ in rows]),
          "landmarks": np.stack([n["landmarks"] for n, _ in rows]),
          "truth": np.stack([t["image"] for _, t in rows]),
          "truth_landmarks": np.stack([t["landmarks"] for _, t in rows]),
          "aus": np.stack([t["aus"] for _, t in rows]),
          "emotion": np.array([t["emotion"] for _, t in rows])}


def test_every_bundled_model_is_there_small_and_loads_by_name():
  assert set(inference.bundled_names()) == set(EXPECTED)
  total = 0
  for name, model_name in EXPECTED.items():
    folder = inference.BUNDLED_DIR / name
    manifest = json.loads((folder / inference.MANIFEST).read_text())
    assert manifest["dtype"] == "float16" and manifest["command"].startswith("python -m fxs_jax")
    assert (folder / "eval.json").is_file()
    total += sum(p.stat().st_size for p in folder.iterdir())
    model = fxs_jax.load(name)
    assert model.config.model_name == model_name
  assert total < 40 * 2**20


def test_unknown_bundled_name_is_one_line():
  with pytest.raises(UserError, match="synthfaces/ganimation") as info:
    fxs_jax.load("synthfaces/stargan")
  assert "\n" not in str(info.value)


def _where_truth_changes(pairs, edited):
  """Mean absolute error (0-1) on the pixels the truth changes (> 8/255 from the input)."""
  changed = np.abs(pairs["truth"].astype(np.float32) - pairs["image"]).max(-1) > 8
  error = np.abs(edited.astype(np.float32) - pairs["truth"]).max(-1) / 255
  return float(error[changed].mean())


@pytest.mark.parametrize("name", ["synthfaces/ganimation", "synthfaces/lgpgan"])
def test_bundled_editors_move_held_out_faces_towards_the_exact_truth(name, held_out_pairs):
  pairs = held_out_pairs
  model = fxs_jax.load(name)
  if name.endswith("ganimation"):
    edited = model.edit(pairs["image"], aus=pairs["aus"])
  else:
    edited = model.edit(pairs["image"], emotion=pairs["emotion"], landmarks=pairs["landmarks"])
  assert edited.dtype == np.uint8 and edited.shape == pairs["image"].shape
  copy_error = _where_truth_changes(pairs, pairs["image"])
  assert _where_truth_changes(pairs, edited) < 0.95 * copy_error


def test_bundled_transfer_and_video_models_run_on_held_out_faces(held_out_pairs):
  pairs = held_out_pairs
  cgan = fxs_jax.load("synthfaces/cgan_transfer")
  # Transfer each held-out face's expression onto the next identity's neutral face.
  source, source_lms = pairs["truth"][:7], pairs["truth_landmarks"][:7]
  target, target_lms = pairs["image"][7:14], pairs["landmarks"][7:14]
  out = cgan.transfer(source, target, source_landmarks=source_lms, target_landmarks=target_lms)
  assert out.dtype == np.uint8 and out.shape == target.shape
  texture = fxs_jax.load("synthfaces/texturegan")  # its motion model: synthfaces/motiongan
  video = texture.animate(pairs["image"][0], emotion="happy", frames=6,
                          neutral_landmarks=pairs["landmarks"][0])
  assert video.frames.shape == (6, 64, 64, 3) and video.frames.dtype == np.uint8


def _readme_snippet() -> str:
  text = README.read_text()
  block = re.search(r"<!-- snippet: bundled -->\s*```python\n(.*?)```", text, re.S)
  assert block, "README.md lost its bundled-model snippet"
  return block.group(1)


def test_readme_snippet_runs_as_written(tmp_path, monkeypatch):
  pytest.importorskip("dlib")
  skimage_data = pytest.importorskip("skimage.data")
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(_readme_snippet(), "README.md snippet", "exec"), namespace)  # pylint: disable=exec-used
  photo = skimage_data.astronaut()
  for result in (namespace["happy"], namespace["smile"]):
    assert result.photo.shape == photo.shape and result.photo.dtype == np.uint8
    changed = np.abs(result.photo.astype(int) - photo).max(-1) > 0
    assert changed[60:220, 150:280].any()  # the face (about x 170-260, y 70-200) changed
    # Far from the face, the photo's own pixels: the lower half and the right third.
    assert not changed[300:].any() and not changed[:, 360:].any()
  for name in ("astronaut_happy.jpg", "astronaut_surprised.gif", "astronaut_surprised.mp4"):
    assert (tmp_path / name).stat().st_size > 0
