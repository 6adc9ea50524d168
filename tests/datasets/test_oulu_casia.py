"""Oulu-CASIA's builder on its dummy tree (dlib crops per frame)."""

import pytest

from fxs_jax.data import builders
from tests.datasets.helpers import check_clip_dataset

ROOT = "OriginalImg/VL/Strong"


def test_builds_splits_skips_and_rebuilds(tmp_path):
  check_clip_dataset(tmp_path, "oulu_casia", f"{ROOT}/P002/Surprise/001.jpeg",
                     f"{ROOT}/P002/Surprise", (f"{ROOT}/P001/Happiness", f"{ROOT}/P003/Fear"))


def test_wrong_layout_is_one_line(tmp_path):
  (tmp_path / "manual" / "OriginalImg" / "NI").mkdir(parents=True)
  with pytest.raises(builders.DatasetError, match="VL/Strong is missing.*P001") as info:
    builders.prepare("oulu_casia/sequences_smoke", str(tmp_path / "tfds"),
                     manual_dir=str(tmp_path / "manual"))
  assert "\n" not in str(info.value)
