"""LGP-GAN's region measures against hand-computed cases, scipy's Laplacian and scikit-image's
PSNR."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio

from fxs_jax.errors import UserError
from fxs_jax.eval import region_claim


def _faces(seed=0, b=3, size=24):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (b, size, size, 3))


BOXES = np.array([[2, 14, 3, 17], [0, 24, 0, 24], [10, 22, 5, 20]])


def test_truth_input_and_their_blend():
  truth, inp = _faces(0), _faces(1)
  exact = region_claim.box_measures(truth, truth, inp, BOXES)
  np.testing.assert_array_equal(exact["l1"], 0.0)
  assert np.all(np.isinf(exact["psnr"]))
  np.testing.assert_allclose(exact["sharpness"], 1.0)
  np.testing.assert_allclose(exact["ghost"], 0.0)
  copied = region_claim.box_measures(inp, truth, inp, BOXES)
  np.testing.assert_allclose(copied["ghost"], 1.0)
  blend = region_claim.box_measures(0.5 * (inp + truth), truth, inp, BOXES)
  np.testing.assert_allclose(blend["ghost"], 0.5)
  for i, (y0, y1, x0, x1) in enumerate(BOXES):
    unit = lambda a: (a[i, y0:y1, x0:x1] + 1) / 2  # noqa: E731
    np.testing.assert_allclose(blend["l1"][i],
                               0.5 * np.mean(np.abs(unit(inp) - unit(truth))), rtol=1e-12)
    np.testing.assert_allclose(
        blend["psnr"][i], peak_signal_noise_ratio(unit(truth), unit(0.5 * (inp + truth)),
                                                  data_range=1.0), rtol=1e-9)


def test_sharpness_against_scipy_laplacian():
  truth, inp = _faces(2), _faces(3)
  blurred = ndimage.uniform_filter(truth, size=(1, 3, 3, 1))
  measured = region_claim.box_measures(blurred, truth, inp, BOXES)["sharpness"]
  grey = np.array([0.299, 0.587, 0.114])
  for i, (y0, y1, x0, x1) in enumerate(BOXES):
    def lap_var(a):
      g = ((a[i, y0:y1, x0:x1] + 1) / 2) @ grey
      return ndimage.laplace(g)[1:-1, 1:-1].var()
    np.testing.assert_allclose(measured[i], lap_var(blurred) / lap_var(truth), rtol=1e-9)
  assert np.all(measured < 0.5)  # a 3x3 box blur of noise loses most of its detail


def test_ghost_is_nan_where_the_truth_keeps_the_box():
  truth = _faces(4)
  out = region_claim.box_measures(truth + 0.01, truth, truth, BOXES)
  assert np.all(np.isnan(out["ghost"]))


def test_deformation_largest_and_summary():
  a = np.zeros((2, 68, 2))
  b = a.copy()
  b[0, 48:68] += [3.0, 4.0]  # the mouth moves 5 px in example 0
  moved = region_claim.deformation(a, b)
  np.testing.assert_allclose(moved["mouth"], [5.0, 0.0])
  np.testing.assert_allclose(moved["eyes"], [0.0, 0.0])
  mask = region_claim.largest(np.array([1, 5, 3, 2, 4, 6]))
  np.testing.assert_array_equal(mask, [False, True, False, False, False, True])
  # PSNR of the mean MSE: boxes at MSE 0.01 and 0 -> 0.005 -> 23.01 dB.
  measures = {"l1": np.array([0.1, 0.0]), "psnr": np.array([20.0, np.inf]),
              "sharpness": np.array([0.5, 1.0]), "ghost": np.array([0.2, np.nan])}
  out = region_claim.summary(measures)
  np.testing.assert_allclose(out["psnr"], -10 * np.log10(0.005))
  np.testing.assert_allclose(out["ghost"], 0.2)
  np.testing.assert_allclose(out["sharpness"], np.sqrt(0.5))  # geometric mean of 0.5 and 1
  assert region_claim.summary(measures, np.array([False, True]))["psnr"] == np.inf


def test_bad_shapes_are_one_line_errors():
  with pytest.raises(UserError, match="alike"):
    region_claim.box_measures(_faces(0), _faces(1)[:2], _faces(2), BOXES)
  with pytest.raises(UserError, match="68, 2"):
    region_claim.deformation(np.zeros((2, 5, 2)), np.zeros((2, 5, 2)))
  with pytest.raises(UserError, match="fraction"):
    region_claim.largest(np.ones(3), 0.0)
