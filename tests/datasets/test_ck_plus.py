"""CK+'s builder on its dummy tree: stills and sequences, FACS / emotion parsing, skips, rebuilds,
and MotionGAN / TextureGAN `:smoke` train steps on its sequences."""

import json
import shutil

import numpy as np
import pytest

from configs import cgan_transfer as cgan_transfer_config
from configs import motiongan as motiongan_config
from configs import texturegan as texturegan_config
from fxs_jax import facs
from fxs_jax import run
from fxs_jax.data import builders
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import read_split

DUMMY = DATASETS / "ck_plus" / "dummy_data"
CK = "ck_plus/stills_smoke"
EMOTION = facs.EMOTIONS.index


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_ck_plus")
  for config in ("stills_smoke", "sequences_smoke", "transfer_smoke"):
    builders.prepare(f"ck_plus/{config}", str(data_dir), manual_dir=str(DUMMY))
  return data_dir


def _built(data_dir, config):
  return builders.prepare(f"ck_plus/{config}", str(data_dir))


def test_stills_are_first_and_peak_frames(data_dir):
  builder = _built(data_dir, "stills_smoke")
  train, test = read_split(builder, "train"), read_split(builder, "test")
  labels = sorted((int(r["identity"]), int(r["emotion"])) for r in train + test)
  # S011/002's peak frame is corrupt (its first frame is kept); S010/002 has no Emotion file.
  assert labels == sorted([(5, 0), (5, EMOTION("surprised")), (6, 0), (6, EMOTION("surprised")),
                           (10, 0), (10, EMOTION("happy")),
                           (11, 0), (11, EMOTION("disgusted")), (11, 0), (11, 0),
                           (11, EMOTION("fearful")),
                           (12, 0), (12, EMOTION("disgusted")), (12, 0), (12, EMOTION("happy"))])
  assert {int(r["identity"]) for r in train} == {5, 6, 10, 11}
  assert {int(r["identity"]) for r in test} == {12}
  surprised = next(r for r in train if int(r["emotion"]) == EMOTION("surprised"))
  aus = dict(zip(facs.AU_NAMES, surprised["aus"]))
  # FACS file: AU1 intensity 0 (unspecified -> 3), AU2/5/25/26 at 4, AU24 (not in the 17) dropped.
  assert aus["AU01"] == 3.0 and aus["AU02"] == aus["AU26"] == 4.0
  assert sum(v > 0 for v in aus.values()) == 5
  for row in train + test:
    assert row["image"].shape == (32, 32, 3) and row["image"].dtype == np.uint8
    assert np.all(row["image"][..., 0] == row["image"][..., 1])  # grey frames, 3 channels
    if int(row["emotion"]) == 0:
      assert not row["aus"].any()


def test_sequences_ramp_to_the_peak(data_dir):
  builder = _built(data_dir, "sequences_smoke")
  train, test = read_split(builder, "train"), read_split(builder, "test")
  assert len(train) == 5 and len(test) == 2  # S011/002 dropped (corrupt peak frame)
  for row in train + test:
    assert np.asarray(row["frames"]).shape == (8, 32, 32, 3)
    assert row["landmarks"].shape == (8, 68, 2) and row["aus"].shape == (8, 17)
    assert not row["aus"][0].any() and row["aus"][-1].max() >= 3.0
    assert np.all(np.diff(row["aus"], axis=0) >= 0)


def test_skip_report_names_the_corrupt_frame_and_unlabelled_sequence(data_dir):
  builder = _built(data_dir, "sequences_smoke")
  skipped = json.loads((builder.data_path / "skipped.json").read_text())["skipped"]
  files = {item["file"]: item["reason"] for item in skipped}
  assert files["cohn-kanade-images/S011/002/S011_002_00000005.png"].startswith("unreadable")
  assert "no Emotion label" in files["cohn-kanade-images/S010/002"]
  assert "S011_002_00000005.png" in files["cohn-kanade-images/S011/002"]


def test_wrong_layout_names_the_missing_tree(tmp_path, dummy_copy):
  manual = dummy_copy("ck_plus")
  shutil.rmtree(manual / "FACS")
  with pytest.raises(builders.DatasetError, match=r"FACS is missing.*cohn-kanade-images/") as e:
    builders.prepare(CK, str(tmp_path / "tfds"), manual_dir=str(manual))
  assert "\n" not in str(e.value)


def test_rebuild_picks_up_an_added_sequence(tmp_path, dummy_copy):
  manual = dummy_copy("ck_plus")
  data_dir = str(tmp_path / "tfds")
  assert len(builders.prepare(CK, data_dir, manual_dir=str(manual))
             .as_data_source(split="train")) == 11
  # S010/002 gets its Emotion file: its first and peak frames join the train split.
  label = manual / "Emotion" / "S010" / "002" / "S010_002_00000005_emotion.txt"
  label.parent.mkdir(parents=True, exist_ok=True)  # git keeps no empty folder
  label.write_text("   6.0000000e+00\n")
  assert len(builders.prepare(CK, data_dir).as_data_source(split="train")) == 13


@pytest.mark.parametrize("config_module", [motiongan_config, texturegan_config],
                         ids=["motiongan", "texturegan"])
def test_smoke_step_trains_on_ck_plus_sequences(data_dir, tmp_path, config_module):
  config = config_module.get_config("smoke")
  config.data.name = "ck_plus/sequences_smoke"
  config.data.data_dir = str(data_dir)
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()


def test_frame_without_landmark_file_falls_back_to_dlib(tmp_path, dummy_copy):
  manual = dummy_copy("ck_plus")
  (manual / "Landmarks" / "S010" / "001" / "S010_001_00000001_landmarks.txt").unlink()
  shipped = builders.prepare(CK, str(tmp_path / "shipped"), manual_dir=str(DUMMY))
  detected = builders.prepare(CK, str(tmp_path / "detected"), manual_dir=str(manual))
  # Train rows: S005 first, S005 peak, S006 first, S006 peak, S010 first, S010 peak, ...
  want, got = read_split(shipped, "train")[4], read_split(detected, "train")[4]
  assert int(got["identity"]) == 10 and int(got["emotion"]) == 0
  # dlib's landmarks of the SynthFaces face are within a few pixels of the exact ones.
  assert np.abs(got["landmarks"] - want["landmarks"]).mean() < 1.5


def test_transfer_triples_are_peak_first_peak_of_one_emotion(data_dir):
  """Source = A's peak frame, target = B's first frame of a sequence of the same emotion, truth =
  that sequence's peak: the same crops as the stills build (subjects 5-6 train, 10-12 test)."""
  stills = [r for split in ("train", "test") for r in read_split(_built(data_dir, "stills_smoke"),
                                                                split)]
  def find(identity, image):
    return any(int(r["identity"]) == identity and np.array_equal(r["image"], image)
               for r in stills)

  transfer = _built(data_dir, "transfer_smoke")
  seen = {}
  for split in ("train", "test"):
    rows = read_split(transfer, split)
    seen[split] = sorted((int(r["source_identity"]), facs.EMOTIONS[int(r["emotion"])],
                          int(r["identity"])) for r in rows)
    for row in rows:
      a, b, emotion = int(row["source_identity"]), int(row["identity"]), int(row["emotion"])
      peaks = [r for r in stills if int(r["emotion"]) == emotion]
      assert any(int(r["identity"]) == a and np.array_equal(r["image"], row["source_image"])
                 for r in peaks)
      assert any(int(r["identity"]) == b and np.array_equal(r["image"], row["image"])
                 for r in peaks)
      assert find(b, row["target_image"])
      assert not row["aus"][0:0].size and row["aus"].max() >= 3.0  # the peak's FACS AUs
  # S010 (happy) pairs with S012/002, S011/001 and S012/001 (disgusted); S011/003 (fearful) has
  # no partner, S011/002's peak is corrupt.
  assert seen == {"train": [(5, "surprised", 6), (6, "surprised", 5)],
                  "test": [(10, "happy", 12), (11, "disgusted", 12), (12, "disgusted", 11),
                           (12, "happy", 10)]}


def test_cgan_transfer_smoke_step_trains_on_ck_plus_triples(data_dir, tmp_path):
  config = cgan_transfer_config.get_config("smoke")
  config.data.name = "ck_plus/transfer_smoke"
  config.data.data_dir = str(data_dir)
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()
