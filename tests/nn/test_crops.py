"""Landmark-located region crops: exact paste-back, hand-computed windows, any landmark set."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fxs_jax.nn import crops

H = W = 32


def _ramp(batch=1):
  """image[b, y, x, c] = 1000 y + x + 0.1 c + 10000 b: every pixel tells where it came from."""
  b, y, x, c = np.meshgrid(np.arange(batch), np.arange(H), np.arange(W), np.arange(3),
                           indexing="ij")
  return (10000 * b + 1000 * y + x + 0.1 * c).astype(np.float32)


def _landmarks_with_box(x0, x1, y0, y1, region):
  """68 landmarks (x, y) all at the image centre except ``region``'s, spread over the box."""
  lms = np.full((68, 2), 16.0, np.float32)
  idx = crops.REGION_LANDMARKS[region]
  lms[idx] = np.stack([np.linspace(x0, x1, len(idx)), np.linspace(y1, y0, len(idx))], -1)
  return lms


def test_paste_of_crop_is_bitwise_identity():
  rng = np.random.default_rng(0)
  image = rng.normal(size=(5, H, W, 3)).astype(np.float32)
  offsets = np.stack([rng.integers(0, H - 8 + 1, 5), rng.integers(0, W - 12 + 1, 5)], -1)
  patch = crops.crop(image, jnp.asarray(offsets, jnp.int32), (8, 12))
  assert patch.shape == (5, 8, 12, 3)
  np.testing.assert_array_equal(np.asarray(crops.paste(image, patch, offsets)), image)


def test_crop_of_a_ramp_is_the_hand_computed_window():
  # Eyes box x in [6, 26], y in [9, 15]: centre (16, 12). An 8 x 16 crop: top = 12 - 4 = 8,
  # left = 16 - 8 = 8. Mouth box x in [11, 20], y in [21, 26]: centre (15.5, 23.5), 8 x 12
  # crop: top = round(19.5) = 20 (half to even), left = round(9.5) = 10.
  lms = _landmarks_with_box(6, 26, 9, 15, "eyes")
  lms[crops.REGION_LANDMARKS["mouth"]] = _landmarks_with_box(11, 20, 21, 26, "mouth")[
      crops.REGION_LANDMARKS["mouth"]]
  image = _ramp()
  for region, size, (top, left) in (("eyes", (8, 16), (8, 8)), ("mouth", (8, 12), (20, 10))):
    offsets = crops.region_offsets(jnp.asarray(lms[None]), region, size, (H, W))
    np.testing.assert_array_equal(offsets, [[top, left]])
    patch = np.asarray(crops.crop(image, offsets, size))[0]
    np.testing.assert_array_equal(patch, image[0, top:top + size[0], left:left + size[1]])
    assert patch[0, 0, 0] == 1000 * top + left  # the ramp's own reading of the corner


@pytest.mark.parametrize("centre,expected", [
    ((-5.0, -7.0), (0, 0)),  # beyond the top-left corner
    ((31.5, 31.9), (H - 8, W - 16)),  # at the bottom-right border
    ((1e30, -1e30), (0, W - 16)),  # far out: x right, y above
    ((np.inf, np.nan), (12, 8)),  # non-finite -> the image centre (16 - 4, 16 - 8)
])
def test_offsets_stay_inside_for_any_centre(centre, expected):
  offsets = np.asarray(crops.crop_offsets(jnp.asarray([centre], jnp.float32), (8, 16), (H, W)))
  np.testing.assert_array_equal(offsets, [expected])


def test_crops_keep_their_size_for_nan_and_border_landmarks():
  rng = np.random.default_rng(1)
  lms = rng.uniform(-40, 70, (6, 68, 2)).astype(np.float32)
  lms[0] = np.nan
  lms[1, 40] = np.nan  # one eye point missing: the whole eye box is unknown
  lms[2] = 31.9
  lms[3] = -1e9
  image = _ramp(6)
  for region, size in (("eyes", (8, 16)), ("mouth", (8, 12))):
    offsets = np.asarray(crops.region_offsets(jnp.asarray(lms), region, size, (H, W)))
    assert offsets.dtype == np.int32
    assert np.all(offsets >= 0)
    assert np.all(offsets[:, 0] <= H - size[0]) and np.all(offsets[:, 1] <= W - size[1])
    patch = np.asarray(crops.crop(image, offsets, size))
    assert patch.shape == (6, *size, 3)
    for b, (top, left) in enumerate(offsets):
      np.testing.assert_array_equal(patch[b], image[b, top:top + size[0], left:left + size[1]])
  # NaN landmarks -> the image-centre window.
  offsets = np.asarray(crops.region_offsets(jnp.asarray(lms), "eyes", (8, 16), (H, W)))
  np.testing.assert_array_equal(offsets[0], [12, 8])
  np.testing.assert_array_equal(offsets[1], [12, 8])


def test_gradients_flow_through_pixels_of_crop_and_paste():
  image = jnp.asarray(_ramp())
  offsets = jnp.asarray([[3, 5]], jnp.int32)
  weights = jnp.asarray(np.random.default_rng(2).normal(size=(1, 8, 12, 3)), jnp.float32)
  grad = jax.grad(lambda x: jnp.sum(crops.crop(x, offsets, (8, 12)) * weights))(image)
  expected = np.zeros(image.shape, np.float32)
  expected[0, 3:11, 5:17] = weights[0]
  np.testing.assert_array_equal(grad, expected)
  # Paste: the patch's gradient is the window of the upstream gradient, the image's is zero
  # inside the window.
  patch = jnp.zeros((1, 8, 12, 3))
  g_img, g_patch = jax.grad(lambda x, p: jnp.sum(crops.paste(x, p, offsets) * image),
                            argnums=(0, 1))(image, patch)
  np.testing.assert_array_equal(g_patch, image[:, 3:11, 5:17])
  assert float(jnp.abs(g_img[:, 3:11, 5:17]).max()) == 0.0
  np.testing.assert_array_equal(g_img[:, :3], image[:, :3])


def test_feather_weights_are_the_hand_computed_ramp():
  w = crops.feather_weights((4, 6), 2)[..., 0]
  # (d + 0.5) / 2 at distance d from the nearest border: 0.25, 0.75, then 1.
  np.testing.assert_allclose(w[0], [0.25] * 6)
  np.testing.assert_allclose(w[1], [0.25, 0.75, 0.75, 0.75, 0.75, 0.25])
  np.testing.assert_allclose(w[:, 2], [0.25, 0.75, 0.75, 0.25])
  assert np.all(crops.feather_weights((4, 6), 0) == 1)
  with pytest.raises(ValueError, match="feather 3"):
    crops.feather_weights((4, 6), 3)


def test_feathered_paste_blends_towards_the_image_at_the_border_only():
  from fxs_jax.eval import artefacts
  image = np.zeros((1, H, W, 3), np.float32)
  patch = np.full((1, 8, 12, 3), 0.6, np.float32)
  offsets = jnp.array([[10, 6]], jnp.int32)
  hard = np.asarray(crops.paste(jnp.asarray(image), jnp.asarray(patch), offsets))
  soft = np.asarray(crops.paste(jnp.asarray(image), jnp.asarray(patch), offsets, feather=3))
  # Inside the feather the patch is untouched; at the border it is (0.5 / 3) of the way in.
  np.testing.assert_allclose(soft[0, 14, 12], 0.6)
  np.testing.assert_allclose(soft[0, 10, 12], 0.6 / 6, rtol=1e-6)
  np.testing.assert_array_equal(soft[0, :10], 0)  # outside the window: the image's pixels
  box = np.array([[10, 18, 6, 18]])
  hard_seam = artefacts.seam_strength(hard, image, box)
  soft_seam = artefacts.seam_strength(soft, image, box)
  np.testing.assert_allclose(hard_seam, 0.3)  # 0.6 in [-1, 1] is 0.3 in 0-1 units
  assert soft_seam[0] < hard_seam[0] / 5
