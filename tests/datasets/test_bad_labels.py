"""Bad label files skip only themselves: CK+ and AU-faces builds on dummy trees with one bad file
of each kind beside good ones keep the good examples and list every bad file with its line (and
column) in the build report; label files saved by Windows editors (byte-order mark, CRLF) work;
a tree with nothing usable left is one line naming the folder, the count and the report.

Each builder is built once per module (builds are the slow part) and asserted on several times.
The expected rows and report entries are listed by hand from the planted files."""

import json
from pathlib import Path
import pickle
import shutil

import numpy as np
from PIL import Image
import pytest

from fxs_jax import faces
from fxs_jax import facs
from fxs_jax.data import builders
from fxs_jax.data import face_files
from fxs_jax.data import manual_datasets
from fxs_jax.data import safe_pickle
from fxs_jax.errors import UserError
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import copy_ck_sequence
from tests.datasets.helpers import SPLITS
from tests.datasets.helpers import read_split
from tests.datasets.helpers import read_splits
from tests.datasets.helpers import subjects
from tests.datasets.helpers import report
from tests.datasets.helpers import set_csv_cell
from tests.datasets.helpers import tree_bytes
from tests.datasets.helpers import windows_text

EMOTION = facs.EMOTIONS.index
CK = "ck_plus/stills_smoke"
AU = "au_faces/smoke"

# CK+: (file, line or None, words of the reason) of every file the build must skip.
CK_BAD = {
    "Emotion/S005/001/S005_001_00000005_emotion.txt": (1, "holds 'nan', not one code 0-7"),
    "FACS/S005/002/S005_002_00000004_facs.txt": (1, "'AU12 strong' is not two numbers"),
    "cohn-kanade-images/S010/002": (None, "no Emotion label"),
    "Emotion/S011/001/S011_001_00000005_emotion.txt": (1, "holds '9.0000000e+00', not one code 0-7"),
    "cohn-kanade-images/S011/002/S011_002_00000005.png": (None, "unreadable"),
    "Emotion/S011/003/S011_003_00000004_emotion.txt": (None, "is empty"),
    "FACS/S012/001/S012_001_00000004_facs.txt": (1, "'1 2 3' is not two numbers"),
    "FACS/S013/001/S013_001_00000005_facs.txt": (2, "'nan 2': the AU code is not a whole"),
    "FACS/S014/001/S014_001_00000005_facs.txt": (1, "intensity is not a finite number"),
    "Emotion/S015/001/S015_001_00000005_emotion.txt": (1, "holds 2 values"),
}
# The planted landmark file: kept, dlib finds that frame's face instead.
CK_BAD_LANDMARKS = "Landmarks/S010/001/S010_001_00000001_landmarks.txt"


@pytest.fixture(scope="module")
def ck_manual(tmp_path_factory):
  manual = tmp_path_factory.mktemp("ck") / "manual"
  shutil.copytree(DATASETS / "ck_plus" / "dummy_data", manual)
  for target in ("S013/001", "S014/001", "S015/001"):
    copy_ck_sequence(manual, "S010/001", target)

  def write(relative, text):
    (manual / relative).write_text(text)

  write("Emotion/S005/001/S005_001_00000005_emotion.txt", "nan\n")
  write("Emotion/S011/001/S011_001_00000005_emotion.txt", "   9.0000000e+00\n")
  write("Emotion/S011/003/S011_003_00000004_emotion.txt", "")
  write("Emotion/S015/001/S015_001_00000005_emotion.txt", "5 5\n")
  write("FACS/S012/001/S012_001_00000004_facs.txt", "1 2 3\n")
  write("FACS/S013/001/S013_001_00000005_facs.txt", "1 4\nnan 2\n")
  write("FACS/S014/001/S014_001_00000005_facs.txt", "1 inf\n")
  points = (manual / CK_BAD_LANDMARKS).read_text().splitlines()
  points[4] += " 7"  # line 5: three values
  write(CK_BAD_LANDMARKS, "\n".join(points) + "\n")
  # S006/001 saved by a Windows editor: byte-order mark and CRLF in all its label files.
  for tree in ("Emotion", "FACS", "Landmarks"):
    for path in (manual / tree / "S006" / "001").iterdir():
      windows_text(path)
  return manual


@pytest.fixture(scope="module")
def ck_built(ck_manual, tmp_path_factory):
  before = tree_bytes(ck_manual)
  builder = builders.prepare(CK, str(tmp_path_factory.mktemp("ck_tfds")),
                             manual_dir=str(ck_manual))
  assert tree_bytes(ck_manual) == before  # the download is only read
  return builder


def test_ck_plus_keeps_the_good_sequences(ck_built):
  by_split = read_splits(ck_built)
  rows = sorted((int(r["identity"]), int(r["emotion"])) for r in sum(by_split.values(), []))
  # S006/001 (Windows-saved labels), S010/001 (one landmark file malformed), S011/002's first
  # frame (its peak is corrupt), S012/002; every other sequence has a bad label file.
  assert rows == sorted([(6, 0), (6, EMOTION("surprised")), (10, 0), (10, EMOTION("happy")),
                         (11, 0), (12, 0), (12, EMOTION("happy"))])
  # S012 test (the last subject, whether or not validation is carved); S011, the last train
  # subject, validation.
  assert [subjects(by_split[split]) for split in SPLITS] == [{6, 10}, {11}, {12}]


def test_ck_plus_report_names_each_bad_file_and_line(ck_built):
  got, lines = report(ck_built)
  assert {item["file"] for item in got["skipped"]} == set(CK_BAD)
  for item in got["skipped"]:
    line, words = CK_BAD[item["file"]]
    assert words in item["reason"] and "\n" not in item["reason"], item
    assert item.get("line") == line, item
  assert got["kept"] == 7
  assert lines[0].startswith(f"{CK}: kept 7 examples, skipped 10 files")
  for file, (_, words) in CK_BAD.items():
    assert any(line.startswith(f"{file}\t") and words in line for line in lines), file


def test_ck_plus_windows_saved_labels_are_read_as_saved(ck_built, ck_manual):
  got, _ = report(ck_built)
  # A malformed landmark file is noted (where and why) and its frame's face found by dlib; the
  # Windows-saved S006 landmark files are used as shipped (no note).
  assert [n["file"] for n in got["notes"]] == [CK_BAD_LANDMARKS]
  assert got["notes"][0]["note"].startswith("not used: line 5 ") and "3 values" in \
      got["notes"][0]["note"]
  # S006's peak AUs: its FACS file parsed by hand (0 intensity is "unspecified", 3).
  coded = {}
  for line in (DATASETS / "ck_plus/dummy_data/FACS/S006/001/S006_001_00000004_facs.txt"
               ).read_text().split("\n"):
    if line.strip():
      au, intensity = line.split()
      coded[f"AU{round(float(au)):02d}"] = float(intensity) or 3.0
  peak = next(r for r in read_split(ck_built, "train")
              if int(r["identity"]) == 6 and int(r["emotion"]) == EMOTION("surprised"))
  want = [coded.get(name, 0.0) for name in facs.AU_NAMES]
  np.testing.assert_array_equal(peak["aus"], np.float32(want))
  assert (ck_manual / "Emotion/S006/001/S006_001_00000004_emotion.txt").read_bytes()[:3] == \
      b"\xef\xbb\xbf"


def test_ck_plus_with_nothing_usable_is_one_line_until_fixed(tmp_path, ck_manual):
  manual = tmp_path / "manual"
  for tree in ("cohn-kanade-images", "Landmarks", "Emotion", "FACS"):
    for sequence in ("S005/001", "S012/001"):
      shutil.copytree(ck_manual / tree / sequence, manual / tree / sequence)
  (manual / "Emotion/S012/001/S012_001_00000004_emotion.txt").write_text("nan")
  before = tree_bytes(manual)
  data_dir = tmp_path / "tfds"
  with pytest.raises(builders.DatasetError) as info:
    builders.prepare(CK, str(data_dir), manual_dir=str(manual))
  message = str(info.value)
  report_txt = data_dir / "ck_plus" / "stills_smoke" / "failed_build_skipped.txt"
  assert message.startswith(f"{CK}: no usable examples in {manual}; 2 files skipped (e.g. "
                            "Emotion/S005/001/S005_001_00000005_emotion.txt: Emotion file line 1 "
                            "holds 'nan', not one code 0-7")
  assert message.endswith(f"Each skipped file, line and reason: {report_txt}")
  assert "\n" not in message and "Traceback" not in message
  listed = report_txt.read_text().splitlines()
  assert listed[0] == f"{CK}: kept 0 examples, skipped 2 files (from {manual})"
  assert [line.split("\t")[0] for line in listed[1:]] == [
      "Emotion/S005/001/S005_001_00000005_emotion.txt",
      "Emotion/S012/001/S012_001_00000004_emotion.txt"]
  assert not list(data_dir.rglob("dataset_info.json"))  # no dataset claims to be built
  assert tree_bytes(manual) == before
  # Fixed, it builds, and the failed build's report goes.
  (manual / "Emotion/S005/001/S005_001_00000005_emotion.txt").write_text("7\n")
  (manual / "Emotion/S012/001/S012_001_00000004_emotion.txt").write_text("3\n")
  (manual / "FACS/S012/001/S012_001_00000004_facs.txt").write_text("9 2\n")
  builder = builders.prepare(CK, str(data_dir), manual_dir=str(manual))
  assert report(builder)[0]["kept"] == 4 and not report(builder)[0]["skipped"]
  assert not list(report_txt.parent.glob("failed_build_*"))


# AU faces: the three layouts, each with its own bad labels.
def _au_copies(tmp_path_factory):
  manual = tmp_path_factory.mktemp("au") / "manual"
  shutil.copytree(DATASETS / "au_faces" / "dummy_data", manual)
  with open(manual / "ganimation" / "aus_openface.pkl", "rb") as f:
    table = pickle.load(f)
  return manual, table


@pytest.fixture(scope="module")
def au_built(tmp_path_factory):
  """{layout: (manual folder, builder)} of the three AU sources, built once."""
  manual, table = _au_copies(tmp_path_factory)
  # FaceLandmarkImg: one CSV per photo. Extra photos (copies of N_0's, sorted first) carry the
  # kinds of bad CSV; N_0's CSV is Windows-saved.
  images = manual / "openface_images"
  good_csv = (images / "openface" / "N_0000000003.csv").read_text()
  for name, write in {
      "B_empty": lambda p: p.write_text(""),
      "B_no_au04": lambda p: p.write_text(good_csv.replace(", AU04_r", ", AU04_x")),
      "B_inf": lambda p: (p.write_text(good_csv), set_csv_cell(p, 2, "AU01_r", "inf")),
      "B_landmark": lambda p: (p.write_text(good_csv), set_csv_cell(p, 2, "x_3", "abc")),
      "B_latin1": lambda p: p.write_bytes(good_csv.encode().replace(b"AU01_r", b"AU01_r\xff")),
  }.items():
    shutil.copy(images / "imgs" / "N_0000000000.jpg", images / "imgs" / f"{name}.jpg")
    write(images / "openface" / f"{name}.csv")
  set_csv_cell(images / "openface" / "N_0000000002.csv", 2, "AU12_r", "abc")
  windows_text(images / "openface" / "N_0000000000.csv")
  # FeatureExtraction: one CSV, frame k = k-th photo (C, N_0, ..., N_5); Windows-saved.
  video = manual / "openface_video" / "openface" / "imgs.csv"
  set_csv_cell(video, 5, "AU45_r", "abc")  # frame 4, N_2
  lines = video.read_text().splitlines()
  frame = [c.strip() for c in lines[0].split(",")].index("frame")

  def row(value, source=2):
    cells = lines[source - 1].split(",")
    cells[frame] = value
    return ",".join(cells)

  lines += [row("abc"), row("9"), row("1")]  # lines 9, 10, 11; line 11: a second face in C
  video.write_text("\n".join(lines) + "\n")
  windows_text(video)
  # GANimation pickle: three bad entries; Windows-saved id files (N_0 first, after the mark).
  pkl = manual / "ganimation"
  table["N_0000000001"] = np.full(17, np.nan)
  table["N_0000000002"] = table["N_0000000002"][:16]
  table["B_words"] = "abc"
  shutil.copy(pkl / "imgs" / "N_0000000000.jpg", pkl / "imgs" / "B_words.jpg")
  with open(pkl / "aus_openface.pkl", "wb") as f:
    pickle.dump(table, f)
  (pkl / "train_ids.csv").write_bytes(
      b"\xef\xbb\xbfN_0000000000.jpg\r\nC_0000000000.jpg\r\nN_0000000001.jpg\r\n"
      b"N_0000000004.jpg\r\nN_0000000005.jpg\r\n")
  (pkl / "test_ids.csv").write_bytes(b"N_0000000002.jpg\r\nN_0000000003.jpg\r\n")
  built = {}
  for layout in ("openface_images", "openface_video", "ganimation"):
    before = tree_bytes(manual / layout)
    built[layout] = (manual / layout, builders.prepare(
        AU, str(tmp_path_factory.mktemp(f"tfds_{layout}")), manual_dir=str(manual / layout)))
    assert tree_bytes(manual / layout) == before
  return built


AU_BAD = {  # layout: {file: (line, column, words of the reason)}
    "openface_images": {
        "openface/B_empty.csv": (None, None, "empty OpenFace CSV"),
        "openface/B_no_au04.csv": (1, None, "lacks the columns AU04_r"),
        "openface/B_inf.csv": (2, "AU01_r", "holds 'inf', not a finite number"),
        "openface/B_landmark.csv": (2, "x_3", "holds 'abc', not a number"),
        "openface/B_latin1.csv": (1, None, "line 1 is not UTF-8 text"),
        "openface/N_0000000001.csv": (None, None, "2 faces in the OpenFace CSV"),
        "openface/N_0000000002.csv": (2, "AU12_r", "holds 'abc', not a finite number"),
        "imgs/C_0000000000.jpg": (None, None, "unreadable"),
    },
    "openface_video": {
        "openface/imgs.csv:5": (5, "AU45_r", "holds 'abc', not a finite number; re-run OpenFace "
                                             "on that photo or fix the cell (photo imgs/N_0000000002"),
        "openface/imgs.csv:9": (9, "frame", "holds 'abc', not a finite number"),
        "openface/imgs.csv:10": (10, "frame", "frame 9 has no photo (imgs/ holds 7)"),
        "imgs/C_0000000000.jpg": (None, None, "several faces in imgs.csv (lines 2 and 11"),
        "imgs/N_0000000001.jpg": (None, None, "OpenFace found no face (success 0)"),
    },
    "ganimation": {
        "aus_openface.pkl:N_0000000001": (None, None, "entry 'N_0000000001' holds NaN"),
        "aus_openface.pkl:N_0000000002": (None, None,
                                          "entry 'N_0000000002' has shape (16,), not (17,)"),
        "aus_openface.pkl:B_words": (None, None, "entry 'B_words' is not numbers"),
        "imgs/C_0000000000.jpg": (None, None, "unreadable"),
    },
}


@pytest.mark.parametrize("layout", AU_BAD)
def test_au_faces_keeps_the_good_photos_and_lists_each_bad_label(au_built, layout):
  manual, builder = au_built[layout]
  with open(DATASETS / "au_faces" / "dummy_data" / "ganimation" / "aus_openface.pkl", "rb") as f:
    table = pickle.load(f)
  # N_0 (its labels Windows-saved), N_3, N_4 and N_5 kept; every other photo has a bad label.
  # Test: the last labelled photo (the id files': N_3), validation the last train one.
  kept = {"train": ["N_0000000000", "N_0000000003"], "validation": ["N_0000000004"],
          "test": ["N_0000000005"]}
  if layout == "ganimation":
    kept = {"train": ["N_0000000000", "N_0000000004"], "validation": ["N_0000000005"],
            "test": ["N_0000000003"]}
  for split, names in kept.items():
    rows = read_split(builder, split)
    assert len(rows) == len(names), split
    for row, name in zip(rows, names):
      np.testing.assert_allclose(row["aus"], np.clip(table[name], 0, 5), atol=0.006)
  got, lines = report(builder)
  entries = {}
  for item in got["skipped"]:
    key = item["file"]
    if "line" in item and key.endswith("imgs.csv"):
      key = f"{key}:{item['line']}"
    elif key == "aus_openface.pkl":
      key = f"{key}:{item['reason'].split(chr(39))[1]}"  # the entry's name, quoted
    entries[key] = item
  assert sorted(entries) == sorted(AU_BAD[layout]) and len(got["skipped"]) == len(entries)
  for key, (line, column, words) in AU_BAD[layout].items():
    item = entries[key]
    assert (item.get("line"), item.get("column")) == (line, column), item
    assert words in item["reason"] and "\n" not in item["reason"], item
    assert any(text.startswith(f"{item['file']}\t") and words in text for text in lines)
  assert got["kept"] == 4


def test_au_faces_with_nothing_usable_is_one_line(tmp_path, tmp_path_factory):
  manual = _au_copies(tmp_path_factory)[0] / "openface_images"
  for csv in sorted((manual / "openface").glob("*.csv")):
    set_csv_cell(csv, 2, "AU01_r", "abc")
  data_dir = tmp_path / "tfds"
  with pytest.raises(builders.DatasetError) as info:
    builders.prepare(AU, str(data_dir), manual_dir=str(manual))
  message = str(info.value)
  report_txt = data_dir / "au_faces" / "smoke" / "failed_build_skipped.txt"
  assert message.startswith(
      f"{AU}: no usable examples in {manual}; 7 files skipped (e.g. openface/C_0000000000.csv: "
      "line 2 (data row 1), column AU01_r holds 'abc', not a finite number;")
  assert message.endswith(f"Each skipped file, line and reason: {report_txt}")
  assert "\n" not in message
  report_json = json.loads(report_txt.with_suffix(".json").read_text())
  assert {item["file"] for item in report_json["skipped"]} == {
      f"openface/{stem}.csv"
      for stem in ("C_0000000000", *(f"N_000000000{i}" for i in range(6)))}


def test_a_fingerprint_of_the_wrong_shape_counts_as_none(ck_built, monkeypatch):
  monkeypatch.delenv("FXS_JAX_MANUAL_DIR", raising=False)
  path = ck_built.data_path / manual_datasets.FINGERPRINT_FILE
  saved = path.read_text()
  try:
    for text in ("[1, 2]", '{"manual_dir": 3}', "null"):
      path.write_text(text)
      assert builders.manual_dir_for(ck_built) == (
          Path(ck_built.data_dir_root) / "downloads" / "manual" / "ck_plus")
  finally:
    path.write_text(saved)


# Shared pieces, without a build.
def test_subject_numbers_stay_int32_and_ascii():
  assert manual_datasets.subject_number("S005") == 5
  for name in ("S²", "S99999999999"):  # "²".isdigit() is True; 99999999999 > int32
    number = manual_datasets.subject_number(name)
    assert 0 <= number < 2**31 and number == manual_datasets.subject_number(name)


def test_degenerate_shipped_landmarks_are_never_used():
  photo = np.full((96, 96, 3), 128, np.uint8)  # no face for dlib to find
  for points in (np.zeros((68, 2)), np.full((68, 2), 40.0)):
    landmarks, reason = faces.preprocessing.checked_landmarks(photo, points)
    assert landmarks is None and reason.startswith("shipped landmarks lie on no face")


def test_face_files_read_windows_text_and_refuse_huge_or_bombed_files(tmp_path, monkeypatch):
  points = np.stack([np.arange(68.0), np.arange(68.0) + 0.5], axis=1)
  text = tmp_path / "points.txt"
  text.write_text("".join(f"{x}, {y}\n" for x, y in points))
  windows_text(text)
  np.testing.assert_allclose(face_files.load_landmarks(text), points)
  text.write_bytes("".join(f"{x} {y}\r\n" for x, y in points).encode("utf-16"))
  np.testing.assert_allclose(face_files.load_landmarks(text), points)
  # A .npy whose header declares 160 GB: refused from the header, nothing allocated.
  huge = tmp_path / "huge.npy"
  with open(huge, "wb") as f:
    np.lib.format.write_array_header_1_0(
        f, {"descr": "<f8", "fortran_order": False, "shape": (10**10, 2)})
  with pytest.raises(UserError, match=r"shape \(10000000000, 2\)") as info:
    face_files.load_landmarks(huge)
  assert "\n" not in str(info.value)
  Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "bomb.png")
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 400 px is over twice the limit
  with pytest.raises(UserError, match="over the .* limit Pillow opens") as info:
    face_files.load_face_image(tmp_path / "bomb.png", 32)
  assert "\n" not in str(info.value)


class _BadDtypeState:
  """Pickles as numpy.dtype('f8') given a state of the wrong shape (6 fields, not 8): numpy
  applies it unchecked and an array on that dtype crashes the interpreter."""

  def __reduce__(self):
    return np.dtype, ("f8", False, True), (3, "<", None, -1, -1, 0)


@pytest.mark.parametrize("data, words", [
    (pickle.dumps({"N_0": [_BadDtypeState()]}, protocol=2), "refusing a float64 dtype state"),
    # BYTEARRAY8 declaring 4 GiB in a 20-byte file: refused before Python allocates it.
    (b"\x80\x05\x96" + (2**32).to_bytes(8, "little") + b"xxxxxxxx.", "a bytearray of 4294967296"),
    # a module name holding a newline stays on one line
    (b"\x80\x02cnu\nmpy\nndarray\n.", "refused: it asks for"),
])
def test_malformed_label_pickles_are_one_line_and_bounded(data, words):
  with pytest.raises(builders.DatasetError) as info:
    safe_pickle.loads(data, "aus_openface.pkl")
  assert words in str(info.value) and "\n" not in str(info.value)
  # numpy's own float64 descriptor is untouched
  assert np.dtype("f8").itemsize == 8 and np.arange(3.0).sum() == 3.0
