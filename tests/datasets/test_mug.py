"""MUG's builder on its dummy tree (dlib crops per frame, first half of each take)."""

import pytest

from fxs_jax.data import builders
from tests.datasets.helpers import check_clip_dataset


def test_builds_splits_skips_and_rebuilds(tmp_path):
  check_clip_dataset(tmp_path, "mug", "subjects3/002/surprise/take000/img_0002.jpg",
                     "subjects3/002/surprise/take000",
                     ("subjects3/001/happiness/take000", "subjects3/003/fear/take000"))


def test_missing_manual_dir_is_one_line(tmp_path):
  with pytest.raises(builders.DatasetError, match="does not exist.*subjects3/") as info:
    builders.prepare("mug/sequences_smoke", str(tmp_path / "tfds"),
                     manual_dir=str(tmp_path / "nowhere"))
  assert "\n" not in str(info.value)
