"""TFDS builder for a folder of face photos labelled with OpenFace AU intensities.

GANimation trains on EmotioNet photos whose 17 AU intensities OpenFace estimated. The manual dir
holds ``imgs/`` (the photos, any of jpg / png / ...) and one of three AU sources:

* GANimation's ``aus_openface.pkl``: a pickled dict ``{image id: (17,) AUs}`` (id = file stem),
  with optional ``train_ids.csv`` / ``test_ids.csv`` (one id per line, ``.jpg`` suffix allowed)
  fixing the splits;
* ``openface/<image stem>.csv`` per photo, as OpenFace's ``FaceLandmarkImg`` writes them (one row
  per face; photos with several faces are skipped, like ``fxs_jax.faces.preprocess`` does);
* one ``openface/*.csv`` with a ``frame`` column, as ``FeatureExtraction -fdir imgs`` writes it:
  frame k is the k-th photo of ``imgs/`` in sorted order; rows with ``success`` 0 are skipped.

OpenFace columns are read by header name (``AU01_r`` ... ``AU45_r``, :data:`fxs_jax.facs.AU_NAMES`
plus ``_r``; the spaces OpenFace writes after commas are tolerated); its landmarks ``x_0..x_67``,
``y_0..y_67`` are used for the crop when present, else dlib finds the face (also when OpenFace
wrote NaN there). The CSVs may be saved with a byte-order mark or Windows line endings.

A bad label leaves out only its photo, listed in ``skipped.txt`` / ``skipped.json`` with the file,
line and column and what is wrong: a blank or non-numeric cell, a non-finite AU, a CSV that is
empty or lacks the AU columns, a pickle entry that is not 17 finite numbers. The build fails only
when no photo is left.

``aus_openface.pkl`` is read by :mod:`fxs_jax.data.safe_pickle`, a restricted unpickler:
GANimation's own file (Python 2, names as byte strings, float64 arrays) loads as it is, and a
pickle asking for anything but names and numbers or arrays is refused before it can run code.

The photos are face crops already: they are framed ``face_crop`` (:mod:`fxs_jax.faces.framing`:
the whole photo, scaled, as GANimation resized them; ``config.data.framing`` picks another).

Labels: ``aus`` as given (0-5, clipped). EmotioNet has no emotion label here, so by convention
``emotion`` is the :data:`fxs_jax.facs.EMOTIONS` class whose EMFACS prototype is nearest
(Euclidean) to the photo's AUs: derived, not annotated; do not score an emotion classifier on it.
There are no subject ids either: ``identity`` is the photo's index in the sorted ``imgs/`` list,
and without id files the last 15% of the sorted photos are the test split (photos of one person
may then fall in both splits). Validation is carved out of train, test unchanged: the last train
photos, 15% of all photos (with id files, out of ``train_ids.csv``'s).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from fxs_jax import faces
from fxs_jax import facs
from fxs_jax.data import label_files
from fxs_jax.data import manual_datasets
from fxs_jax.data import safe_pickle
from fxs_jax.data.label_files import BadLabel
from fxs_jax.errors import DatasetError

AU_COLUMNS = tuple(f"{name}_r" for name in facs.AU_NAMES)
LANDMARK_COLUMNS = tuple(f"x_{i}" for i in range(68)) + tuple(f"y_{i}" for i in range(68))
NO_FACE = "no face"  # a FeatureExtraction row whose success is 0
PROTOTYPES = np.stack([facs.emotion_aus(e) for e in facs.EMOTIONS])


def nearest_emotion(aus) -> str:
  """The emotion whose EMFACS prototype is nearest to ``aus`` (the labelling convention)."""
  distances = np.linalg.norm(PROTOTYPES - np.asarray(aus, np.float32)[None], axis=1)
  return facs.EMOTIONS[int(np.argmin(distances))]


class OpenFaceRow(dict):
  """One row of an OpenFace CSV, ``{column: str}``, knowing its file and line for error messages."""

  def __init__(self, cells: dict, path: Path, line: int, index: int):
    super().__init__(cells)
    self.path, self.line, self.index = path, line, index

  def number(self, column: str, finite: bool = False) -> float:
    """The cell as a float.

    Raises:
      BadLabel: naming the line, data row and column of a blank or non-numeric cell (or a
        non-finite one when ``finite``).
    """
    text = self[column]
    try:
      value = float(text)
    except ValueError:
      value = None
    if value is None or (finite and not np.isfinite(value)):
      kind = "a finite number" if finite else "a number"
      problem = "is blank" if not text else f"holds {label_files.shown(text)}, not {kind}"
      raise BadLabel(f"line {self.line} (data row {self.index}), column {column} {problem}; "
                     "re-run OpenFace on that photo or fix the cell", self.line, column)
    return value


def csv_header(path: Path) -> list[str] | None:
  """The column names of a CSV, or None when it cannot be read as one."""
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      return [name.strip() for name in next(csv.reader(f), [])]
  except (OSError, ValueError, csv.Error):
    return None


def iter_openface_csv(path: Path) -> Iterator[OpenFaceRow]:
  """Rows of an OpenFace CSV as :class:`OpenFaceRow` with names and values stripped, one at a
  time (a FeatureExtraction CSV of a large folder is not held in memory).

  Raises:
    BadLabel: the file is unreadable or empty, not UTF-8 text, not CSV at some line, or its
      header lacks AU columns.
  """
  line = 1
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      reader = csv.DictReader(f)
      header = [name.strip() for name in reader.fieldnames or []]
      if not header:
        raise BadLabel("empty OpenFace CSV (no header line); re-run OpenFace on the photo")
      missing = [c for c in AU_COLUMNS if c not in header]
      if missing:
        raise BadLabel(f"OpenFace CSV lacks the columns {', '.join(missing)}; run OpenFace with "
                       "AU intensities (-aus) so that it writes AU01_r..AU45_r", line=1)
      for index, row in enumerate(reader, start=1):
        line = reader.line_num
        cells = {k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        yield OpenFaceRow(cells, path, line, index)
  except OSError as e:
    raise BadLabel(f"cannot be read: {label_files.one_line(e.strerror or e)}") from e
  except UnicodeDecodeError as e:
    bad = label_files.first_undecodable_line(path)
    raise BadLabel(f"line {bad} is not UTF-8 text; save the CSV as plain text", bad) from e
  except csv.Error as e:
    raise BadLabel(f"line {line + 1} is not CSV ({label_files.one_line(e)})", line + 1) from e


def row_aus(row: OpenFaceRow) -> np.ndarray:
  """The row's 17 AU intensities, clipped to 0-5 (a blank, non-numeric or non-finite cell is a
  :class:`BadLabel`)."""
  aus = np.asarray([row.number(c, finite=True) for c in AU_COLUMNS], np.float32)
  return np.clip(aus, 0.0, facs.AU_MAX)


def row_landmarks(row: OpenFaceRow) -> np.ndarray | None:
  """The row's 68 (x, y) landmarks, or None when the CSV has none or OpenFace wrote NaNs."""
  if not all(c in row for c in LANDMARK_COLUMNS):
    return None
  values = np.asarray([row.number(c) for c in LANDMARK_COLUMNS], np.float64)
  if not np.all(np.isfinite(values)):
    return None  # dlib finds the face instead
  return np.stack([values[:68], values[68:]], axis=1)


def photo_label(path: Path) -> tuple[np.ndarray, np.ndarray | None] | faces.Skip:
  """(AUs, landmarks or None) of a FaceLandmarkImg CSV of one photo, or why not."""
  rows = list(iter_openface_csv(path))
  if len(rows) != 1:
    return faces.Skip(f"{len(rows)} faces in the OpenFace CSV (expected one)")
  return row_aus(rows[0]), row_landmarks(rows[0])


def pickled_aus(image_id, aus) -> np.ndarray:
  """One entry of ``aus_openface.pkl`` as (17,) float32 AUs clipped to 0-5.

  Raises:
    BadLabel: naming the entry, when it is not 17 finite numbers.
  """
  try:
    aus = np.asarray(aus, np.float32)
  except (TypeError, ValueError, OverflowError) as e:
    raise BadLabel(f"entry {image_id!r} is not numbers ({label_files.one_line(e)}); give each "
                   f"photo its {facs.NUM_AUS} AU intensities") from e
  if aus.shape != (facs.NUM_AUS,):
    raise BadLabel(f"entry {image_id!r} has shape {aus.shape}, not ({facs.NUM_AUS},); give each "
                   f"photo the 17 AUs in the order {', '.join(facs.AU_NAMES)}")
  if not np.all(np.isfinite(aus)):
    raise BadLabel(f"entry {image_id!r} holds NaN or infinite AUs; re-run OpenFace on that "
                   "photo or drop the entry")
  return np.clip(aus, 0.0, facs.AU_MAX)


def image_stem(image_id) -> str:
  """A pickle key as the photo's file stem.

  Python 2 wrote a name as its bytes; read with latin-1 (see :mod:`fxs_jax.data.safe_pickle`)
  they come out as a ``str`` of one character per byte, so a UTF-8 name (``"Ñ"``: 2 bytes) is
  mended back. A ``str`` that is no such byte string is a real name and is kept.
  """
  if isinstance(image_id, bytes):
    try:
      return Path(image_id.decode("utf-8")).stem
    except UnicodeDecodeError:
      return Path(image_id.decode("latin1")).stem
  name = str(image_id)
  try:
    name = name.encode("latin1").decode("utf-8")
  except UnicodeError:  # a character above U+00FF, or bytes that are not UTF-8: a real name
    name = str(image_id)
  return Path(name).stem


def _read_ids(path: Path) -> set[str]:
  """The photo stems of a GANimation id file (one per line, ``.jpg`` suffix allowed)."""
  try:
    text = label_files.read_text(path)
  except BadLabel as e:
    raise DatasetError(f"au_faces: {path}: {e.reason}; it fixes which photos are test photos, "
                       "so the build stops: repair it, or delete both id files to split by "
                       "photo order.") from e
  ids = set()
  for name in text.split():
    ids.add(Path(name).stem if Path(name).suffix.lower() in manual_datasets.IMAGE_SUFFIXES
            else name)
  return ids


class Builder(manual_datasets.ManualDatasetBuilder):
  """Face photos + OpenFace AU intensities (EmotioNet as GANimation uses it)."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "A validation split of photos carved out of train (test unchanged)."}
  HOMEPAGE = "https://github.com/albertpumarola/GANimation"
  REQUIRED_PATHS = ("imgs",)
  MANUAL_LAYOUT = ("imgs/ (the photos) and aus_openface.pkl, or openface/<image stem>.csv per "
                   "photo, or one openface/*.csv with a frame column")
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the face photos in <manual dir>/imgs/ and their AUs beside them: GANimation's
  aus_openface.pkl (+ train_ids.csv / test_ids.csv), or OpenFace's CSVs in <manual dir>/openface/
  (FaceLandmarkImg: one CSV per photo; FeatureExtraction -fdir imgs: one CSV with a frame column).
  EmotioNet is requested from its authors (https://cbcsl.ece.ohio-state.edu/dbform_emotionet.html).
  Pass the folder as the manual dir (or $FXS_JAX_MANUAL_DIR/au_faces). The files are only read.
  """
  BUILDER_CONFIGS = [
      manual_datasets.ManualConfig(name="stills_128", description="128 px crops."),
      manual_datasets.ManualConfig(name="stills_64", description="64 px crops.", image_size=64),
      manual_datasets.ManualConfig(name="smoke", description="32 px crops (tests).",
                                   image_size=32),
  ]
  DEFAULT_CONFIG_NAME = "stills_128"
  # GANimation's photos are EmotioNet face crops, resized as they were: keep the face filling them.
  FRAMING = "face_crop"

  def check_manual_dir(self, manual_dir):
    manual_dir = super().check_manual_dir(manual_dir)
    if not ((manual_dir / "aus_openface.pkl").is_file()
            or list((manual_dir / "openface").glob("*.csv"))):
      raise DatasetError(f"au_faces: {manual_dir / 'aus_openface.pkl'} is missing and "
                         f"{manual_dir / 'openface'} holds no CSV; the manual folder must hold "
                         f"{self.MANUAL_LAYOUT}.")
    return manual_dir

  def _find_examples(self, manual_dir: Path) -> list[manual_datasets.Example]:
    images = manual_datasets.find_files(manual_dir / "imgs")
    if (manual_dir / "aus_openface.pkl").is_file():
      labels = self._from_pickle(manual_dir)
    else:
      csvs = sorted((manual_dir / "openface").glob("*.csv"))
      # FeatureExtraction's CSV has a frame column; FaceLandmarkImg's, one per photo, do not.
      # The first CSV with a readable header tells which (an unreadable one is skipped later).
      first, header = next(((p, h) for p, h in zip(csvs, map(csv_header, csvs)) if h),
                           (csvs[0], []))
      if "frame" in header:
        labels = self._from_feature_extraction(first, images)
      else:
        labels = self._from_face_landmark_img(csvs)
    examples = []
    for identity, path in enumerate(images):
      if path.stem not in labels:
        self.skip(path, "no AU label for this photo")
        continue
      if labels[path.stem] is None:  # its label was bad: reported with the label file
        continue
      aus, landmarks = labels[path.stem]
      examples.append(manual_datasets.Example(
          key=path.stem, identity=identity, paths=[path], emotion=nearest_emotion(aus), aus=aus,
          landmarks=None if landmarks is None else [landmarks]))
    self._assign_splits(manual_dir, examples)
    return examples

  def _from_pickle(self, manual_dir: Path) -> dict:
    """{photo stem: (AUs, None)}, or None for an entry skipped as bad."""
    path = manual_dir / "aus_openface.pkl"
    table = safe_pickle.load(path)  # Python 2 or 3; refuses anything but names and arrays
    if not isinstance(table, dict):
      raise DatasetError(f"au_faces: {path} holds a {type(table).__name__}, not a dict "
                         "{image id: 17 AUs}; use GANimation's aus_openface.pkl or OpenFace's "
                         "CSVs.")
    labels = {}
    for image_id, aus in table.items():
      aus = self.read_label(path, pickled_aus, image_id, aus)
      labels[image_stem(image_id)] = None if aus is None else (aus, None)
    return labels

  def _from_face_landmark_img(self, csvs: list[Path]) -> dict:
    """{photo stem: (AUs, landmarks or None)}, or None for a CSV skipped as bad."""
    return {path.stem: self.read_label(path, photo_label, path) for path in csvs}

  def _from_feature_extraction(self, path: Path, images: list[Path]) -> dict:
    """{photo stem: (AUs, landmarks or None)}, or None for a photo whose row was bad or that
    has several rows (several faces); frame k is the k-th photo of ``images``."""
    labels, first_line = {}, {}
    try:
      for row in iter_openface_csv(path):
        image = self.read_label(path, _frame_photo, row, images)
        if image is None:
          continue
        if image.stem in first_line:  # a second face in that photo
          if labels.get(image.stem) is not None:
            self.skip(image, f"several faces in {path.name} (lines {first_line[image.stem]} and "
                             f"{row.line}; expected one)")
          labels[image.stem] = None
          continue
        first_line[image.stem] = row.line
        label = self.read_label(path, _frame_label, row, image)
        if label == NO_FACE:
          self.skip(image, "OpenFace found no face (success 0)")
        labels[image.stem] = None if label == NO_FACE else label
    except BadLabel as e:  # the header, or a line the csv module cannot split
      self.skip(path, e.reason, e.line, e.column)
    return labels

  def _assign_splits(self, manual_dir: Path, examples: list) -> None:
    """GANimation's id files, when present, fix each photo's split."""
    files = [manual_dir / "train_ids.csv", manual_dir / "test_ids.csv"]
    if not all(f.is_file() for f in files):
      return
    train, test = (_read_ids(f) for f in files)
    for example in examples:
      example.split = "train" if example.key in train else "test" if example.key in test else None
      if example.split is None:
        self.skip(example.paths[0], "in neither train_ids.csv nor test_ids.csv")
    examples[:] = [e for e in examples if e.split is not None]


def _frame_label(row: OpenFaceRow, image: Path
                 ) -> tuple[np.ndarray, np.ndarray | None] | str:
  """(AUs, landmarks or None) of a FeatureExtraction row, or :data:`NO_FACE` (``success`` 0).

  Raises:
    BadLabel: a bad cell; the reason also names the photo.
  """
  try:
    if "success" in row and row.number("success", finite=True) == 0:
      return NO_FACE
    return row_aus(row), row_landmarks(row)
  except BadLabel as e:
    raise BadLabel(f"{e.reason} (photo imgs/{image.name})", e.line, e.column) from e


def _frame_photo(row: OpenFaceRow, images: list[Path]) -> Path:
  """The photo of a FeatureExtraction row: its ``frame`` (1-based) in the sorted ``imgs/``."""
  frame = row.number("frame", finite=True)
  if not (frame == round(frame) and 1 <= frame <= len(images)):
    raise BadLabel(f"line {row.line}: frame {frame:g} has no photo (imgs/ holds {len(images)})",
                   row.line, "frame")
  return images[int(frame) - 1]
