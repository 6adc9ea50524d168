"""Helpers of the manual-dataset tests."""

import json
from pathlib import Path
import shutil

import numpy as np

from fxs_jax import facs
from fxs_jax.data import builders

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


SPLITS = ("train", "validation", "test")


def read_split(builder, split):
  """Every example of a split, as a list of dicts."""
  source = builder.as_data_source(split=split)
  return [source[i] for i in range(len(source))]


def read_splits(builder, splits=SPLITS):
  """{split: every example of it}."""
  return {split: read_split(builder, split) for split in splits}


def subjects(rows):
  """The set of identities of ``rows``."""
  return {int(r["identity"]) for r in rows}


def check_clip_dataset(tmp_path, name, corrupt_frame, dropped_clip, added_clip):
  """The shared checks of the dlib-cropped clip datasets (Oulu-CASIA, MUG) on their dummy trees:
  3 subjects x 2 emotions with one clip whose ``corrupt_frame`` (subject 2's) drops it from the
  sequences; the splits (one subject each: the last test, with or without validation, the one
  before it validation), shapes, skip report and a rebuild after
  ``added_clip`` (a copy of subject 1's first clip under subject 3) is added."""
  manual = tmp_path / "manual"
  shutil.copytree(DATASETS / name / "dummy_data", manual)
  data_dir = str(tmp_path / "tfds")
  sequences = builders.prepare(f"{name}/sequences_smoke", data_dir, manual_dir=str(manual))
  rows = read_splits(sequences)
  assert [len(rows[s]) for s in SPLITS] == [2, 1, 2]  # 6 clips, one dropped
  assert [subjects(rows[s]) for s in SPLITS] == [{1}, {2}, {3}]
  for row in sum(rows.values(), []):
    assert np.asarray(row["frames"]).shape == (8, 32, 32, 3)
    assert row["landmarks"].shape == (8, 68, 2)
    apex = facs.emotion_aus(int(row["emotion"]))
    np.testing.assert_allclose(row["aus"][-1], apex)
    assert not row["aus"][0].any()
  skipped = json.loads((sequences.data_path / "skipped.json").read_text())["skipped"]
  reasons = {item["file"]: item["reason"] for item in skipped}
  assert reasons[corrupt_frame].startswith("unreadable")
  assert reasons[dropped_clip].startswith("clip ")
  stills = builders.prepare(f"{name}/stills_smoke", data_dir, manual_dir=str(manual))
  by_split = read_splits(stills)
  assert [subjects(by_split[s]) for s in SPLITS] == [{1}, {2}, {3}]
  rows = sum(by_split.values(), [])
  assert len(rows) == 12 and sum(int(r["emotion"]) == 0 for r in rows) == 6
  # Rebuild after adding a clip.
  source, target = added_clip
  shutil.copytree(manual / source, manual / target)
  rebuilt = builders.prepare(f"{name}/sequences_smoke", data_dir)
  assert len(rebuilt.as_data_source(split="test")) == 3


def report(builder):
  """(skipped.json as a dict, skipped.txt's lines) of a finished build."""
  return (json.loads((builder.data_path / "skipped.json").read_text()),
          (builder.data_path / "skipped.txt").read_text().splitlines())


def tree_bytes(folder):
  """{relative path: bytes} of every file under ``folder``: to check a build wrote nothing there."""
  folder = Path(folder)
  return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
          if p.is_file()}


def copy_ck_sequence(manual, source, target):
  """Copies CK+ sequence ``source`` (``"S010/001"``) as ``target`` in all four trees, renaming
  its files (``S010_001_...`` -> ``S013_001_...``) as CK+ names them."""
  old, new = source.replace("/", "_"), target.replace("/", "_")
  for tree in ("cohn-kanade-images", "Landmarks", "Emotion", "FACS"):
    (manual / tree / target).mkdir(parents=True, exist_ok=True)
    for path in (manual / tree / source).iterdir():
      shutil.copy(path, manual / tree / target / path.name.replace(old, new))


def set_csv_cell(path, line, column, value):
  """Writes ``value`` in ``column`` of the CSV's ``line`` (1-based, the header is line 1)."""
  lines = path.read_text().splitlines()
  cells = lines[line - 1].split(",")
  cells[[c.strip() for c in lines[0].split(",")].index(column)] = f" {value}"
  lines[line - 1] = ",".join(cells)
  path.write_text("\n".join(lines) + "\n")


def windows_text(path, encoding="utf-8-sig"):
  """Re-saves a text file as a Windows editor would: a byte-order mark and CRLF line ends."""
  text = path.read_text().replace("\r\n", "\n")
  path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
