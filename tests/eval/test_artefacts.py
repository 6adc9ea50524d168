"""Artefact measures on constructed images, against hand-computed values."""

import numpy as np
import pytest

from fxs_jax.eval import artefacts

S = 32


def _truth(seed=0):
  """A smooth random face-like image in [-1, 1]."""
  y, x = np.mgrid[0:S, 0:S] / S
  rng = np.random.default_rng(seed)
  base = np.stack([np.sin(2 * x + rng.uniform()) * np.cos(3 * y), x - y, x * y], -1)
  return np.clip(base, -1, 1)[None].repeat(2, axis=0)


def test_pure_checkerboard_scores_its_amplitude_and_smooth_errors_score_near_zero():
  truth = _truth()
  y, x = np.mgrid[0:S, 0:S]
  board = ((-1.0) ** (x + y))[None, ..., None]  # period 2 in x and y
  a = 0.05  # in 0-1 units: +-0.1 in [-1, 1]
  np.testing.assert_allclose(artefacts.checkerboard_rms(truth + 2 * a * board, truth), a,
                             rtol=1e-9)
  # Period 4 (two stride-2 up-samplings): a cosine of amplitude a has RMS a / sqrt(2).
  stripes = np.cos(2 * np.pi * x / 4)[None, ..., None]
  np.testing.assert_allclose(artefacts.checkerboard_rms(truth + 2 * a * stripes, truth),
                             a / np.sqrt(2), rtol=1e-9)
  smooth = 2 * a * np.sin(2 * np.pi * y / S)[None, ..., None]  # one slow wave, same amplitude
  assert artefacts.checkerboard_rms(truth + smooth, truth).max() < 1e-12
  brighter = artefacts.checkerboard_rms(truth + 0.2, truth)  # a uniform shift is no pattern
  assert brighter.max() < 1e-12
  assert np.all(artefacts.checkerboard_rms(truth, truth) == 0)


def test_hard_edged_paste_scores_a_seam_and_a_feathered_one_does_not():
  truth = _truth(1)
  box = np.array([[8, 16, 6, 22]] * 2)  # y0, y1, x0, x1
  c = 0.3  # the pasted crop is off by c (0-1 units) everywhere inside
  hard = truth.copy()
  hard[:, 8:16, 6:22] += 2 * c
  np.testing.assert_allclose(artefacts.seam_strength(hard, truth, box), c, rtol=1e-9)
  # Feathered: the offset ramps up over 4 px from each border (c/4 per step at the border,
  # c/4 between rows inside, where a seam measure does not look).
  y, x = np.mgrid[0:S, 0:S]
  dist = np.minimum.reduce([y - 8 + 1, 16 - y, x - 6 + 1, 22 - x]).astype(float)
  ramp = np.clip(dist / 4, 0, 1) * ((y >= 8) & (y < 16) & (x >= 6) & (x < 22))
  feathered = truth + 2 * c * ramp[None, ..., None]
  assert artefacts.seam_strength(feathered, truth, box).max() <= c / 4 + 1e-9
  assert np.all(artefacts.seam_strength(truth, truth, box) == 0)
  # A border on the image edge has no outside pixel: it is left out, not counted as 0.
  edge = np.array([[0, S, 0, S]] * 2)
  assert np.all(np.isnan(artefacts.seam_strength(hard, truth, edge)))


def test_colour_shift_is_the_tint_not_the_brightness():
  truth = _truth(2)
  box = np.array([[4, 20, 4, 20]] * 2)
  tint = truth + 2 * np.array([0.1, 0.0, 0.0])  # +0.1 red (0-1 units)
  # Mean offset (0.1, 0, 0) minus its grey part (1/30 each): |(2/30, -1/30, -1/30)|.
  np.testing.assert_allclose(artefacts.colour_shift(tint, truth, box),
                             np.sqrt(6) / 30, rtol=1e-9)
  np.testing.assert_allclose(artefacts.colour_shift(truth + 0.4, truth, box), 0, atol=1e-12)


def test_crop_boxes_are_lgpgans_windows():
  from fxs_jax.data import synth_faces  # pylint: disable=import-outside-toplevel
  _, lms = synth_faces.render(synth_faces.sample_identity(3), np.zeros(17), 64)
  boxes = artefacts.crop_boxes(lms[None], 64)
  for region, (h, w) in artefacts.default_crop_sizes(64).items():
    y0, y1, x0, x1 = boxes[region][0]
    assert (y1 - y0, x1 - x0) == (h, w)
    pts = lms[48:68] if region == "mouth" else lms[np.r_[17:27, 36:48]]
    centre = (pts.min(0) + pts.max(0)) / 2  # (x, y) of the landmarks' box
    assert abs((x0 + x1 - 1) / 2 - centre[0]) <= 1 and abs((y0 + y1 - 1) / 2 - centre[1]) <= 1
  with pytest.raises(ValueError):
    artefacts.upsampling_frequencies(30, levels=2)


def test_errors_where_the_truth_keeps_and_where_it_changes_the_input():
  truth = _truth(3)
  inp = truth.copy()
  inp[:, 4:8, 4:12] += 0.5  # the truth changes a 4x8 patch of the input (by 0.25 in 0-1 units)
  changed = artefacts.changed_pixels(inp, truth)
  assert changed.sum() == 2 * 32 and changed[:, 4:8, 4:12].all()
  # Copy-input: exact where kept, off by the whole change where changed.
  np.testing.assert_allclose(artefacts.error_inside(inp, truth, ~changed), 0.0, atol=1e-12)
  np.testing.assert_allclose(artefacts.error_inside(inp, truth, changed), 0.25, rtol=1e-9)
  # An edit that gets half of the change right, and leaks +0.1 (0.05 in 0-1 units) onto 32 of
  # the 992 kept pixels in one channel: 32 * 0.05 / 3 / 992 on average there.
  out = truth.copy()
  out[:, 4:8, 4:12] += 0.25
  out[:, 20:24, 4:12, 0] += 0.1
  np.testing.assert_allclose(artefacts.error_inside(out, truth, changed), 0.125, rtol=1e-9)
  np.testing.assert_allclose(artefacts.error_inside(out, truth, ~changed),
                             32 * 0.05 / 3 / 992, rtol=1e-9)
  # Differences within the threshold (5/255 levels) are not changes; an empty mask gives NaN.
  assert not artefacts.changed_pixels(truth + 0.03, truth).any()
  assert np.isnan(artefacts.error_inside(out, truth, np.zeros(changed.shape, bool))).all()
