"""A user's image and landmark files: resizing, landmark scaling by hand, one-line errors."""

import numpy as np
import pytest
from PIL import Image

from fxs_jax.data import face_files
from fxs_jax.errors import UserError


def test_square_image_is_resized_and_landmarks_follow(tmp_path):
  image = np.zeros((64, 64, 3), np.uint8)
  image[:, 32:] = 255  # right half white
  Image.fromarray(image).save(tmp_path / "face.png")
  points = np.zeros((68, 2))
  points[0] = (31.5, 0.0)  # the edge between pixel centres 31 and 32; the top row's centre
  np.savetxt(tmp_path / "face.txt", points, delimiter=",", header="x, y")
  resized, lms = face_files.load_face(tmp_path / "face.png", tmp_path / "face.txt", 32)
  assert resized.shape == (32, 32, 3) and resized.dtype == np.uint8
  assert resized[:, 20:].min() == 255 and resized[:, :12].max() == 0
  # Pixel centres at integers: x' = (x + 0.5) * 32 / 64 - 0.5.
  np.testing.assert_allclose(lms[0], (15.5, -0.25))
  np.save(tmp_path / "face.npy", points)
  np.testing.assert_allclose(face_files.load_landmarks(tmp_path / "face.npy", 0.5), lms)
  assert face_files.load_face(tmp_path / "face.png", "", 64)[1] is None


def test_bad_files_are_explained_in_one_line(tmp_path):
  Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "tall.png")
  (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
  np.save(tmp_path / "five.npy", np.zeros((5, 2)))
  (tmp_path / "words.txt").write_text("left eye\n")
  cases = [(lambda: face_files.load_face_image(tmp_path / "missing.png", 32), "does not exist"),
           (lambda: face_files.load_face_image(tmp_path / "broken.png", 32), "Cannot read image"),
           (lambda: face_files.load_face_image(tmp_path / "tall.png", 32), "30x40 px"),
           (lambda: face_files.load_landmarks(tmp_path / "none.npy"), "does not exist"),
           (lambda: face_files.load_landmarks(tmp_path / "five.npy"), r"shape \(5, 2\)"),
           (lambda: face_files.load_landmarks(tmp_path / "words.txt"), "68 lines")]
  for call, match in cases:
    with pytest.raises(UserError, match=match) as info:
      call()
    assert "\n" not in str(info.value)
