"""The AU-faces builder on its three dummy layouts (GANimation pickle, OpenFace per-photo and
per-folder CSVs): labels, splits, skips, one-line errors, rebuilds, a GANimation `:smoke` step;
GANimation's Python 2 pickle, a pickle that would run code, bad OpenFace cells."""

import json
import pickle
import shlex

import numpy as np
import pytest

from configs import ganimation as ganimation_config
from fxs_jax import facs
from fxs_jax import run
from fxs_jax.data import builders
from tests.datasets.helpers import DATASETS
from tests.datasets.helpers import SPLITS
from tests.datasets.helpers import set_csv_cell
from tests.datasets.helpers import read_split
from tests.datasets.helpers import read_splits
from tests.fixtures.py2_pickle import dumps_py2
from tests.fixtures.py2_pickle import dumps_py2_malicious

DUMMY = DATASETS / "au_faces" / "dummy_data"
NAME = "au_faces/smoke"


def _build(tmp_path, layout):
  return builders.prepare(NAME, str(tmp_path / f"tfds_{layout}"), manual_dir=str(DUMMY / layout))


def _skipped(builder):
  report = json.loads((builder.data_path / "skipped.json").read_text())
  return {item["file"]: item["reason"] for item in report["skipped"]}


def _pickled_aus():
  with open(DUMMY / "ganimation" / "aus_openface.pkl", "rb") as f:
    return pickle.load(f)


def test_ganimation_pickle_with_id_files(tmp_path):
  builder = _build(tmp_path, "ganimation")
  rows = read_splits(builder)
  # The id files: N_..2-3 test (with or without validation); train C_0000000000 (corrupt,
  # skipped), N_..0, N_..1, N_..4 and N_..5, whose last two (ceil(0.15 x 7 photos)) are carved
  # out as validation.
  assert [[int(r["identity"]) for r in rows[s]] for s in SPLITS] == [[1, 2], [5, 6], [3, 4]]
  table = _pickled_aus()
  for row in sum(rows.values(), []):
    name = sorted(table)[int(row["identity"])]  # identity: the index in the sorted imgs/
    np.testing.assert_allclose(row["aus"], table[name], rtol=1e-6)
    # The emotion convention: the nearest EMFACS prototype (SynthFaces drew these emotions).
    assert facs.EMOTIONS[int(row["emotion"])] == (
        "happy", "sad", "surprised", "angry", "happy", "surprised")[int(row["identity"]) - 1]
    assert row["image"].shape == (32, 32, 3) and row["landmarks"].shape == (68, 2)
  assert _skipped(builder)["imgs/C_0000000000.jpg"].startswith("unreadable")


@pytest.mark.parametrize("layout,reason", [
    ("openface_images", ("openface/N_0000000001.csv", "2 faces in the OpenFace CSV")),
    ("openface_video", ("imgs/N_0000000001.jpg", "OpenFace found no face (success 0)")),
])
def test_openface_csvs_read_by_header(tmp_path, layout, reason):
  builder = _build(tmp_path, layout)
  rows = read_splits(builder)
  # 6 labelled photos (N_..1's label is bad): the last test, the one before it validation.
  assert [[int(r["identity"]) for r in rows[s]] for s in SPLITS] == [[1, 3, 4], [5], [6]]
  table = _pickled_aus()  # the same AUs as the pickle, written as "AU01_r, ..." columns
  np.testing.assert_allclose(rows["test"][0]["aus"], table["N_0000000005"], atol=0.006)
  skipped = _skipped(builder)
  assert skipped["imgs/C_0000000000.jpg"].startswith("unreadable")
  assert skipped[reason[0]].startswith(reason[1]) and len(skipped) == 2


def test_bad_au_sources_skip_their_photo(tmp_path, dummy_copy):
  manual = dummy_copy("au_faces")
  csv = manual / "openface_images" / "openface" / "N_0000000000.csv"
  header, *rows = csv.read_text().splitlines()
  csv.write_text("\n".join([header.replace(", AU04_r", ", AU04_x")] + rows) + "\n")
  skipped = _skipped(builders.prepare(NAME, str(tmp_path / "a"),
                                      manual_dir=str(manual / "openface_images")))
  assert skipped["openface/N_0000000000.csv"].startswith("OpenFace CSV lacks the columns AU04_r;")
  table = _pickled_aus()
  table["N_0000000002"] = table["N_0000000002"][:16]
  with open(manual / "ganimation" / "aus_openface.pkl", "wb") as f:
    pickle.dump(table, f)
  skipped = _skipped(builders.prepare(NAME, str(tmp_path / "b"),
                                      manual_dir=str(manual / "ganimation")))
  assert skipped["aus_openface.pkl"].startswith("entry 'N_0000000002' has shape (16,)")
  with pytest.raises(builders.DatasetError, match="imgs is missing.*aus_openface.pkl"):
    builders.prepare(NAME, str(tmp_path / "c"), manual_dir=str(manual))


def test_ganimation_python2_pickle(tmp_path, dummy_copy):
  """GANimation's own aus_openface.pkl is a Python 2 pickle of float64 arrays: the AUs arrive
  exactly (as float32), and a UTF-8 photo name, stored by Python 2 as raw bytes, still matches."""
  manual = dummy_copy("au_faces") / "ganimation"
  (manual / "imgs" / "N_0000000003.jpg").rename(manual / "imgs" / "Ñ_0000000003.jpg")
  ids = manual / "test_ids.csv"
  ids.write_text(ids.read_text().replace("N_0000000003", "Ñ_0000000003"))
  # float64 AUs that float32 cannot hold exactly: the builder's rounding is the one expected.
  aus64 = {name: aus.astype(np.float64) + 1e-9 for name, aus in _pickled_aus().items()}
  aus64["Ñ_0000000003"] = aus64.pop("N_0000000003")
  (manual / "aus_openface.pkl").write_bytes(dumps_py2(aus64))
  builder = builders.prepare(NAME, str(tmp_path / "tfds"), manual_dir=str(manual))
  rows = sum(read_splits(builder).values(), [])
  assert sorted(int(r["identity"]) for r in rows) == [1, 2, 3, 4, 5, 6]
  for row in rows:
    name = sorted(aus64)[int(row["identity"])]  # "Ñ" sorts after "N": the last photo
    expected = np.clip(aus64[name].astype(np.float32), 0.0, facs.AU_MAX)
    np.testing.assert_array_equal(row["aus"], expected)


def test_pickle_that_runs_code_is_refused(tmp_path, dummy_copy):
  manual = dummy_copy("au_faces") / "ganimation"
  marker = tmp_path / "ran"
  (manual / "aus_openface.pkl").write_bytes(
      dumps_py2_malicious(f"touch {shlex.quote(str(marker))}"))
  with pytest.raises(builders.DatasetError) as info:
    builders.prepare(NAME, str(tmp_path / "tfds"), manual_dir=str(manual))
  message = str(info.value)
  assert message.startswith(f"{manual / 'aus_openface.pkl'}: refused: it asks for posix.system,")
  assert "\n" not in message and "EmotioNet" not in message and "manual folder" not in message
  assert not marker.exists()


@pytest.mark.parametrize("error,instructions", [
    (ValueError("a bad\nvalue"), False), (RuntimeError(), False),
    (FileNotFoundError(2, "No such file or directory"), True),  # its filename: in the folder
])
def test_build_failures_name_their_cause(tmp_path, monkeypatch, error, instructions):
  """A failure inside the build is one line with its cause; the download instructions come only
  with a file of the download that is missing (the layout's own errors already say it)."""
  manual = DUMMY / "ganimation"
  if isinstance(error, FileNotFoundError):
    error.filename = str(manual / "imgs" / "gone.jpg")

  def fail(self, manual_dir):
    raise error

  monkeypatch.setattr(builders.builder_class("au_faces"), "_find_examples", fail)
  with pytest.raises(builders.DatasetError) as info:
    builders.prepare(NAME, str(tmp_path / "tfds"), manual_dir=str(manual))
  cause = {ValueError: "a bad value", RuntimeError: "RuntimeError"}.get(type(error), str(error))
  message = str(info.value)
  assert message.startswith(f"Could not prepare {NAME} from {manual}: {cause}")
  assert "\n" not in message and ("EmotioNet is requested" in message) == instructions


@pytest.mark.parametrize("layout,csv,line,column,value,problem", [
    ("openface_images", "N_0000000002.csv", 2, "AU04_r", "", "is blank"),
    ("openface_images", "N_0000000002.csv", 2, "AU12_r", "n/a", "holds 'n/a', not a finite number"),
    ("openface_images", "N_0000000003.csv", 2, "y_30", "-", "holds '-', not a number"),
    ("openface_video", "imgs.csv", 4, "frame", "three", "holds 'three', not a finite number"),
    ("openface_video", "imgs.csv", 5, "AU45_r", " ", "is blank"),
])
def test_bad_openface_cells_skip_their_photo(tmp_path, dummy_copy, layout, csv, line, column,
                                             value, problem):
  manual = dummy_copy("au_faces") / layout
  set_csv_cell(manual / "openface" / csv, line, column, value)
  builder = builders.prepare(NAME, str(tmp_path / "tfds"), manual_dir=str(manual))
  report = json.loads((builder.data_path / "skipped.json").read_text())
  item = next(i for i in report["skipped"] if i.get("line") == line)
  assert (item["file"], item["column"]) == (f"openface/{csv}", column)
  assert item["reason"].startswith(
      f"line {line} (data row {line - 1}), column {column} {problem}; re-run OpenFace on that "
      "photo or fix the cell")


def test_rebuild_picks_up_an_added_photo(tmp_path, dummy_copy):
  manual = dummy_copy("au_faces") / "openface_images"
  data_dir = str(tmp_path / "tfds")
  train = read_split(builders.prepare(NAME, data_dir, manual_dir=str(manual)), "train")
  assert [int(r["identity"]) for r in train] == [1, 3, 4]
  # N_0000000001's CSV is fixed to one face: the photo joins the train split (7 labelled photos:
  # 2 test, 2 validation: N_..3 and N_..4).
  csv = manual / "openface" / "N_0000000001.csv"
  csv.write_text("\n".join(csv.read_text().splitlines()[:2]) + "\n")
  train = read_split(builders.prepare(NAME, data_dir), "train")
  assert [int(r["identity"]) for r in train] == [1, 2]


def test_ganimation_smoke_step_trains_on_au_faces(tmp_path):
  config = ganimation_config.get_config("smoke")
  config.data.name = NAME
  config.data.data_dir = str(tmp_path / "tfds")
  builders.prepare(NAME, config.data.data_dir, manual_dir=str(DUMMY / "ganimation"))
  run.run(config, str(tmp_path / "workdir"), "train")
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()
