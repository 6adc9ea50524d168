"""CK+'s builder on its dummy tree: stills and sequences, FACS / emotion parsing, colour frames,
unlabelled sequences, skips, rebuilds, and MotionGAN / TextureGAN `:smoke` train steps on its
sequences.

The dummy tree's quirks: S006/001 is stored in colour; S005/002's FACS file is corrupt; S010/002
has no Emotion file; S011/002's peak frame is a corrupt PNG."""

import json
import logging
import shutil
import sys

import numpy as np
from PIL import Image
import pytest

from configs import cgan_transfer as cgan_transfer_config
from configs import motiongan as motiongan_config
from configs import texturegan as texturegan_config
from fxs_jax import faces
from fxs_jax import facs
from fxs_jax import recipes
from fxs_jax import run
from fxs_jax.data import builders
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import SPLITS
from tests.datasets.helpers import read_split
from tests.datasets.helpers import read_splits
from tests.datasets.helpers import subjects

DUMMY = DATASETS / "ck_plus" / "dummy_data"
# the builder's module, imported the way builds import it (a second import would register twice)
ck_plus = sys.modules[builders.builder_class("ck_plus").__module__]
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
  rows = read_splits(builder)
  train, test = rows["train"], rows["test"]
  labels = sorted((int(r["identity"]), int(r["emotion"])) for r in sum(rows.values(), []))
  # S011/002's peak frame is corrupt (its first frame is kept); S010/002 has no Emotion file;
  # S005/002's FACS file is corrupt.
  assert labels == sorted([(5, 0), (5, EMOTION("surprised")), (6, 0), (6, EMOTION("surprised")),
                           (10, 0), (10, EMOTION("happy")),
                           (11, 0), (11, EMOTION("disgusted")), (11, 0), (11, 0),
                           (11, EMOTION("fearful")),
                           (12, 0), (12, EMOTION("disgusted")), (12, 0), (12, EMOTION("happy"))])
  # Test: S012, the last of the 5 sorted subjects (with or without validation); validation: S011,
  # the last train subject.
  assert [subjects(rows[split]) for split in SPLITS] == [{5, 6, 10}, {11}, {12}]
  assert [len(rows[split]) for split in SPLITS] == [6, 5, 4]
  surprised = next(r for r in train if int(r["emotion"]) == EMOTION("surprised"))
  aus = dict(zip(facs.AU_NAMES, surprised["aus"]))
  # FACS file: AU1 intensity 0 (unspecified -> 3), AU2/5/25/26 at 4, AU24 (not in the 17) dropped.
  assert aus["AU01"] == 3.0 and aus["AU02"] == aus["AU26"] == 4.0
  assert sum(v > 0 for v in aus.values()) == 5
  for row in sum(rows.values(), []):
    assert row["image"].shape == (32, 32, 3) and row["image"].dtype == np.uint8
    assert np.all(row["image"][..., 0] == row["image"][..., 1])  # grey frames, 3 channels
    if int(row["emotion"]) == 0:
      assert not row["aus"].any()


def test_sequences_ramp_to_the_peak(data_dir):
  builder = _built(data_dir, "sequences_smoke")
  rows = read_splits(builder)
  # S011/002 dropped (corrupt peak frame), S005/002 (corrupt FACS file); S010/002 kept unlabelled.
  assert [len(rows[split]) for split in SPLITS] == [4, 2, 2]
  assert [subjects(rows[split]) for split in SPLITS] == [{5, 6, 10}, {11}, {12}]
  for row in sum(rows.values(), []):
    assert np.asarray(row["frames"]).shape == (8, 32, 32, 3)
    assert row["landmarks"].shape == (8, 68, 2) and row["aus"].shape == (8, 17)
    assert not row["aus"][0].any() and row["aus"][-1].max() >= 3.0
    assert np.all(np.diff(row["aus"], axis=0) >= 0)


def test_unlabelled_sequence_is_kept_with_emotion_minus_one(data_dir):
  train = read_split(_built(data_dir, "sequences_smoke"), "train")
  assert sorted((int(r["identity"]), int(r["emotion"])) for r in train) == sorted(
      [(5, EMOTION("surprised")), (6, EMOTION("surprised")), (10, EMOTION("happy")), (10, -1)])
  unlabelled = next(r for r in train if int(r["emotion"]) == -1)
  # Its AUs are its own FACS file's (AU1 unspecified -> 3, AU4 2, AU15 4, AU17 2, AU24 dropped),
  # not a prototype; its peak is the frame that file is named after (the 5th of 5).
  aus = dict(zip(facs.AU_NAMES, unlabelled["aus"][-1]))
  assert {k: float(v) for k, v in aus.items() if v} == {"AU01": 3.0, "AU04": 2.0, "AU15": 4.0,
                                                        "AU17": 2.0}


def _report(builder):
  return (json.loads((builder.data_path / "skipped.json").read_text()),
          (builder.data_path / "skipped.txt").read_text().splitlines())


def test_skip_report_names_the_corrupt_files_and_counts_the_quirks(data_dir):
  report, lines = _report(_built(data_dir, "sequences_smoke"))
  files = {item["file"]: item["reason"] for item in report["skipped"]}
  assert files["cohn-kanade-images/S011/002/S011_002_00000005.png"].startswith("unreadable")
  assert "S011_002_00000005.png" in files["cohn-kanade-images/S011/002"]
  # The corrupt FACS file is listed with what is wrong in it; no prototype AUs stand in.
  reason = files["FACS/S005/002/S005_002_00000004_facs.txt"]
  assert "'AU12 strong' is not two numbers" in reason and "skipped" in reason
  assert not any("S005/002" in f for f in files if f.startswith("cohn-kanade-images"))
  assert "cohn-kanade-images/S010/002" not in files  # kept, unlabelled
  assert (report["kept"], report["unlabelled_kept"], report["colour_frames_to_grey"]) == (8, 1, 4)
  assert lines[1].startswith("unlabelled: 1 of the 8 kept") and lines[1].endswith(": 4")
  report, lines = _report(_built(data_dir, "stills_smoke"))
  files = {item["file"]: item["reason"] for item in report["skipped"]}
  assert "no Emotion label" in files["cohn-kanade-images/S010/002"]
  assert "FACS/S005/002/S005_002_00000004_facs.txt" in files
  # stills: S006/001's first and peak frames are colour
  assert (report["unlabelled_kept"], report["colour_frames_to_grey"]) == (0, 2)
  assert "\t" not in lines[1] and all(len(line.split("\t")) == 2 for line in lines[2:])


def test_colour_frames_come_out_grey_as_their_luma(data_dir, tmp_path, dummy_copy):
  frames = sorted((DUMMY / "cohn-kanade-images" / "S006" / "001").glob("*.png"))
  photo = np.asarray(Image.open(frames[0]))
  assert photo.shape[-1] == 3 and np.abs(photo[..., 0] - photo[..., 2].astype(int)).max() > 30
  # Oracle: the tree with S006/001 saved as PIL's luma ("L"), grey PNGs, builds the same crops.
  manual = dummy_copy("ck_plus")
  for frame in frames:
    Image.open(frame).convert("L").save(manual / frame.relative_to(DUMMY))
  grey = builders.prepare(CK, str(tmp_path / "tfds"), manual_dir=str(manual))
  assert _report(grey)[0]["colour_frames_to_grey"] == 0
  want = [r["image"] for r in read_split(grey, "train") if int(r["identity"]) == 6]
  got = [r["image"] for r in read_split(_built(data_dir, "stills_smoke"), "train")
         if int(r["identity"]) == 6]
  assert len(got) == len(want) == 2  # first, peak
  for image, truth in zip(got, want):
    np.testing.assert_array_equal(image, truth)
  clip = next(r for r in read_split(_built(data_dir, "sequences_smoke"), "train")
              if int(r["identity"]) == 6)
  clip_frames = np.asarray(clip["frames"])
  assert np.all(clip_frames == clip_frames[..., :1]) and clip_frames.std() > 10


@pytest.mark.parametrize("text, problem", [
    ("AU12 strong\n", "'AU12 strong' is not two numbers"),
    ("12 4 5\n", "'12 4 5' is not two numbers"),
    ("1 0\n12\n", "line 2 '12' is not two numbers"),
    ("12.5 3\n", "AU code is not a whole number"),
    ("12 7\n", "intensity outside 0-5"),
    ("nan 2\n", "AU code is not a whole number"),
    ("\n\n", "empty FACS file"),
    (b"\x89PNG\xff\xfe garbage", "unreadable FACS file"),
])
def test_malformed_facs_files_give_a_one_line_reason(tmp_path, text, problem):
  path = tmp_path / "S001_001_00000009_facs.txt"
  path.write_bytes(text if isinstance(text, bytes) else text.encode())
  result = ck_plus.read_facs(path)
  assert isinstance(result, faces.Skip) and problem in result.reason
  assert "\n" not in result.reason and "skipped" in result.reason
  assert "No such file" in ck_plus.read_facs(tmp_path / "missing.txt").reason


def test_well_formed_facs_file(tmp_path):
  path = tmp_path / "S001_001_00000009_facs.txt"
  path.write_text("   1.2000000e+01   0.0000000e+00\n\n   4.0000000e+00   5.0000000e+00\n"
                  "   2.7000000e+01   1.0000000e+00\n")
  aus = dict(zip(facs.AU_NAMES, ck_plus.read_facs(path)))
  assert {k: float(v) for k, v in aus.items() if v} == {"AU04": 5.0, "AU12": 3.0}


def test_missing_facs_file_skips_its_sequence(tmp_path, dummy_copy):
  manual = dummy_copy("ck_plus")
  (manual / "FACS" / "S010" / "002" / "S010_002_00000005_facs.txt").unlink()  # unlabelled
  (manual / "FACS" / "S012" / "002" / "S012_002_00000004_facs.txt").unlink()  # labelled
  builder = builders.prepare("ck_plus/sequences_smoke", str(tmp_path / "tfds"),
                             manual_dir=str(manual))
  assert len(builder.as_data_source(split="train")) == 3  # S005, S006, S010/001
  assert len(builder.as_data_source(split="validation")) == 2  # S011/001, S011/003
  assert len(builder.as_data_source(split="test")) == 1
  files = {item["file"]: item["reason"] for item in _report(builder)[0]["skipped"]}
  assert files["cohn-kanade-images/S010/002"].startswith("no FACS file FACS/S010/002/*_facs.txt")
  assert files["cohn-kanade-images/S012/002"].startswith(
      "no FACS file FACS/S012/002/S012_002_00000004_facs.txt")


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
             .as_data_source(split="train")) == 6
  # S010/002 gets its Emotion file: its first and peak frames join the train split.
  label = manual / "Emotion" / "S010" / "002" / "S010_002_00000005_emotion.txt"
  label.parent.mkdir(parents=True, exist_ok=True)  # git keeps no empty folder
  label.write_text("   6.0000000e+00\n")
  assert len(builders.prepare(CK, data_dir).as_data_source(split="train")) == 8
  # S005/002's FACS file is repaired: its first and peak frames join too.
  (manual / "FACS" / "S005" / "002" / "S005_002_00000004_facs.txt").write_text(
      "   1.5000000e+01   2.0000000e+00\n")
  assert len(builders.prepare(CK, data_dir).as_data_source(split="train")) == 10


@pytest.mark.parametrize("config_module", [motiongan_config, texturegan_config],
                         ids=["motiongan", "texturegan"])
def test_smoke_step_trains_on_ck_plus_sequences(data_dir, tmp_path, config_module):
  config = config_module.get_config("smoke")
  config.data.name = "ck_plus/sequences_smoke"
  config.data.data_dir = str(data_dir)
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()


def test_texturegan_trains_on_unlabelled_clips_and_motiongan_leaves_them_out(data_dir, caplog):
  source = _built(data_dir, "sequences_smoke").as_data_source(split="train")
  pairs = recipes.TextureGAN(texturegan_config.get_config("smoke")).examples(source, "train")
  rows = [pairs[i] for i in range(len(pairs))]
  per_clip = len(pairs.times)  # frames t > 0 taken from each clip (model.frames_per_sequence)
  assert len(rows) == 4 * per_clip
  assert sum(int(r["emotion"]) == -1 and int(r["identity"]) == 10 for r in rows) == per_clip
  motion = recipes.MotionGAN(motiongan_config.get_config("smoke"))
  with caplog.at_level(logging.WARNING):
    examples = motion.examples(source, "train")
  assert sorted(int(e["emotion"]) for e in examples) == sorted(
      EMOTION(e) for e in ("surprised", "surprised", "happy"))
  assert "left out 1 of the 4 'train' sequences: unlabelled" in caplog.text


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
  stills = sum(read_splits(_built(data_dir, "stills_smoke")).values(), [])
  def find(identity, image):
    return any(int(r["identity"]) == identity and np.array_equal(r["image"], image)
               for r in stills)

  transfer = _built(data_dir, "transfer_smoke")
  assert sorted(transfer.info.splits) == ["test", "train"]  # 5 subjects: no 3 groups of two
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
  config.data.eval_split = "test"  # the dummy tree has too few subjects for a validation group
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()


@pytest.mark.parametrize("moved,where", [
    (lambda p: p + [500, 0], "outside the photo"),  # as if the file belonged to another photo
    (lambda p: p.mean(0) + 0.3 * (p - p.mean(0)), "off the face dlib finds"),  # a third the size
])
def test_shipped_landmarks_off_the_face_are_redetected_and_noted(tmp_path, dummy_copy, moved,
                                                                 where):
  manual = dummy_copy("ck_plus")
  path = manual / "Landmarks" / "S010" / "001" / "S010_001_00000001_landmarks.txt"
  np.savetxt(path, moved(np.loadtxt(path)), fmt="%.3f")
  shipped = builders.prepare(CK, str(tmp_path / "shipped"), manual_dir=str(DUMMY))
  moved = builders.prepare(CK, str(tmp_path / "moved"), manual_dir=str(manual))
  want, got = read_split(shipped, "train")[4], read_split(moved, "train")[4]
  assert int(got["identity"]) == 10 and int(got["emotion"]) == 0
  assert np.abs(got["landmarks"] - want["landmarks"]).mean() < 1.5  # dlib's, on the face
  report = json.loads((moved.data_path / "skipped.json").read_text())
  assert report["notes"] == [{
      "file": "cohn-kanade-images/S010/001/S010_001_00000001.png",
      "note": f"shipped landmarks lie {where}; re-detected with dlib"}]
  assert "kept: shipped landmarks" in (moved.data_path / "skipped.txt").read_text()
