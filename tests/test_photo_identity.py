"""Asking a bundled model for no change leaves a real photo exactly as it was: an edit to the
face's own (start) condition, intensity 0, animation frame 0 and a face transferred onto itself
paste nothing (max abs difference 0), while a real edit still changes the face; the old
behaviour (``relative_to="input"``) pastes the model's whole rendering."""

import numpy as np
import pytest

import fxs_jax
from fxs_jax import facs
from fxs_jax.errors import UserError

pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")


@pytest.fixture(scope="module")
def astronaut():
  return skimage_data.astronaut()


def _face_change(edited, photo):
  """Mean absolute change (grey levels) inside the astronaut's face (x 170-260, y 70-200)."""
  return np.abs(np.asarray(edited, int)[70:200, 170:260] - photo[70:200, 170:260]).mean()


@pytest.mark.parametrize("name,target", [
    ("synthfaces/ganimation", {"aus": np.zeros(facs.NUM_AUS, np.float32)}),
    ("synthfaces/lgpgan", {"emotion": "neutral"}),
])
def test_an_edit_to_the_start_returns_the_photo_bit_for_bit(astronaut, name, target):
  model = fxs_jax.load(name)
  same = model.edit_photo(astronaut, **target)  # the default start: no AUs / neutral
  np.testing.assert_array_equal(same.photo, astronaut)
  zero = model.edit_photo(astronaut, emotion="happy", intensity=0.0, start="sad")
  np.testing.assert_array_equal(zero.photo, astronaut)
  happy = model.edit_photo(astronaut, emotion="happy")
  assert _face_change(happy.photo, astronaut) > 0.5  # a real edit still shows
  video = model.animate_photo(astronaut, emotion="happy", frames=3, max_side=None)
  np.testing.assert_array_equal(video.frames[0], astronaut)
  assert np.any(video.frames[-1] != astronaut)


def test_the_old_behaviour_pastes_the_models_whole_rendering(astronaut):
  model = fxs_jax.load("synthfaces/ganimation")
  zeros = np.zeros(facs.NUM_AUS, np.float32)
  rendered = model.edit_photo(astronaut, aus=zeros, relative_to="input")
  assert _face_change(rendered.photo, astronaut) > 1.0  # a face it has never seen, re-drawn
  with pytest.raises(UserError, match="relative_to must be one of"):
    model.edit_photo(astronaut, aus=zeros, relative_to="face")


def test_a_face_transferred_onto_itself_is_the_photo(astronaut):
  model = fxs_jax.load("synthfaces/cgan_transfer")
  np.testing.assert_array_equal(model.transfer_photo(astronaut, astronaut).photo, astronaut)


def test_texturegan_frame_zero_is_the_photo(astronaut):
  model = fxs_jax.load("synthfaces/texturegan")
  video = model.animate_photo(astronaut, emotion="happy", frames=3, max_side=None)
  np.testing.assert_array_equal(video.frames[0], astronaut)
  assert np.any(video.frames[-1] != astronaut)
