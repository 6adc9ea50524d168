"""Keypoint images: hand-computed Gaussian / soft-line values, channel layout, gradients, NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fxs_jax.nn import keypoints

S = 32
JAW, BROWS, NOSE, EYES, LIPS = range(5)


def _only(points):
  """(1, 68, 2) landmarks: NaN (not rendered) except ``{index: (x, y)}``."""
  lms = np.full((1, 68, 2), np.nan, np.float32)
  for i, xy in points.items():
    lms[0, i] = xy
  return lms


def _face(rng, batch):
  """(batch, 68, 2) landmarks scattered over the image interior."""
  return rng.uniform(4.0, S - 5.0, (batch, 68, 2)).astype(np.float32)


def _spread(rng, batch):
  """(batch, 68, 2) landmarks, each part's in distinct cells of a 5 x 5 grid of 6 px pitch
  (jittered by up to 1 px): the Gaussians within a channel hardly overlap, so the max over them
  has few kinks (pixels where the arg-max switches) for a finite difference to step across."""
  cells = np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(25, 2) * 6.0 + 4.0
  lms = np.empty((batch, 68, 2), np.float32)
  for b in range(batch):
    for lo, hi in ((0, 17), (17, 27), (27, 36), (36, 48), (48, 68)):
      lms[b, lo:hi] = cells[rng.permutation(25)[:hi - lo]] + rng.uniform(-1, 1, (hi - lo, 2))
  return lms


def test_layout_and_unknown_kind():
  assert keypoints.KEYPOINT_KINDS == ("heatmaps", "contours")
  assert keypoints.num_channels("heatmaps") == keypoints.num_channels("contours") == 5
  for bad in (lambda: keypoints.num_channels("dots"),
              lambda: keypoints.render_keypoints(_only({}), S, kind="dots")):
    with pytest.raises(ValueError, match="heatmaps.*contours"):
      bad()


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_heatmap_of_an_integer_landmark(sigma):
  img = np.asarray(keypoints.render_keypoints(_only({30: (10.0, 12.0)}), S, "heatmaps", sigma))
  nose = img[0, :, :, NOSE]  # indexed [y, x]
  assert nose[12, 10] == pytest.approx(1.0, abs=1e-6)
  for y, x in ((12, 11), (12, 9), (11, 10), (13, 10)):
    assert nose[y, x] == pytest.approx(np.exp(-1 / (2 * sigma**2)), rel=1e-5)
  assert nose[13, 11] == pytest.approx(np.exp(-2 / (2 * sigma**2)), rel=1e-5)
  assert nose[12, 13] == pytest.approx(np.exp(-9 / (2 * sigma**2)), rel=1e-5)
  assert np.all(np.delete(img, NOSE, axis=-1) == 0.0)


def test_heatmap_argmax_is_the_rounded_position_in_the_landmarks_channel():
  # Sample i holds landmark i alone, at a random non-integer position.
  rng = np.random.default_rng(0)
  lms = np.full((68, 68, 2), np.nan, np.float32)
  xy = rng.uniform(0.0, S - 1.0, (68, 2)).astype(np.float32)
  lms[np.arange(68), np.arange(68)] = xy
  img = np.asarray(jax.jit(keypoints.render_keypoints, static_argnums=(1, 2))(lms, S, "heatmaps"))
  channel = [0] * 17 + [1] * 10 + [2] * 9 + [3] * 12 + [4] * 20
  for i in range(68):
    assert np.all(np.delete(img[i], channel[i], axis=-1) == 0.0)
    y, x = np.unravel_index(np.argmax(img[i, :, :, channel[i]]), (S, S))
    assert (x, y) == (np.round(xy[i, 0]), np.round(xy[i, 1]))


def test_heatmap_centroid_is_the_landmark():
  img = np.asarray(keypoints.render_keypoints(_only({8: (13.3, 17.8)}), S, "heatmaps", 1.5))
  jaw = img[0, :, :, JAW].astype(np.float64)
  ys, xs = np.mgrid[0:S, 0:S]
  assert np.sum(jaw * xs) / np.sum(jaw) == pytest.approx(13.3, abs=1e-3)
  assert np.sum(jaw * ys) / np.sum(jaw) == pytest.approx(17.8, abs=1e-3)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_contour_of_a_horizontal_segment(sigma):
  # Jaw 0 -> 1 from (4, 10) to (20, 10); 1 -> 2 is dropped (2 is NaN).
  img = np.asarray(keypoints.render_keypoints(_only({0: (4.0, 10.0), 1: (20.0, 10.0)}), S,
                                              "contours", sigma))
  jaw = img[0, :, :, JAW]
  for x in (4, 7, 12, 20):
    assert jaw[10, x] == pytest.approx(1.0, abs=1e-6)
  for d in (1, 2, 3):  # perpendicular from the middle (12, 10), above and below
    expected = np.exp(-d**2 / (2 * sigma**2))
    assert jaw[10 + d, 12] == pytest.approx(expected, rel=1e-5)
    assert jaw[10 - d, 12] == pytest.approx(expected, rel=1e-5)
  # Past the end the distance is to the end point: (23, 14) is 3-4-5 from (20, 10).
  assert jaw[14, 23] == pytest.approx(np.exp(-25 / (2 * sigma**2)), rel=1e-5)
  assert np.all(np.delete(img, JAW, axis=-1) == 0.0)


def test_closed_loops_are_closed_and_open_ones_are_not():
  # Left eye: 36 at (8, 16), 41 at (8, 24) -> the closing segment 41 -> 36 is the line x = 8;
  # 37..40 far right, so no other segment comes within 8 px of (8, 20).
  eye = {36: (8.0, 16.0), 37: (20.0, 10.0), 38: (26.0, 10.0), 39: (28.0, 20.0),
         40: (26.0, 28.0), 41: (8.0, 24.0)}
  # Jaw: 0 at (4, 4) and 16 at (4, 28); 1..15 on x = 28. A closing 16 -> 0 would be x = 4.
  jaw = {0: (4.0, 4.0), 16: (4.0, 28.0)}
  jaw.update({i: (28.0, 4.0 + 24.0 * (i - 1) / 14) for i in range(1, 16)})
  img = np.asarray(keypoints.render_keypoints(_only({**eye, **jaw}), S, "contours", 1.0))[0]
  assert img[20, 8, EYES] == pytest.approx(1.0, abs=1e-6)
  assert img[20, 5, EYES] == pytest.approx(np.exp(-4.5), rel=1e-4)
  assert img[16, 4, JAW] < 1e-12  # 12 px from the jaw's end segments
  assert img[16, 28, JAW] == pytest.approx(1.0, abs=1e-6)


def test_jit_batch_shapes_and_range():
  rng = np.random.default_rng(1)
  lms = _face(rng, 3)
  render = jax.jit(keypoints.render_keypoints, static_argnames=("size", "kind"))
  for kind in keypoints.KEYPOINT_KINDS:
    img = render(lms, size=S, kind=kind, sigma=1.2)
    assert img.shape == (3, S, S, keypoints.num_channels(kind)) and img.dtype == jnp.float32
    img = np.asarray(img)
    assert np.all(img >= 0.0) and np.all(img <= 1.0) and img.max() > 0.99
    # Batch elements are independent: rendering one alone gives the same image.
    np.testing.assert_allclose(np.asarray(render(lms[1:2], size=S, kind=kind, sigma=1.2)),
                               img[1:2], atol=1e-6)


@pytest.mark.parametrize("kind", keypoints.KEYPOINT_KINDS)
def test_gradient_is_finite_nonzero_and_matches_finite_differences(kind):
  rng = np.random.default_rng(2)
  lms = _spread(rng, 2)
  weight = rng.normal(size=(2, S, S, 5)).astype(np.float32)
  render = jax.jit(lambda l: keypoints.render_keypoints(l, S, kind, 1.5))
  grad = np.asarray(jax.grad(lambda l: jnp.sum(render(l) * weight))(lms))
  assert np.all(np.isfinite(grad)) and np.count_nonzero(grad) > 0.9 * grad.size
  h = 1e-3  # small enough to step across few kinks; diffs are summed in float64
  for b, i, c in ((0, 8, 0), (1, 40, 1), (1, 62, 0)):
    plus, minus = lms.copy(), lms.copy()
    plus[b, i, c] += h
    minus[b, i, c] -= h
    diff = np.asarray(render(plus), np.float64) - np.asarray(render(minus), np.float64)
    fd = np.sum(diff * weight) / (2 * h)
    assert grad[b, i, c] == pytest.approx(fd, rel=1e-2, abs=1e-3)


@pytest.mark.parametrize("kind", keypoints.KEYPOINT_KINDS)
def test_nan_landmarks_render_nothing_and_keep_gradients_finite(kind):
  rng = np.random.default_rng(3)
  lms = _face(rng, 3)
  lms[0] = np.nan  # no face found
  lms[1, 40] = np.nan  # one eye point missing
  render = lambda l: keypoints.render_keypoints(l, S, kind, 1.0)
  img = np.asarray(render(lms))
  assert np.all(np.isfinite(img))
  assert np.all(img[0] == 0.0)
  np.testing.assert_array_equal(img[2], np.asarray(render(lms[2:3]))[0])
  grad = np.asarray(jax.grad(lambda l: jnp.sum(render(l)))(lms))
  assert np.all(np.isfinite(grad))
  assert np.all(grad[0] == 0.0) and np.all(grad[1, 40] == 0.0)
  assert np.any(grad[1] != 0.0) and np.any(grad[2] != 0.0)
