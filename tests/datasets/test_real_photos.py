"""Every manual-dataset builder on real face photos (laid out by tests/real_photos.py): the
examples kept per split with their labels, the skip report, and a real face in every crop.

Framing is checked loosely on purpose (the jaw spans 0.3-1.0 of the crop side; the eyes level
when the build's framing preset levels them, else tilted as in the photo): the presets per
dataset are being retuned, and these tests are about real faces surviving each builder, not
where exactly they sit. ``FXS_JAX_REAL_PHOTO_GRIDS=<folder>`` also saves one PNG per case there,
photo | crop, to look at.
"""

import functools
import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image
from PIL import ImageDraw
import pytest

from fxs_jax import facs
from fxs_jax.data import builders
from fxs_jax.faces import framing
from fxs_jax.faces import preprocessing
from tests import real_photos
from tests.datasets.helpers import read_split

GRID_DIR = os.environ.get("FXS_JAX_REAL_PHOTO_GRIDS")
# case: (smoke config, its kind, the 64 px stills config dlib re-checks or None, layout)
CASES = {
    "rafd": ("rafd/smoke", "stills", "rafd/frontal_64", real_photos.rafd_layout),
    "ck_plus_stills": ("ck_plus/stills_smoke", "stills", "ck_plus/stills_64",
                       real_photos.ck_plus_layout),
    "ck_plus_sequences": ("ck_plus/sequences_smoke", "sequences", None,
                          real_photos.ck_plus_layout),
    "oulu_casia": ("oulu_casia/stills_smoke", "stills", "oulu_casia/stills_64",
                   real_photos.oulu_casia_layout),
    "mug": ("mug/stills_smoke", "stills", "mug/stills_64", real_photos.mug_layout),
    "au_faces": ("au_faces/smoke", "stills", "au_faces/stills_64", real_photos.au_faces_layout),
}
# dlib's HOG detector wants a face of ~80 px: a 32 px crop enlarged to 128 px scores ~0.2 on the
# astronaut and Tom Hanks (under the 0.3 threshold), a 64 px one 0.85-2.8 on every face.
CHECK_SIZE = 128


@pytest.fixture(scope="module")
def build(tmp_path_factory):
  """``build(case, config) -> (layout, builder)``: each layout written and each config built
  once per module."""
  layouts, built = {}, {}
  data_dir = tmp_path_factory.mktemp("tfds_real_photos")

  def get(case, name):
    make_layout = CASES[case][-1]
    if make_layout not in layouts:
      layouts[make_layout] = make_layout(tmp_path_factory.mktemp(f"{case}_manual"))
    layout = layouts[make_layout]
    if name not in built:
      built[name] = builders.prepare(name, str(data_dir), manual_dir=str(layout.manual_dir))
    return layout, built[name]

  return get


def _emotion(row) -> str | None:
  code = int(row["emotion"])
  return None if code < 0 else facs.EMOTIONS[code]  # -1: an unlabelled clip


def _matched(layout, kind, builder) -> list:
  """[(layout item, row)] of every kept row, paired by (split, identity, emotion), which names
  one item in each layout; asserts both sides hold the same keys."""
  items, _ = layout.expected(kind)
  want = {(item.split, item.identity, item.emotion): item for item in items}
  assert len(want) == len(items)
  rows = [((split, int(row["identity"]), _emotion(row)), row)
          for split in ("train", "validation", "test") for row in read_split(builder, split)]
  # The counts per split, the subjects and the labels, as the files say.
  assert sorted((key for key, _ in rows), key=str) == sorted(want, key=str)
  return [(want[key], row) for key, row in rows]


def _load(path: Path) -> np.ndarray:
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB"))


def _eye_angle(landmarks_68x2) -> float:
  """The eye line's angle in degrees (image y down; 0 = level)."""
  dx, dy = np.mean(landmarks_68x2[42:48], axis=0) - np.mean(landmarks_68x2[36:42], axis=0)
  assert dx > 0  # the right eye (42-47) on the right: not mirrored, not upside down
  return math.degrees(math.atan2(dy, dx))


@functools.cache
def _photo_eye_angle(path: Path) -> float:
  (points,) = real_photos.detect(_load(path))
  return _eye_angle(points)


def _eye_angle_wanted(builder, photo: Path) -> float:
  """0 when the build's framing rotates faces upright, else the photo's own (dlib's, measured on
  the photo): a similarity without rotation keeps angles."""
  preset = framing.get(builder.framing)
  levels = preset.kind == "eyes" or (preset.kind == "face_box" and preset.level_eyes)
  return 0.0 if levels else _photo_eye_angle(photo)


def _check_face(crop, landmarks_68x2, eye_angle: float) -> None:
  """A uint8 square crop of a photo with the face's 68 landmarks in it, the eye line at
  ``eye_angle`` degrees and a plausible face size."""
  side = crop.shape[0]
  assert crop.shape == (side, side, 3) and crop.dtype == np.uint8
  assert crop.std() > 20  # a photo, not a flat fill
  points = np.asarray(landmarks_68x2, np.float64)
  # A little margin: Tom Hanks' photo is a face crop whose dlib jaw runs 2 px past its left edge,
  # and a framing that keeps the whole photo keeps them there.
  assert np.all((points >= -0.5 - 0.05 * side) & (points <= side - 0.5 + 0.05 * side))
  assert abs(_eye_angle(points) - eye_angle) < 3
  assert 0.3 < real_photos.face_width(points) / side < 1.0  # loose: framing presets change


def _save_grid(path: Path, rows) -> None:
  """A PNG to look at: one row per list of images (photos, crops), each shown 128 px high
  (crops of 64 px or less enlarged without smoothing, so their pixels show)."""
  rows = [[Image.fromarray(np.asarray(image)).convert("RGB") for image in row] for row in rows]
  rows = [[image.resize((max(1, round(128 * image.width / image.height)), 128),
                        Image.NEAREST if image.height <= 64 else Image.BICUBIC)
           for image in row] for row in rows]
  width = max(sum(image.width + 8 for image in row) for row in rows)
  grid = Image.new("RGB", (width, 136 * len(rows)), "white")
  for y, row in enumerate(rows):
    x = 0
    for image in row:
      grid.paste(image, (x, 136 * y))
      x += image.width + 8
  Path(path).parent.mkdir(parents=True, exist_ok=True)
  grid.save(path)


@pytest.mark.parametrize("case", CASES)
def test_keeps_every_real_face_with_its_labels(build, case):
  name, kind, _, _ = CASES[case]
  layout, builder = build(case, name)
  pairs = _matched(layout, kind, builder)
  assert {item.split for item, _ in pairs} == {"train", "validation", "test"}
  for item, row in pairs:
    if kind == "sequences":  # the peak's AUs, ramping up from none
      aus = np.asarray(row["aus"])
      np.testing.assert_allclose(aus[-1], item.aus, rtol=1e-6)
      assert not aus[0].any() and np.all(np.diff(aus, axis=0) >= 0)
    else:
      np.testing.assert_allclose(row["aus"], item.aus, rtol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_skips_only_the_planted_files(build, case):
  name, kind, _, _ = CASES[case]
  layout, builder = build(case, name)
  items, planted = layout.expected(kind)
  report = json.loads((builder.data_path / "skipped.json").read_text())
  reasons = {item["file"]: item["reason"] for item in report["skipped"]}
  assert sorted(reasons) == sorted(planted)
  for file, start in planted.items():
    assert reasons[file].startswith(start), reasons[file]
  assert report["kept"] == len(items)


@pytest.mark.parametrize("case", CASES)
def test_each_smoke_crop_holds_the_face(build, case):
  name, kind, _, _ = CASES[case]
  layout, builder = build(case, name)
  grid = []
  for item, row in _matched(layout, kind, builder):
    crops = np.asarray(row["frames"]) if kind == "sequences" else np.asarray(row["image"])[None]
    points = np.asarray(row["landmarks"]).reshape(-1, 68, 2)
    assert crops.shape == (len(points), 32, 32, 3)
    photos = [layout.manual_dir / file for file in item.files]
    eye_angle = _eye_angle_wanted(builder, photos[0])  # a clip's frames differ in exposure only
    for crop, landmarks in zip(crops, points):
      _check_face(crop, landmarks, eye_angle)
    if case.startswith("ck_plus"):  # grey frames, 3 channels
      assert np.all(crops == crops[..., :1])
    if kind == "sequences":
      grid.append([_load(photos[0]), _load(photos[-1]), *crops])
  if GRID_DIR and grid:  # the stills' grids show the 64 px crops (the next test)
    _save_grid(Path(GRID_DIR) / f"{case}.png", grid)


def _found_again(crop, eye_angle: float) -> np.ndarray:
  """dlib's (F, 68, 2) landmarks of the faces in ``crop``, in crop pixels: found in the crop
  enlarged to CHECK_SIZE px (PIL bicubic) and turned upright by ``eye_angle`` degrees first, as
  dlib's frontal detector misses faces rolled ~30 degrees (t1_face0 / 1 in an axis-aligned
  crop: scores under 0.25; upright, 2)."""
  side = crop.shape[0]
  big = Image.fromarray(crop).resize((CHECK_SIZE, CHECK_SIZE), Image.BICUBIC)
  faces = preprocessing.shared_detector().detect(
      np.asarray(big.rotate(eye_angle, resample=Image.BICUBIC)))  # counter-clockwise on screen
  theta, centre = math.radians(eye_angle), (CHECK_SIZE - 1) / 2
  rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
  faces = (faces - centre) @ rotation.T + centre  # back to the crop's orientation (y down)
  return (faces + 0.5) * side / CHECK_SIZE - 0.5


def _drawn(crop, found, kept) -> np.ndarray:
  """The crop at CHECK_SIZE px with dlib's re-found landmarks (red) and the kept ones (green)."""
  image = Image.fromarray(crop).resize((CHECK_SIZE, CHECK_SIZE), Image.BICUBIC)
  draw, scale = ImageDraw.Draw(image), CHECK_SIZE / crop.shape[0]
  for points, colour in ((kept, (0, 255, 0)), (found, (255, 0, 0))):
    for x, y in (np.asarray(points) + 0.5) * scale:
      draw.rectangle((x - 1, y - 1, x + 1, y + 1), fill=colour)
  return np.asarray(image)


@pytest.mark.parametrize("case", [case for case in CASES if CASES[case][2]])
def test_dlib_finds_the_face_again_in_each_64px_crop(build, case):
  """An independent real-face check: dlib, run afresh on each crop, finds a face where the build
  put the landmarks (64 px crops: see CHECK_SIZE)."""
  _, _, name, _ = CASES[case]
  layout, builder = build(case, name)
  grid = []
  for item, row in _matched(layout, "stills", builder):  # the same faces as the smoke build
    crop, kept = np.asarray(row["image"]), np.asarray(row["landmarks"], np.float64)
    photo = layout.manual_dir / item.files[0]
    eye_angle = _eye_angle_wanted(builder, photo)
    _check_face(crop, kept, eye_angle)
    faces = _found_again(crop, eye_angle)
    assert len(faces) >= 1, item.files
    errors = [np.linalg.norm(face - kept, axis=1).mean() for face in faces]
    found = faces[int(np.argmin(errors))]
    assert min(errors) < 0.06 * crop.shape[0], (item.files, min(errors))
    assert abs(_eye_angle(found) - eye_angle) < 6
    grid.append([_load(photo), crop, _drawn(crop, found, kept)])
  if GRID_DIR:
    _save_grid(Path(GRID_DIR) / f"{case}.png", grid)
