"""fxs_jax.faces.masks and paste_back's mask= / change_from=: the hull against scipy's, the mask
against a rasterised polygon and its Euclidean distance transform, pasting that leaves every
pixel outside the mask untouched."""

import numpy as np
import pytest
from scipy import ndimage
from scipy import spatial

from fxs_jax import faces
from fxs_jax.data import synth_faces
from fxs_jax.faces import masks

SIZE = 64


@pytest.fixture(scope="module")
def landmarks():
  return synth_faces.render(synth_faces.sample_identity(3), np.zeros(17), SIZE)[1].astype(float)


def test_convex_hull_matches_scipy(landmarks):
  hull = masks.convex_hull(landmarks)
  expected = landmarks[spatial.ConvexHull(landmarks).vertices]
  assert {tuple(p) for p in np.round(hull, 5)} == {tuple(p) for p in np.round(expected, 5)}
  # Counter-clockwise in (x, y): positive shoelace area.
  x, y = hull[:, 0], hull[:, 1]
  area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
  assert area == pytest.approx(spatial.ConvexHull(landmarks).volume)


def test_face_mask_one_inside_zero_beyond_the_margin(landmarks):
  skimage_draw = pytest.importorskip("skimage.draw", reason="needs scikit-image")
  margin = 0.1
  mask = faces.face_mask(landmarks, SIZE, margin)
  assert mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
  hull = masks.convex_hull(landmarks)
  inside = np.zeros((SIZE, SIZE), bool)
  inside[skimage_draw.polygon(hull[:, 1], hull[:, 0], (SIZE, SIZE))] = True
  # Pixels a pixel or more inside the hull are 1; more than the margin (+1 px of
  # rasterisation) outside it are 0; in between the weight falls with the distance.
  deep = ndimage.binary_erosion(inside)
  np.testing.assert_array_equal(mask[deep], 1.0)
  outside_distance = ndimage.distance_transform_edt(~inside)
  np.testing.assert_array_equal(mask[outside_distance > margin * SIZE + 1], 0.0)
  ring = (outside_distance > 1) & (outside_distance < margin * SIZE - 1)
  assert 0 < mask[ring].min() and mask[ring].max() < 1
  order = np.argsort(outside_distance[ring])
  assert np.corrcoef(outside_distance[ring][order], mask[ring][order])[0, 1] < -0.9
  hard = faces.face_mask(landmarks, SIZE, margin=0.0)
  assert set(np.unique(hard)) == {0.0, 1.0}


def test_paste_back_with_mask_and_change_from():
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 200, (150, 170, 3), dtype=np.uint8)  # noise: detail finer than a crop
  face_landmarks = synth_faces.render(synth_faces.sample_identity(5), np.zeros(17), 100)[1]
  aligned = faces.align(photo, face_landmarks + [30.0, 20.0], SIZE)  # 100 px face -> 64 px crop
  mask = faces.face_mask(aligned.landmarks, SIZE)
  brighter = aligned.image + np.uint8(20)  # <= 219, no wrap-around
  # A zero mask leaves the photo as it is; so does pasting back the crop's own change (none).
  zero = np.zeros((SIZE, SIZE), np.float32)
  np.testing.assert_array_equal(faces.paste_back(photo, aligned, brighter, mask=zero), photo)
  np.testing.assert_array_equal(
      faces.paste_back(photo, aligned, aligned.image, mask=mask, change_from=aligned.image), photo)
  # change_from: the change, +20, is added to the photo's own pixels (its noise kept) where the
  # mask is 1 (around the nose); pasting the crop itself gives the crop's blur of the noise.
  nose_x, nose_y = np.rint(face_landmarks[30] + [30.0, 20.0]).astype(int)
  patch = (slice(nose_y - 3, nose_y + 4), slice(nose_x - 3, nose_x + 4))
  out = faces.paste_back(photo, aligned, brighter, mask=mask, change_from=aligned.image)
  np.testing.assert_array_equal(out[patch], photo[patch] + np.uint8(20))
  pasted = faces.paste_back(photo, aligned, brighter, mask=mask)
  assert np.abs(pasted[patch].astype(int) - photo[patch] - 20).mean() > 10
  # The mask only removes changes: nothing changes that the square paste left alone.
  unmasked = faces.paste_back(photo, aligned, brighter)
  changed, changed_unmasked = np.any(out != photo, -1), np.any(unmasked != photo, -1)
  assert not np.any(changed & ~changed_unmasked) and changed.sum() < 0.8 * changed_unmasked.sum()
