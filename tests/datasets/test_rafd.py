"""RaFD's builder on its dummy tree: labels, subject-disjoint splits, skip report, rebuilds, and a
GANimation / LGP-GAN `:smoke` train step on it."""

import json
import shutil

import numpy as np
import pytest

from configs import lgpgan as lgpgan_config
from fxs_jax import facs
from fxs_jax import run
from fxs_jax.data import builders
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import read_split

DUMMY = DATASETS / "rafd" / "dummy_data"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """``rafd/smoke`` built from the repository's dummy tree (read only)."""
  data_dir = tmp_path_factory.mktemp("tfds_rafd")
  return builders.prepare("rafd/smoke", str(data_dir), manual_dir=str(DUMMY)), data_dir


def test_counts_labels_and_shapes(built):
  builder, _ = built
  rows = {split: read_split(builder, split) for split in ("train", "test")}
  # 3 models x 3 emotions at angle 090; the 045 photo belongs to another config, the corrupt
  # angry photo is skipped.
  assert len(rows["train"]) + len(rows["test"]) == 9
  for row in rows["train"] + rows["test"]:
    assert row["image"].shape == (32, 32, 3) and row["image"].dtype == np.uint8
    assert row["landmarks"].shape == (68, 2) and row["landmarks"].dtype == np.float32
    assert np.all((row["landmarks"] > -0.5) & (row["landmarks"] < 31.5))
    emotion = facs.EMOTIONS[int(row["emotion"])]
    assert emotion in ("neutral", "happy", "sad")
    np.testing.assert_array_equal(row["aus"], facs.emotion_aus(emotion))  # EMFACS prototype
  train_ids = {int(r["identity"]) for r in rows["train"]}
  test_ids = {int(r["identity"]) for r in rows["test"]}
  assert train_ids == {1, 2} and test_ids == {3}  # sorted ids, the last 15% (>= 1) test


def test_corrupt_photo_is_in_the_skip_report(built):
  builder, _ = built
  report = json.loads((builder.data_path / "skipped.json").read_text())
  assert report["kept"] == 9
  assert [item["file"] for item in report["skipped"]] == [
      "Rafd090_02_Caucasian_female_angry_frontal.jpg"]
  assert report["skipped"][0]["reason"].startswith("unreadable")
  assert "Rafd090_02_Caucasian_female_angry_frontal.jpg" in (
      builder.data_path / "skipped.txt").read_text()


def test_missing_or_wrong_manual_dir_is_one_line(tmp_path):
  with pytest.raises(builders.DatasetError, match="Rafd090_01_Caucasian") as info:
    builders.prepare("rafd/smoke", str(tmp_path / "tfds"), manual_dir=str(tmp_path / "nowhere"))
  assert "\n" not in str(info.value) and "nowhere" in str(info.value)
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "notes.txt").write_text("not RaFD")
  with pytest.raises(builders.DatasetError, match="no Rafd.*jpg files") as info:
    builders.prepare("rafd/smoke", str(tmp_path / "tfds"), manual_dir=str(tmp_path / "empty"))
  assert "\n" not in str(info.value)


def test_a_split_without_usable_faces_is_one_line(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  for path in DUMMY.glob("Rafd090_0[12]_*.jpg"):
    shutil.copy(path, manual)
  shutil.copy(DUMMY / "Rafd090_02_Caucasian_female_angry_frontal.jpg",  # the corrupt one
              manual / "Rafd090_03_Caucasian_female_angry_frontal.jpg")
  with pytest.raises(builders.DatasetError, match="no test example has a usable face") as info:
    builders.prepare("rafd/smoke", str(tmp_path / "tfds"), manual_dir=str(manual))
  assert "\n" not in str(info.value)


def test_rebuild_picks_up_added_files(tmp_path, dummy_copy):
  manual = dummy_copy("rafd")
  data_dir = str(tmp_path / "tfds")
  builder = builders.prepare("rafd/smoke", data_dir, manual_dir=str(manual))
  assert len(builder.as_data_source(split="train")) == 6
  # Unchanged download: the build is reused (no manual_dir needed: the build remembers it).
  assert builders.prepare("rafd/smoke", data_dir).data_path == builder.data_path
  shutil.copy(manual / "Rafd090_01_Caucasian_female_happy_frontal.jpg",
              manual / "Rafd090_01_Caucasian_female_surprised_frontal.jpg")
  before = sorted(p.name for p in manual.iterdir())
  rebuilt = builders.prepare("rafd/smoke", data_dir)
  assert len(rebuilt.as_data_source(split="train")) == 7
  assert sorted(p.name for p in manual.iterdir()) == before  # the download is never written


def test_lgpgan_smoke_step_trains_on_rafd(built, tmp_path):
  """LGP-GAN's paper data (GANimation's, EmotioNet-style AU faces: test_au_faces.py)."""
  _, data_dir = built
  config = lgpgan_config.get_config("smoke")
  config.data.name = "rafd/smoke"
  config.data.data_dir = str(data_dir)
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()
