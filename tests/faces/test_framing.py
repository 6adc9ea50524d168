"""Face framing presets: their geometry from the landmarks, the mirrored fill outside the photo
against numpy's symmetric padding, the outside fraction by hand, and checks of shipped landmarks."""

import numpy as np
import pytest

from fxs_jax import faces
from fxs_jax.errors import UserError
from fxs_jax.faces import framing
from fxs_jax.faces import preprocessing


@pytest.fixture(scope="module")
def astronaut():
  data = pytest.importorskip("skimage.data", reason="needs scikit-image (the faces extra)")
  return data.astronaut()


@pytest.fixture(scope="module")
def landmarks(astronaut):
  (points,) = preprocessing.shared_detector().detect(astronaut)
  return points


def _rotated(image, landmarks, degrees):
  """The photo turned by ``degrees`` about its centre (nearest neighbour), and its landmarks."""
  h, w = image.shape[:2]
  theta = np.deg2rad(degrees)
  c, s = np.cos(theta), np.sin(theta)
  centre = np.array([(w - 1) / 2, (h - 1) / 2])
  ys, xs = np.mgrid[0:h, 0:w]
  src = np.stack([xs - centre[0], ys - centre[1]], -1) @ np.array([[c, s], [-s, c]]) + centre
  src = np.clip(np.rint(src).astype(int), 0, [w - 1, h - 1])
  turned = image[src[..., 1], src[..., 0]]
  points = (landmarks - centre) @ np.array([[c, s], [-s, c]]).T + centre
  return turned, points


def test_face_box_levels_the_eyes_and_spans_the_jaw(astronaut, landmarks):
  for degrees in (0, 12):
    image, points = _rotated(astronaut, landmarks, degrees)
    crop = faces.align(image, points, 64, framing="face_box")
    out = crop.landmarks.astype(np.float64)
    eye_line = out[42:48].mean(0) - out[36:42].mean(0)
    assert abs(np.degrees(np.arctan2(eye_line[1], eye_line[0]))) < 0.01
    assert np.linalg.norm(out[16] - out[0]) == pytest.approx(framing.FACE_BOX_JAW * 64, rel=1e-6)
    box_centre = (out.min(0) + out.max(0)) / 2
    np.testing.assert_allclose(box_centre, [31.5, framing.BOX_CENTRE_Y * 64 - 0.5], atol=1e-6)


def test_stargan_rafd_box_is_axis_aligned(astronaut, landmarks):
  image, points = _rotated(astronaut, landmarks, 10)
  crop = faces.align(image, points, 64, framing="stargan_rafd")
  a = crop.transform[:, :2]
  np.testing.assert_allclose(a, np.eye(2) * a[0, 0], atol=1e-12)  # scale only: no rotation
  out = crop.landmarks.astype(np.float64)
  assert np.linalg.norm(out[16] - out[0]) == pytest.approx(framing.STARGAN_RAFD_JAW * 64, rel=1e-6)


def test_face_crop_keeps_the_whole_photo(astronaut, landmarks):
  tight = astronaut[40:232, 130:322]  # a 192 px square face crop, as EmotioNet's
  points = landmarks - [130, 40]
  crop = faces.align(tight, points, 64, framing="face_crop")
  np.testing.assert_allclose(crop.transform, [[1 / 3, 0, -1 / 3], [0, 1 / 3, -1 / 3]],
                             atol=1e-12)  # x_crop = (x + 0.5) / 3 - 0.5
  assert framing.outside_fraction(crop.transform, tight.shape, 64) == 0.0
  # Each crop pixel is the mean of a 3x3 block (the box filter before shrinking).
  blocks = tight.reshape(64, 3, 64, 3, 3).mean(axis=(1, 3))
  np.testing.assert_allclose(crop.image, np.rint(blocks), atol=1)
  wide = astronaut[40:232, 40:400]  # not square: the square around the face
  crop = faces.align(wide, landmarks - [40, 40], 64, framing="face_crop")
  assert framing.outside_fraction(crop.transform, wide.shape, 64) == 0.0
  assert crop.transform[0, 0] == pytest.approx(64 / 192)


def test_outside_the_photo_is_mirrored_not_stretched():
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
  # A 40 px crop at scale 1, no rotation, whose window starts 7 px left of and 5 px above the
  # photo: landmarks are not needed to state the transform, so sample through the module.
  from fxs_jax.faces import alignment  # pylint: disable=import-outside-toplevel
  ys, xs = np.mgrid[0:40, 0:40].astype(np.float64)
  sampled = alignment._sample(photo, xs - 7, ys - 5, step=1.0, fill="reflect")  # pylint: disable=protected-access
  padded = np.pad(photo, ((5, 15), (7, 3), (0, 0)), mode="symmetric")
  np.testing.assert_array_equal(sampled, padded[:40, :40].astype(np.float32))
  edge = alignment._sample(photo, xs - 7, ys - 5, step=1.0, fill="edge")  # pylint: disable=protected-access
  np.testing.assert_array_equal(edge, np.pad(photo, ((5, 15), (7, 3), (0, 0)), mode="edge")
                                [:40, :40].astype(np.float32))
  # By hand: 7 of 40 columns and 5 of 40 rows lie left of / above the photo, and 3 columns
  # right of it (the crop's columns 37-39) and 15 rows below (25-39).
  transform = np.array([[1.0, 0.0, 7.0], [0.0, 1.0, 5.0]])
  inside = (30 / 40) * (20 / 40)
  assert framing.outside_fraction(transform, photo.shape, 40) == pytest.approx(1 - inside)


def test_unknown_framing_and_fill_are_one_line_errors(astronaut, landmarks):
  with pytest.raises(UserError, match="Unknown face framing 'tight'.*face_crop"):
    faces.align(astronaut, landmarks, 64, framing="tight")
  with pytest.raises(UserError, match="fill must be"):
    faces.align(astronaut, landmarks, 64, fill="zeros")


def test_small_photos_are_skipped_per_framing(astronaut, landmarks):
  tight = astronaut[40:232, 130:322]
  skip = faces.preprocess(tight, 512, landmarks=landmarks - [130, 40], framing="face_crop")
  assert isinstance(skip, faces.Skip) and skip.reason.startswith("photo too small (192 px <")
  ok = faces.preprocess(tight, 128, landmarks=landmarks - [130, 40], framing="face_crop")
  assert ok.image.shape == (128, 128, 3)


def test_shipped_landmarks_checked_against_the_face(astronaut, landmarks):
  points, note = preprocessing.checked_landmarks(astronaut, landmarks + 2.0)
  np.testing.assert_array_equal(points, landmarks + 2.0)
  assert not note  # a few pixels off: the dataset's own are kept
  shifted = landmarks + [0, 250]  # on the astronaut's suit: off the face, inside the photo
  points, note = preprocessing.checked_landmarks(astronaut, shifted)
  assert note == "shipped landmarks lie off the face dlib finds; re-detected with dlib"
  np.testing.assert_allclose(points, landmarks, atol=1e-4)
  points, note = preprocessing.checked_landmarks(astronaut, landmarks + [400, 0])
  assert "outside the photo" in note
  blank = np.full_like(astronaut, 128)
  points, reason = preprocessing.checked_landmarks(blank, landmarks + [400, 0])
  assert points is None and reason.endswith("dlib finds no face to use instead")
  points, note = preprocessing.checked_landmarks(blank, landmarks)  # dlib misses; inside: kept
  assert note == "" and points is not None


def test_prepare_command_takes_a_framing(tmp_path, astronaut, landmarks):
  from PIL import Image  # pylint: disable=import-outside-toplevel
  from fxs_jax.faces import prepare  # pylint: disable=import-outside-toplevel
  photos = tmp_path / "photos"
  photos.mkdir()
  Image.fromarray(np.ascontiguousarray(astronaut[40:232, 130:322])).save(photos / "crop.png")
  assert prepare.main([str(photos), str(tmp_path / "out"), "--size=64",
                       "--framing=face_crop"]) == 0
  transform = np.load(tmp_path / "out" / "crop.png.transform.npy")
  np.testing.assert_allclose(transform, [[1 / 3, 0, -1 / 3], [0, 1 / 3, -1 / 3]], atol=1e-12)


def test_a_face_filling_its_crop_is_found_with_a_border(monkeypatch, astronaut, landmarks):
  tight = np.ascontiguousarray(astronaut[60:220, 145:305])  # a face filling the frame
  calls = []
  detector = preprocessing.shared_detector()

  class FirstLookFails:  # what dlib does on tilted faces in tight crops (score ~0.1)
    def detect(self, image):
      calls.append(image.shape)
      return detector.detect(image) if len(calls) > 1 else np.zeros((0, 68, 2), np.float32)

  crop = faces.preprocess(tight, 64, detector=FirstLookFails(), framing="face_crop")
  assert calls == [(160, 160, 3), (240, 240, 3)]  # again with a quarter of the side added
  np.testing.assert_allclose(crop.landmarks, (landmarks - [145, 60] + 0.5) * 0.4 - 0.5, atol=3)
