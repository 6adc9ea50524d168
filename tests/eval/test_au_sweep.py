"""The single-AU sweep against a hand-built editor and reader whose answers are known exactly."""

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.eval import au_sweep

AU12 = facs.AU_NAMES.index("AU12")


def _editor(images, aus):
  """Brightens the red channel by 10 levels per unit of requested AU12 (0-5): AU12 only."""
  out = images.astype(np.int16)
  out[..., 0] += np.round(10 * aus[:, AU12])[:, None, None].astype(np.int16)
  return np.clip(out, 0, 255).astype(np.uint8)


def _reader(images):
  """Reads AU12 back as (red - 100) / 10, every other AU as 0."""
  out = np.zeros((len(images), facs.NUM_AUS))
  out[:, AU12] = (images[..., 0].astype(np.float64).mean(axis=(1, 2)) - 100) / 10
  return out


def test_sweep_reads_back_what_a_faithful_editor_renders():
  faces = np.full((3, 4, 4, 3), 100, np.uint8)
  rows, edits = au_sweep.sweep(_editor, _reader, faces, np.zeros((3, 17)), aus=("AU01", "AU12"))
  by = {(r["au"], r["intensity"]): r for r in rows}
  for intensity in au_sweep.INTENSITIES:
    r = by["AU12", intensity]
    assert r["requested"] == pytest.approx(5 * intensity)
    # The editor rounds to whole levels: 1.65 AU -> 16.5 -> 16 levels (numpy's half to even).
    assert r["read"] == pytest.approx(np.round(50 * intensity) / 10)
    assert r["mean_abs_change"] == pytest.approx(np.round(50 * intensity) / 3)  # 1 of 3 channels
    assert r["changed_fraction"] == (1.0 if np.round(50 * intensity) > 8 else 0.0)
    assert by["AU01", intensity]["mean_abs_change"] == 0.0  # the editor ignores AU01
  assert edits["AU12"].shape == (4, 3, 4, 4, 3)
  summary = au_sweep.summary(rows)
  assert summary["max_mean_abs_change_at_0"] == 0.0 and summary["max_changed_fraction_at_0"] == 0.0
  # AU01 is read 0 against requests 1.65 / 3.3 / 5; AU12 within rounding: mean of the two.
  assert summary["au_error_at_1"] == pytest.approx((5.0 + 0.0) / 2)
  assert summary["au_error_at_0.33"] == pytest.approx((1.65 + abs(1.6 - 1.65)) / 2)


def test_targets_set_one_au_and_keep_the_others():
  source = np.arange(2 * 17, dtype=np.float32).reshape(2, 17) / 10
  out = au_sweep.targets(source, "AU12", 0.66)
  np.testing.assert_array_equal(np.delete(out, AU12, axis=1), np.delete(source, AU12, axis=1))
  np.testing.assert_allclose(out[:, AU12], 3.3)


def test_bad_requests_are_one_line():
  faces = np.zeros((1, 4, 4, 3), np.uint8)
  with pytest.raises(UserError, match="Not AUs: 'AU99'"):
    au_sweep.sweep(_editor, _reader, faces, np.zeros((1, 17)), aus=("AU99",))
  with pytest.raises(UserError, match="intensity must be a fraction"):
    au_sweep.targets(np.zeros((1, 17)), "AU12", 1.5)
  with pytest.raises(UserError, match=r"source_aus must be \(1, 17\)"):
    au_sweep.sweep(_editor, _reader, faces, np.zeros((1, 16)))
