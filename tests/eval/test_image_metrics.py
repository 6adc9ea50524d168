"""SSIM / PSNR against scikit-image on fixed arrays."""

import numpy as np
from skimage.metrics import mean_squared_error
from skimage.metrics import peak_signal_noise_ratio
from skimage.metrics import structural_similarity

from fxs_jax.eval import image_metrics


def _pair(seed=0, size=32):
  rng = np.random.default_rng(seed)
  a = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
  b = np.clip(a + rng.normal(0, 0.2, a.shape), -1, 1).astype(np.float32)
  return a, b


def test_ssim_matches_scikit_image_gaussian_window():
  a, b = _pair()
  got = np.asarray(image_metrics.ssim(a, b))
  for i in range(2):
    want = structural_similarity((a[i] + 1) / 2, (b[i] + 1) / 2, channel_axis=-1, data_range=1.0,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_psnr_matches_scikit_image_on_unit_range():
  a, b = _pair(1)
  got = np.asarray(image_metrics.psnr(a, b))
  for i in range(2):
    want = peak_signal_noise_ratio((a[i] + 1) / 2, (b[i] + 1) / 2, data_range=1.0)
    np.testing.assert_allclose(got[i], want, rtol=1e-4)


def test_identical_images_give_ssim_1():
  a, _ = _pair(2)
  np.testing.assert_allclose(image_metrics.ssim(a, a), 1.0, atol=1e-5)


def test_region_boxes_cover_the_landmarks_and_stay_inside():
  lms = np.zeros((1, 68, 2), np.float32)
  lms[0, :, 0] = np.linspace(-5, 70, 68)  # some points outside a 64 px image
  lms[0, :, 1] = 30
  boxes = image_metrics.region_boxes(lms, 64)
  for y0, y1, x0, x1 in (boxes["eyes"][0], boxes["mouth"][0]):
    assert 0 <= y0 < y1 <= 64 and 0 <= x0 < x1 <= 64
  y0, y1, x0, x1 = boxes["mouth"][0]
  assert x0 <= np.floor(lms[0, 48:68, 0].min().clip(0)) and x1 == 64


def test_region_mse_matches_scikit_image_on_each_box_and_its_psnr():
  a, b = _pair(3)
  boxes = np.array([[4, 20, 6, 30], [10, 13, 0, 32]])  # (y0, y1, x0, x1); the second 3 px tall
  got = image_metrics.region_mse(a, b, boxes)
  for i, (y0, y1, x0, x1) in enumerate(boxes):
    crop_a, crop_b = (a[i, y0:y1, x0:x1] + 1) / 2, (b[i, y0:y1, x0:x1] + 1) / 2
    np.testing.assert_allclose(got[i], mean_squared_error(crop_a, crop_b), rtol=1e-6)
    np.testing.assert_allclose(image_metrics.psnr_of_mse(got[i]),
                               peak_signal_noise_ratio(crop_a, crop_b, data_range=1.0), rtol=1e-6)
  b_same_in_box = b.copy()
  b_same_in_box[0, 4:20, 6:30] = a[0, 4:20, 6:30]  # differs only outside the first box
  assert image_metrics.region_mse(a, b_same_in_box, boxes)[0] == 0.0
  assert image_metrics.psnr_of_mse(0.0) == np.inf
