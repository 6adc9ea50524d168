"""fxs_jax.faces on scikit-image's astronaut photo: detection against hand-read landmarks, the
SynthFaces template, the crop geometry, pasting back, skip reasons and the prepare command."""

import copy
import hashlib
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fxs_jax import faces
from fxs_jax.data import synth_faces
from fxs_jax.faces import prepare
from fxs_jax.faces.alignment import EYE_LANDMARKS
from fxs_jax.faces.alignment import EYE_TEMPLATE
from fxs_jax.faces.alignment import fit_similarity

SIZE = 128

# Landmarks of skimage.data.astronaut() read by eye, not from the detector: 20x (eyes, nose) and
# 12x (mouth) nearest-neighbour zooms of the photo with a line through every 5th pixel centre,
# the point placed where the upper and lower eyelids meet (36, 45), on the nose tip's highlight
# above the nostrils (30), where the upper and lower lips meet (48, 54). (x, y), centres at ints.
HAND_READ_POINTS = {
    36: (192.0, 100.0),  # outer corner of the image-left eye
    45: (258.0, 102.0),  # outer corner of the image-right eye
    30: (224.0, 126.0),  # nose tip
    48: (203.0, 140.0),  # image-left mouth corner
    54: (245.0, 140.0),  # image-right mouth corner
}


@pytest.fixture(scope="module")
def astronaut():
  data = pytest.importorskip("skimage.data", reason="needs scikit-image (the faces extra)")
  return data.astronaut()


@pytest.fixture(scope="module")
def detector():
  pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
  return faces.FaceDetector()


@pytest.fixture(scope="module")
def astronaut_landmarks(detector, astronaut):
  return detector.detect(astronaut)


@pytest.fixture(scope="module")
def aligned(astronaut, astronaut_landmarks):
  return faces.align(astronaut, astronaut_landmarks[0], SIZE)


def test_astronaut_one_face_near_hand_read_landmarks(astronaut_landmarks):
  assert astronaut_landmarks.shape == (1, 68, 2) and astronaut_landmarks.dtype == np.float32
  for index, hand_read in HAND_READ_POINTS.items():
    # Measured 1.0-3.6 px: dlib puts the eye corners ~3 px inside the lid junction.
    distance = np.linalg.norm(astronaut_landmarks[0, index] - hand_read)
    assert distance < 5.0, (index, astronaut_landmarks[0, index], hand_read)


def test_default_threshold_ignores_the_mission_patch(detector, astronaut):
  buffer = io.BytesIO()
  Image.fromarray(astronaut).save(buffer, "JPEG", quality=90)
  jpeg = np.asarray(Image.open(buffer))
  assert detector.detect(jpeg).shape == (1, 68, 2)
  dlib_default = copy.copy(detector)  # shares the loaded models
  dlib_default.threshold = 0.0
  patch_too = dlib_default.detect(jpeg)
  assert patch_too.shape == (2, 68, 2) and patch_too[1, :, 1].mean() > 300  # below the face


def test_template_is_synthfaces_mean_neutral_eyes():
  landmarks_Nx68x2 = np.stack([
      synth_faces.landmarks(synth_faces.sample_identity(seed), np.zeros(17), SIZE)
      for seed in range(1000, 1050)])  # other identities than the 0-199 the constant came from
  mean_fractions = (landmarks_Nx68x2.mean(0)[list(EYE_LANDMARKS)] + 0.5) / SIZE
  mirror = [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # iBUG left <-> right eye points
  mirrored = (landmarks_Nx68x2.mean(0)[mirror] + 0.5) / SIZE * [-1, 1] + [1, 0]
  np.testing.assert_allclose(EYE_TEMPLATE, (mean_fractions + mirrored) / 2, atol=0.01)
  np.testing.assert_allclose(EYE_TEMPLATE, mean_fractions, atol=0.01)


def test_aligned_eyes_on_template_and_rotation_does_not_change_the_crop(
    detector, astronaut, aligned):
  template_px = EYE_TEMPLATE * SIZE - 0.5
  eye_error = np.linalg.norm(aligned.landmarks[list(EYE_LANDMARKS)] - template_px, axis=1)
  assert eye_error.max() < 2.0  # measured mean 1.3, max 1.5 (least-squares residual)
  assert aligned.image.shape == (SIZE, SIZE, 3) and aligned.image.dtype == np.uint8
  assert aligned.photo_shape == (512, 512)
  # PIL rotates counter-clockwise on screen about the image centre.
  rotated = np.asarray(Image.fromarray(astronaut).rotate(15, resample=Image.BILINEAR))
  rotated_aligned = faces.align(rotated, detector.detect(rotated)[0], SIZE)
  error = np.linalg.norm(rotated_aligned.landmarks - aligned.landmarks, axis=1)
  assert error.mean() < 1.5 and error.max() < 3.0  # measured 0.7 and 1.7 px
  # The crop undoes the rotation: y points down, so counter-clockwise on screen is -15 degrees.
  assert _angle(rotated_aligned.transform) - _angle(aligned.transform) == pytest.approx(15, abs=1)


def _angle(transform_2x3):
  """Rotation angle of a similarity transform, in degrees."""
  return np.degrees(np.arctan2(transform_2x3[1, 0], transform_2x3[0, 0]))


def test_transform_is_a_similarity_mapping_photo_to_crop_landmarks(astronaut_landmarks, aligned):
  transform = aligned.transform
  assert transform.shape == (2, 3) and transform.dtype == np.float64
  singular_values = np.linalg.svd(transform[:, :2], compute_uv=False)
  assert singular_values[0] == pytest.approx(singular_values[1], rel=1e-9)
  assert np.linalg.det(transform[:, :2]) > 0  # no reflection
  photo = astronaut_landmarks[0].astype(np.float64)
  by_hand = np.stack([transform[0, 0] * photo[:, 0] + transform[0, 1] * photo[:, 1]
                      + transform[0, 2],
                      transform[1, 0] * photo[:, 0] + transform[1, 1] * photo[:, 1]
                      + transform[1, 2]], axis=1)
  np.testing.assert_allclose(aligned.landmarks, by_hand, atol=1e-3)
  # The same least-squares similarity as scikit-image's (Umeyama) estimate.
  transform_module = pytest.importorskip("skimage.transform")
  src, dst = photo[list(EYE_LANDMARKS)], EYE_TEMPLATE * SIZE - 0.5
  if hasattr(transform_module.SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
    expected = transform_module.SimilarityTransform.from_estimate(src, dst).params
  else:
    expected = transform_module.SimilarityTransform()
    expected.estimate(src, dst)
    expected = expected.params
  np.testing.assert_allclose(transform, expected[:2], atol=1e-9)
  np.testing.assert_allclose(fit_similarity(src, dst), expected[:2], atol=1e-9)


def _footprint(aligned, shape):
  """Photo pixels whose centre lies inside the crop's square (computed here, from the matrix)."""
  ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
  t = aligned.transform
  crop_xs = t[0, 0] * xs + t[0, 1] * ys + t[0, 2]
  crop_ys = t[1, 0] * xs + t[1, 1] * ys + t[1, 2]
  return (crop_xs > -0.5) & (crop_xs < SIZE - 0.5) & (crop_ys > -0.5) & (crop_ys < SIZE - 0.5)


def test_paste_back_round_trip_and_constant_colour(astronaut, astronaut_landmarks, aligned):
  footprint = _footprint(aligned, astronaut.shape)
  back = faces.paste_back(astronaut, aligned, aligned.image)
  assert back.shape == astronaut.shape and back.dtype == np.uint8
  np.testing.assert_array_equal(back[~footprint], astronaut[~footprint])
  (x0, y0), (x1, y1) = astronaut_landmarks[0].min(0).astype(int), astronaut_landmarks[0].max(0)
  face_error = np.abs(back.astype(int) - astronaut)[y0:int(y1), x0:int(x1)].mean()
  assert face_error < 6.0  # measured 3.9 grey levels (down- then up-sampled by 0.75x)
  green = np.zeros_like(aligned.image)
  green[..., 1] = 255
  painted = faces.paste_back(astronaut, aligned, green)
  np.testing.assert_array_equal(painted[~footprint], astronaut[~footprint])
  nose_x, nose_y = np.rint(astronaut_landmarks[0, 30]).astype(int)
  assert painted[nose_y, nose_x].tolist() == [0, 255, 0]
  is_green = np.all(painted == [0, 255, 0], axis=-1)
  ys, xs = np.nonzero(is_green)
  # Fully green inside the feathered border: around the face, nowhere else.
  assert abs(xs.mean() - astronaut_landmarks[0, :, 0].mean()) < 10
  assert abs(ys.mean() - astronaut_landmarks[0, :, 1].mean()) < 15
  assert is_green.sum() > 0.5 * footprint.sum()


def test_load_image_converts_to_rgb_and_never_raises(tmp_path, astronaut):
  Image.fromarray(astronaut).convert("L").save(tmp_path / "grey.png")
  Image.fromarray(astronaut).convert("RGBA").save(tmp_path / "rgba.png")
  for name in ("grey.png", "rgba.png"):
    image = faces.load_image(tmp_path / name)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
  exif = Image.Exif()
  exif[0x0112] = 6  # EXIF orientation: stored sideways, shown rotated 90 degrees clockwise
  Image.fromarray(astronaut[:, :300]).save(tmp_path / "phone.jpg", exif=exif)
  assert faces.load_image(tmp_path / "phone.jpg").shape == (300, 512, 3)
  (tmp_path / "junk.png").write_bytes(b"not an image")
  skip = faces.load_image(tmp_path / "junk.png")
  assert isinstance(skip, faces.Skip) and skip.reason.startswith("unreadable: junk.png: ")


def _truncated_jpeg(image) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, "JPEG")
  return buffer.getvalue()[:len(buffer.getvalue()) // 2]


def test_preprocess_skip_reasons(tmp_path, detector, astronaut):
  head = astronaut[:300, 90:360]  # two heads without the suit's patch (a weak false detection)
  tiny = np.asarray(Image.fromarray(astronaut).resize((170, 170), Image.BILINEAR))
  (tmp_path / "broken.jpg").write_bytes(_truncated_jpeg(astronaut))
  cases = {  # reason pattern: image
      r"no face found": np.full((256, 256, 3), 128, np.uint8),
      r"2 faces found \(expected one\)": np.concatenate([head, head], axis=1),
      r"face too small \(3\d px < 48 px\)": tiny,  # 93 px face / 3; 48 = 3/8 of 128
      r"unreadable: broken\.jpg: the file is truncated or damaged; copy it again":
          tmp_path / "broken.jpg",
  }
  for pattern, image in cases.items():
    result = faces.preprocess(image, detector=detector)
    assert isinstance(result, faces.Skip), pattern
    assert re.fullmatch(pattern, result.reason) and "\n" not in result.reason, result.reason
  largest = faces.preprocess(np.concatenate([head, head], axis=1), detector=detector,
                             multiple="largest")
  assert isinstance(largest, faces.AlignedFace)
  assert isinstance(faces.preprocess(tiny, detector=detector, min_face=20), faces.AlignedFace)


def _digest(folder):
  """Every file's bytes and mtime, every folder's name: equal digests = nothing changed."""
  return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                             p.stat().st_mtime_ns) if p.is_file() else "folder"
          for p in sorted(folder.rglob("*"))}


def test_prepare_command_end_to_end(tmp_path, capsys, detector, astronaut):
  del detector  # only skips the test without dlib; the command loads its own
  photos, out = tmp_path / "photos", tmp_path / "crops"
  (photos / "sub").mkdir(parents=True)
  Image.fromarray(astronaut).save(photos / "astronaut.png")
  # A JPEG copy at 384 px: at dlib's own threshold (0) the suit's mission patch is a 2nd face.
  Image.fromarray(astronaut).resize((384, 384), Image.BILINEAR).save(photos / "sub" / "Small.JPG")
  (photos / "broken.jpg").write_bytes(_truncated_jpeg(astronaut))
  Image.new("RGB", (300, 200), "grey").save(photos / "blank.bmp")
  (photos / "notes.txt").write_text("not an image")
  before = _digest(photos)

  assert prepare.main([str(photos), str(out)]) == 0
  assert capsys.readouterr().out.startswith(
      "kept 2 of 4 images, skipped 2 (no face found: 1, unreadable: 1); report: ")
  report = json.loads((out / "report.json").read_text())
  assert report["counts"] == {"images": 4, "kept": 2, "skipped": 2,
                              "skip_reasons": {"no face found": 1, "unreadable": 1}}
  status = {item["path"]: item for item in report["images"]}
  assert status["blank.bmp"]["reason"] == "no face found"
  assert status["broken.jpg"]["reason"].startswith("unreadable: broken.jpg: ")
  for kept in ("astronaut.png", "sub/Small.JPG"):
    assert status[kept]["status"] == "kept"
    assert np.asarray(Image.open(out / f"{kept}.png")).shape == (SIZE, SIZE, 3)
    landmarks = np.load(out / f"{kept}.landmarks.npy")
    assert landmarks.shape == (68, 2) and landmarks.dtype == np.float32
    assert np.load(out / f"{kept}.transform.npy").shape == (2, 3)
  assert not (out / "broken.jpg.png").exists()
  text = (out / "report.txt").read_text()
  assert all(path in text for path in status) and "no face found" in text
  # Same crop framing at both scales.
  small, full = (np.load(out / f"{p}.landmarks.npy") for p in ("sub/Small.JPG", "astronaut.png"))
  assert np.abs(small - full).mean() < 1.5

  assert prepare.main([str(photos), str(out)]) == 0  # re-running overwrites its own outputs
  capsys.readouterr()
  assert prepare.main([str(photos), str(photos / "crops")]) == 1
  error = capsys.readouterr().err
  assert "overlaps the input folder" in error and error.count("\n") == 1
  assert _digest(photos) == before  # nothing in the input folder written, moved or deleted


def test_prepare_missing_folder_is_one_line_error(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "fxs_jax.faces.prepare", str(tmp_path / "nope"),
                         str(tmp_path / "out")], capture_output=True, text=True, check=False)
  assert proc.returncode == 1 and proc.stdout == ""
  assert proc.stderr.startswith("error: input folder ") and proc.stderr.count("\n") == 1
  assert not (tmp_path / "out").exists()
