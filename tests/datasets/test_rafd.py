"""RaFD's builder on its dummy tree: labels, subject-disjoint splits (train, validation, test),
skip report, rebuilds, and a GANimation / LGP-GAN `:smoke` train step on it."""

import json
import shutil

import numpy as np
import pytest

from configs import cgan_transfer as cgan_transfer_config
from configs import lgpgan as lgpgan_config
from fxs_jax import facs
from fxs_jax import run
from fxs_jax.data import builders
from fxs_jax.errors import DatasetError
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import SPLITS
from tests.datasets.helpers import read_split
from tests.datasets.helpers import read_splits
from tests.datasets.helpers import subjects

DUMMY = DATASETS / "rafd" / "dummy_data"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """``rafd/smoke`` built from the repository's dummy tree (read only)."""
  data_dir = tmp_path_factory.mktemp("tfds_rafd")
  return builders.prepare("rafd/smoke", str(data_dir), manual_dir=str(DUMMY)), data_dir


def test_counts_labels_and_shapes(built):
  builder, _ = built
  rows = read_splits(builder)
  # 4 models x 3 emotions at angle 090; the 045 photo belongs to another config, the corrupt
  # angry photo (model 2's) is skipped.
  assert [len(rows[split]) for split in SPLITS] == [6, 3, 3]
  for row in sum(rows.values(), []):
    assert row["image"].shape == (32, 32, 3) and row["image"].dtype == np.uint8
    assert row["landmarks"].shape == (68, 2) and row["landmarks"].dtype == np.float32
    assert np.all((row["landmarks"] > -0.5) & (row["landmarks"] < 31.5))
    emotion = facs.EMOTIONS[int(row["emotion"])]
    assert emotion in ("neutral", "happy", "sad")
    np.testing.assert_array_equal(row["aus"], facs.emotion_aus(emotion))  # EMFACS prototype
  # Sorted ids: the last 15% (>= 1) test, with or without validation; the 15% before them
  # (>= 1) validation, carved out of train.
  assert [subjects(rows[split]) for split in SPLITS] == [{1, 2}, {3}, {4}]


def test_corrupt_photo_is_in_the_skip_report(built):
  builder, _ = built
  report = json.loads((builder.data_path / "skipped.json").read_text())
  assert report["kept"] == 12
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


def _stills_by_subject_and_emotion(builder):
  return {(int(r["identity"]), facs.EMOTIONS[int(r["emotion"])]): r
          for split in SPLITS for r in read_split(builder, split)}


def test_transfer_triples_pair_subjects_within_a_split(built, tmp_path):
  """Each triple is (A's photo with e, B's neutral photo, B's photo with e), the same crops as
  the stills build, A != B and both in the triple's split (subjects 1-2 train, 3-4 test)."""
  stills, _ = built
  by_key = _stills_by_subject_and_emotion(stills)
  transfer = builders.prepare("rafd/transfer_smoke", str(tmp_path / "tfds"), manual_dir=str(DUMMY))
  seen = {}
  for split, subjects in (("train", {1, 2}), ("test", {3, 4})):
    rows = read_split(transfer, split)
    seen[split] = sorted((int(r["source_identity"]), facs.EMOTIONS[int(r["emotion"])],
                          int(r["identity"])) for r in rows)
    for row in rows:
      a, b = int(row["source_identity"]), int(row["identity"])
      emotion = facs.EMOTIONS[int(row["emotion"])]
      for prefix, key in (("source_", (a, emotion)), ("target_", (b, "neutral")), ("", (b, emotion))):
        np.testing.assert_array_equal(row[f"{prefix}image"], by_key[key]["image"])
        np.testing.assert_array_equal(row[f"{prefix}landmarks"], by_key[key]["landmarks"])
      np.testing.assert_array_equal(row["aus"], facs.emotion_aus(emotion))
  # Every non-neutral photo is a source (subject 2's angry photo is the corrupt one).
  assert seen == {"train": [(1, "happy", 2), (1, "sad", 2), (2, "happy", 1), (2, "sad", 1)],
                  "test": [(3, "happy", 4), (3, "sad", 4), (4, "happy", 3), (4, "sad", 3)]}


def test_transfer_split_without_pairs_is_one_line(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  for path in DUMMY.glob("Rafd090_0[123]_*.jpg"):  # half of 3 subjects test: train has 1 alone
    shutil.copy(path, manual)
  with pytest.raises(builders.DatasetError, match="no transfer triple in the train split") as info:
    builders.prepare("rafd/transfer_smoke", str(tmp_path / "tfds"), manual_dir=str(manual))
  assert "\n" not in str(info.value)


def test_cgan_transfer_smoke_step_trains_on_rafd_triples(tmp_path):
  """cGAN-P1's paper data: RaFD (and CK+, test_ck_plus.py) expression-transfer triples. The
  dummy tree's 4 models are too few for three transfer groups of two: validation is a one-line
  error with the counts and the fix, which the run then takes."""
  config = cgan_transfer_config.get_config("smoke")
  config.data.name = "rafd/transfer_smoke"
  config.data.data_dir = str(tmp_path / "tfds")
  config.data.manual_dir = str(DUMMY)
  assert config.data.eval_split == "validation"
  with pytest.raises(DatasetError, match="validation") as info:
    run.run(config, str(tmp_path / "workdir"), "train")
  assert "\n" not in str(info.value)
  config.data.eval_split = "test"
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()


def test_framing_is_stargans_by_default_and_a_config_picks_another(built):
  builder, data_dir = built
  default = read_split(builder, "train")
  report = json.loads((builder.data_path / "skipped.json").read_text())
  assert report["framing"] == "stargan_rafd"
  for row in default:  # StarGAN's box: axis-aligned, the jaw 0.7 of the crop side
    jaw = np.linalg.norm(row["landmarks"][16] - row["landmarks"][0])
    assert jaw == pytest.approx(0.7 * 32, rel=1e-4)
  other = builders.prepare("rafd/smoke", str(data_dir), manual_dir=str(DUMMY),
                           framing="synthfaces")
  assert other.data_path.parent.name == "smoke_synthfaces"  # built apart, the default kept
  rows = read_split(other, "train")
  assert [r["identity"] for r in rows] == [r["identity"] for r in default]
  for row in rows:  # SynthFaces' framing: the jaw about 0.54 of the crop (eyes on the template)
    jaw = np.linalg.norm(row["landmarks"][16] - row["landmarks"][0])
    assert 0.45 * 32 < jaw < 0.65 * 32
  with pytest.raises(builders.UserError, match="Unknown face framing 'tight'"):
    builders.prepare("rafd/smoke", str(data_dir), framing="tight")


def test_too_few_models_for_a_validation_group_is_one_line(tmp_path):
  """transfer_smoke on 4 models: test the last half (2), train the other 2, and no room for a
  validation group of two: built with train and test only; asking for validation names the
  dataset, the counts and the fix."""
  builder = builders.prepare("rafd/transfer_smoke", str(tmp_path / "tfds"), manual_dir=str(DUMMY))
  assert sorted(builder.info.splits) == ["test", "train"]
  with pytest.raises(DatasetError) as info:
    builder.as_data_source(split="validation")
  assert str(info.value) == (
      "rafd/transfer_smoke has no validation split: its 4 subjects (2 train, 2 test) are too few "
      "to carve validation subjects out of train (each split needs 2); evaluate on test with "
      "--config.data.eval_split=test, or add subjects to the download.")
  with pytest.raises(DatasetError) as through_sources:
    builders.data_sources("rafd/transfer_smoke", ("train", "validation"), str(tmp_path / "tfds"))
  assert str(through_sources.value) == str(info.value)


def test_transfer_validation_triples_pair_its_own_models(tmp_path):
  """8 models (the dummy's 4, and copies of them as 5-8): test the last half (5-8, with or
  without validation), validation 3-4 carved out of train, train 1-2; every triple's two models
  in its own split."""
  manual = tmp_path / "manual"
  manual.mkdir()
  for path in DUMMY.glob("Rafd090_0[1234]_*.jpg"):
    shutil.copy(path, manual)
    number = int(path.name[8:10])
    shutil.copy(path, manual / path.name.replace(f"_{number:02d}_", f"_{number + 4:02d}_"))
  transfer = builders.prepare("rafd/transfer_smoke", str(tmp_path / "tfds"), manual_dir=str(manual))
  rows = read_splits(transfer)
  expected = {"train": {1, 2}, "validation": {3, 4}, "test": {5, 6, 7, 8}}
  for split in SPLITS:
    assert rows[split], split
    for row in rows[split]:
      assert {int(row["source_identity"]), int(row["identity"])} <= expected[split]
  # models 3-4, emotions happy / sad each way (no corrupt photo among them)
  assert sorted((int(r["source_identity"]), int(r["identity"])) for r in rows["validation"]) == [
      (3, 4), (3, 4), (4, 3), (4, 3)]
