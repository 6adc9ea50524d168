"""The five manual dataset builders (``fxs_jax.data.builders.prepare``) on copies of their
``dummy_data`` trees with one bad label file (or folder) each.

A bad file must be skipped and listed in the build's report (``skipped.json`` beside the dataset)
with its name and, for a label file, the line: those cases expect ``ok`` and check the report.
A build with nothing usable left must fail with one line and leave the download untouched."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np

from experiments.bad_inputs import fixtures
from experiments.bad_inputs.harness import Case

CK_EMOTION = "Emotion/S010/001/S010_001_00000005_emotion.txt"
CK_FACS = "FACS/S010/001/S010_001_00000005_facs.txt"
CK_LANDMARKS = "Landmarks/S010/001/S010_001_00000005_landmarks.txt"
AU_CSV = "openface/N_0000000002.csv"
AU_VIDEO = "openface/imgs.csv"
AU_VIDEO_ROW = 5  # frame 4 (N_0000000002.jpg): the CSV's line 5
FACS_LINE_1 = "   1.0000000e+00   3.0000000e+00\n"


def _build(full_name: str):
  def call(sb, fx):
    del fx
    from fxs_jax.data import builders  # pylint: disable=import-outside-toplevel
    return builders.prepare(full_name, str(sb / "tfds"), manual_dir=str(sb / "manual"))
  return call


def _listed(*files: str, line: int | None = None):
  """The build's report lists one of ``files`` (paths in the manual folder), at ``line`` when
  given: as skipped, or as a note on a kept file (a bad landmark file: dlib found the face)."""
  def check(sb, fx, run):
    del fx, run
    reports = sorted((sb / "tfds").rglob("skipped.json"))
    if not reports:
      return "no skipped.json beside the built dataset"
    report = json.loads(reports[0].read_text())
    listed = report.get("skipped", []) + report.get("notes", [])
    hits = [s for s in listed if any(s["file"].endswith(f) for f in files)]
    if not hits:
      return f"{files[0]} is not listed in {reports[0].name}"
    text = lambda s: s.get("reason", "") + s.get("note", "")
    if line is not None and not any(s.get("line") == line or f"line {line}" in text(s)
                                    for s in hits):
      return f"{files[0]} is listed without its line {line}: {hits[0]}"
    return ""
  return check


def _case(name, expect, full_name, change=None, sub="", watch=("manual",), **kw) -> Case:
  dataset = full_name.partition("/")[0]

  def setup(sb, fx):
    del fx
    manual = fixtures.manual_copy(sb, dataset, sub)
    if change is not None:
      change(manual, sb)
  tree = f"{dataset} dummy_data" + (f"/{sub}" if sub else "")
  damage = f", {name.split('_', 1)[1].replace('_', ' ')}" if change else ""
  what = f"builders.prepare({full_name!r}, manual_dir=<{tree}{damage}>)"
  return Case(id=f"datasets.{name}", cls="datasets", expect=expect, what=what,
              call=_build(full_name), setup=setup, watch=watch, **kw)


def _write(relative: str, content):
  def change(manual, sb):
    del sb
    path = manual / relative
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
  return change


def _csv_cell(relative: str, line: int, column: str, value: str):
  """The CSV's ``column`` on ``line`` (1-based, header = line 1) set to ``value``."""
  def change(manual, sb):
    del sb
    path = manual / relative
    lines = path.read_text().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = f" {value}"
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
  return change


def _csv_without(relative: str, column: str):
  def change(manual, sb):
    del sb
    path = manual / relative
    rows = [line.split(",") for line in path.read_text().splitlines()]
    index = [h.strip() for h in rows[0]].index(column)
    path.write_text("\n".join(",".join(r[:index] + r[index + 1:]) for r in rows) + "\n")
  return change


def _every_csv_cell(value: str):
  def change(manual, sb):
    for csv in sorted((manual / "openface").glob("*.csv")):
      _csv_cell(f"openface/{csv.name}", 2, "AU12_r", value)(manual, sb)
  return change


def _pickle(change_table):
  def change(manual, sb):
    path = manual / "aus_openface.pkl"
    with open(path, "rb") as f:
      table = pickle.load(f)  # the repository's own dummy file
    with open(path, "wb") as f:
      pickle.dump(change_table(table, sb), f, protocol=2)
  return change


def _pickle_entry(value):
  def change_table(table, sb):
    del sb
    key = sorted(table)[2]
    return {**table, key: value}
  return change_table


def _hostile_pickle(table, sb):
  del table
  return fixtures.Call(os.system, f"touch {sb / 'manual' / 'pwned'}")


def _every_emotion(text: str):
  def change(manual, sb):
    del sb
    for path in (manual / "Emotion").rglob("*_emotion.txt"):
      path.write_text(text)
  return change


def _rename(old: str, new: str):
  def change(manual, sb):
    del sb
    (manual / old).rename(manual / new)
  return change


def _all_rafd_corrupt(manual, sb):
  del sb
  for path in manual.glob("*.jpg"):
    path.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")


def _empty_folder(relative: str):
  def change(manual, sb):
    del sb
    import shutil  # pylint: disable=import-outside-toplevel
    for child in (manual / relative).iterdir():
      shutil.rmtree(child) if child.is_dir() else child.unlink()
  return change


def _remove_manual(manual, sb):
  del sb
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.rmtree(manual)


def _one_frame_take(manual, sb):
  del sb
  take = manual / "subjects3" / "001" / "happiness" / "take000"
  for frame in sorted(take.iterdir())[1:]:
    frame.unlink()


def cases() -> list[Case]:
  ck, ck_seq = "ck_plus/stills_smoke", "ck_plus/sequences_smoke"
  au = "au_faces/smoke"
  emotion = lambda text: _write(CK_EMOTION, text)
  facs_file = lambda text: _write(CK_FACS, text)
  return [
      # controls: each builder on its dummy tree
      _case("ck_plus_control", "ok", ck),
      _case("au_faces_pickle_control", "ok", au, sub="ganimation"),
      _case("au_faces_openface_images_control", "ok", au, sub="openface_images"),
      _case("au_faces_openface_video_control", "ok", au, sub="openface_video"),
      _case("rafd_control", "ok", "rafd/smoke"),
      _case("mug_control", "ok", "mug/stills_smoke"),
      _case("oulu_casia_control", "ok", "oulu_casia/stills_smoke"),
      # CK+ Emotion files
      _case("ck_emotion_nan", "ok", ck, emotion("   nan\n"), check=_listed(CK_EMOTION, line=1)),
      _case("ck_emotion_code_9", "ok", ck, emotion("   9.0000000e+00\n"),
            check=_listed(CK_EMOTION, line=1)),
      _case("ck_emotion_text", "ok", ck, emotion("happy\n"), check=_listed(CK_EMOTION, line=1)),
      _case("ck_emotion_empty", "ok", ck, emotion(""), check=_listed(CK_EMOTION)),
      _case("ck_emotion_inf", "ok", ck, emotion("   inf\n"), check=_listed(CK_EMOTION, line=1)),
      _case("ck_emotion_fraction", "ok", ck, emotion("   2.5\n"),
            check=_listed(CK_EMOTION, line=1)),
      _case("ck_emotion_binary", "ok", ck, emotion(b"\xff\xfe\x00\xd8garbage\x80"),
            check=_listed(CK_EMOTION)),
      _case("ck_emotion_nan_sequences", "ok", ck_seq, emotion("   nan\n"),
            check=_listed(CK_EMOTION, line=1)),
      _case("ck_every_emotion_nan", "error", ck, _every_emotion("   nan\n")),
      # CK+ FACS files
      _case("ck_facs_three_columns", "ok", ck, facs_file(FACS_LINE_1 + "   2.0   4.0   5.0\n"),
            check=_listed(CK_FACS, line=2)),
      _case("ck_facs_nan_code", "ok", ck, facs_file(FACS_LINE_1 + "   nan   3.0\n"),
            check=_listed(CK_FACS, line=2)),
      _case("ck_facs_inf_intensity", "ok", ck, facs_file(FACS_LINE_1 + "   12.0   inf\n"),
            check=_listed(CK_FACS, line=2)),
      _case("ck_facs_intensity_7", "ok", ck, facs_file(FACS_LINE_1 + "   12.0   7.0\n"),
            check=_listed(CK_FACS, line=2)),
      _case("ck_facs_binary", "ok", ck, facs_file(b"\xff\xfe\x00\xd8\x80\x81"),
            check=_listed(CK_FACS)),
      # CK+ landmark files
      _case("ck_landmarks_text_cell", "ok", ck,
            _write(CK_LANDMARKS, "   1.0   2.0\n" * 2 + "   abc   2.0\n" + "   1.0   2.0\n" * 65),
            check=_listed(CK_LANDMARKS, line=3)),
      _case("ck_landmarks_ten_lines", "ok", ck, _write(CK_LANDMARKS, "   1.0   2.0\n" * 10),
            check=_listed(CK_LANDMARKS)),
      _case("ck_manual_folder_missing", "error", ck, _remove_manual, watch=()),
      # au_faces: OpenFace CSVs, one per photo
      _case("au_csv_cell_abc", "ok", au, _csv_cell(AU_CSV, 2, "AU12_r", "abc"),
            sub="openface_images", check=_listed(AU_CSV, line=2)),
      _case("au_csv_cell_blank", "ok", au, _csv_cell(AU_CSV, 2, "AU12_r", ""),
            sub="openface_images", check=_listed(AU_CSV, line=2)),
      _case("au_csv_cell_nan", "ok", au, _csv_cell(AU_CSV, 2, "AU12_r", "nan"),
            sub="openface_images", check=_listed(AU_CSV, line=2)),
      _case("au_csv_landmark_abc", "ok", au, _csv_cell(AU_CSV, 2, "x_3", "abc"),
            sub="openface_images", check=_listed(AU_CSV, line=2)),
      _case("au_csv_without_au_column", "ok", au, _csv_without(AU_CSV, "AU12_r"),
            sub="openface_images", check=_listed(AU_CSV)),
      _case("au_every_csv_cell_abc", "error", au, _every_csv_cell("abc"), sub="openface_images"),
      # au_faces: one FeatureExtraction CSV
      _case("au_video_au_abc", "ok", au, _csv_cell(AU_VIDEO, AU_VIDEO_ROW, "AU12_r", "abc"),
            sub="openface_video", check=_listed(AU_VIDEO, "N_0000000002.jpg", line=AU_VIDEO_ROW)),
      _case("au_video_frame_abc", "ok", au, _csv_cell(AU_VIDEO, AU_VIDEO_ROW, "frame", "abc"),
            sub="openface_video", check=_listed(AU_VIDEO, line=AU_VIDEO_ROW)),
      # au_faces: GANimation's pickle
      _case("au_pickle_nan_entry", "ok", au, _pickle(_pickle_entry(np.full(17, np.nan))),
            sub="ganimation", check=_listed("aus_openface.pkl", "N_0000000001.jpg")),
      _case("au_pickle_wrong_shape_entry", "ok", au, _pickle(_pickle_entry(np.zeros(5))),
            sub="ganimation", check=_listed("aus_openface.pkl", "N_0000000001.jpg")),
      _case("au_pickle_text_entry", "ok", au, _pickle(_pickle_entry("happy")),
            sub="ganimation", check=_listed("aus_openface.pkl", "N_0000000001.jpg")),
      _case("au_pickle_not_a_dict", "error", au, _pickle(lambda t, sb: [1, 2, 3]),
            sub="ganimation"),
      _case("au_pickle_runs_a_command", "error", au, _pickle(_hostile_pickle), sub="ganimation"),
      _case("au_pickle_truncated", "error", au,
            lambda manual, sb: fixtures.truncate(manual / "aus_openface.pkl"), sub="ganimation"),
      # RaFD, MUG, Oulu-CASIA: labels in file and folder names
      _case("rafd_unknown_emotion_word", "ok", "rafd/smoke",
            _rename("Rafd090_01_Caucasian_female_sad_frontal.jpg",
                    "Rafd090_01_Caucasian_female_sadd_frontal.jpg"),
            check=_listed("Rafd090_01_Caucasian_female_sadd_frontal.jpg")),
      _case("rafd_name_not_rafd", "ok", "rafd/smoke",
            _rename("Rafd090_01_Caucasian_female_sad_frontal.jpg", "Rafd090_photo.jpg"),
            check=_listed("Rafd090_photo.jpg")),
      _case("rafd_every_photo_corrupt", "error", "rafd/smoke", _all_rafd_corrupt),
      _case("mug_unknown_emotion_folder", "ok", "mug/stills_smoke",
            _rename("subjects3/001/surprise", "subjects3/001/surprised"),
            check=_listed("subjects3/001/surprised")),
      _case("mug_one_frame_take", "ok", "mug/stills_smoke", _one_frame_take,
            check=_listed("subjects3/001/happiness/take000")),
      _case("mug_no_subjects", "error", "mug/stills_smoke", _empty_folder("subjects3")),
      _case("oulu_casia_unknown_emotion_folder", "ok", "oulu_casia/stills_smoke",
            _rename("OriginalImg/VL/Strong/P001/Surprise", "OriginalImg/VL/Strong/P001/Surprised"),
            check=_listed("OriginalImg/VL/Strong/P001/Surprised")),
      _case("oulu_casia_lighting_missing", "error", "oulu_casia/stills_smoke",
            _rename("OriginalImg/VL/Strong", "OriginalImg/VL/Weak")),
  ]
