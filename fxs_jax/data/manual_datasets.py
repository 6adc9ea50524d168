"""Shared plumbing of the TFDS builders that read a user's own download (RaFD, CK+, AU faces).

None of these datasets may be downloaded by code (licences), so each builder reads TFDS's
``manual_dir`` laid out exactly as the dataset unpacks. A builder subclasses
:class:`ManualDatasetBuilder` and only says how to find its examples (:meth:`_find_examples`);
this module checks the folder, crops every face with :func:`fxs_jax.faces.preprocess` (shipped
landmarks when the dataset has them, else dlib), writes the SynthFaces feature layout, splits by
subject and reports every skipped image.

Splits, subject-disjoint (:func:`fxs_jax.data.manual_folders.split_by_subject`): test the last
subjects (or the download's own test split); validation carved out of the train subjects, test
untouched. A download too small for three subject groups is built with train and test only;
asking it for validation is a one-line :class:`MissingSplitError` with the counts and the fix.

Every file of the download is read and converted inside a per-file guard (:meth:`read_label`,
:meth:`_crop`): a bad label file or photo is skipped, never the build. Beside the built dataset
(``builder.data_dir``) it writes ``skipped.json`` / ``skipped.txt`` (every skipped file, relative to
the manual dir, with its reason and, for a bad label, its line and column;
:mod:`fxs_jax.data.build_report`) and ``manual_fingerprint.json`` (the manual dir and a hash of
its file list, sizes and mtimes), which :func:`fxs_jax.data.builders.prepare` compares to rebuild
when files were added or changed. A build fails only when nothing usable remains, with one line
naming the folder, the number of files skipped and the report. The manual dir is only ever read.

Feature layout (shared with SynthFaces, so a model switches dataset with ``config.data.name``):
stills: ``image`` (S, S, 3) uint8, ``landmarks`` (68, 2) float32 crop pixels, ``aus`` (17,)
float32 0-5, ``emotion`` ClassLabel over :data:`fxs_jax.facs.EMOTIONS`, ``identity`` int32;
sequences: ``frames`` (T, S, S, 3), ``landmarks`` (T, 68, 2), ``aus`` (T, 17), ``emotion``,
``identity``; transfer (expression-transfer triples picked by the builder's ``TRANSFER_PAIRS``,
:mod:`fxs_jax.data.transfer_pairs`, within each split): ``source_image`` / ``source_landmarks``
(subject A with the expression), ``target_image`` / ``target_landmarks`` (subject B, neutral),
``image`` / ``landmarks`` (B photographed with A's expression: the truth), ``aus`` and
``emotion`` (the source's), ``identity`` (B) and ``source_identity`` (A).
"""

from __future__ import annotations

import abc
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax import faces
from fxs_jax.data import build_report
from fxs_jax.data import label_files
from fxs_jax.data import transfer_pairs
# The download folder's helpers, used by every builder as manual_datasets.<name>.
from fxs_jax.data.manual_folders import IMAGE_SUFFIXES  # pylint: disable=unused-import
from fxs_jax.data.manual_folders import MAX_IDENTITY  # pylint: disable=unused-import
from fxs_jax.data.manual_folders import find_files  # pylint: disable=unused-import
from fxs_jax.data.manual_folders import fingerprint
from fxs_jax.data.manual_folders import require_layout
from fxs_jax.data.manual_folders import resample_indices
from fxs_jax.data.manual_folders import subject_number  # pylint: disable=unused-import
from fxs_jax.data.manual_folders import split_by_subject
from fxs_jax.data.synth_faces_examples import png_bytes
from fxs_jax.errors import DatasetError
from fxs_jax.errors import UserError

FINGERPRINT_FILE = "manual_fingerprint.json"
SKIP_FILES = build_report.REPORT_FILES
# What converting one file's content may raise besides label_files.BadLabel (bad numbers, shapes,
# encodings, a file vanishing mid-build): caught per file, the file skipped and reported.
CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, IndexError, KeyError, OSError,
                     EOFError, MemoryError)
NUM_LANDMARKS = 68


class MissingSplitError(DatasetError, KeyError):
  """A split the dataset was built without, with why and the fix; a KeyError too, as TFDS
  raises for a split it does not know."""

  def __str__(self) -> str:
    return Exception.__str__(self)  # KeyError's would quote the message


@dataclasses.dataclass
class ManualConfig(tfds.core.BuilderConfig):
  """What to build from the manual download: crop size, stills or sequences, frames per clip."""

  image_size: int = 128  # the papers crop faces to 128 px
  kind: str = "stills"  # "stills", "sequences" or "transfer"
  num_frames: int = 16  # sequences: neutral -> apex resampled to this many frames
  test_fraction: float = 0.15  # of the sorted subjects, the last ones form the test split
  # of all subjects, carved out of the end of the sorted train ones; None: test_fraction
  validation_fraction: float | None = None
  partners: int = 1  # transfer: target subjects drawn per source image
  framing: str = ""  # fxs_jax.faces.framing preset; "" = the builder's FRAMING


@dataclasses.dataclass
class Example:
  """One still (one path) or one clip (neutral -> apex paths) before face cropping.

  ``aus`` is the apex (17,) 0-5 vector; a clip's AUs ramp linearly from 0 at its first frame to
  ``aus`` at its last. ``landmarks`` are the dataset's own (68, 2) photo-pixel landmarks per path,
  or None to detect them with dlib.
  """

  key: str
  identity: int
  paths: list[Path]
  emotion: str
  aus: np.ndarray
  landmarks: list[np.ndarray] | None = None
  split: str | None = None  # "train" / "test" fixed by the dataset; None: by subject
  # transfer: the pairing function's extra record keys (RaFD gaze / angle, CK+ sequence / frame)
  pairing: dict[str, Any] = dataclasses.field(default_factory=dict)


TRANSFER_DESCRIPTION = "expression-transfer triples (source, neutral target, truth)"


def clip_configs(stills: bool = True, transfer: bool = False) -> list[ManualConfig]:
  """The configs of a clip dataset: (stills_128, stills_64,) sequences_128, sequences_64,
  (transfer_128, transfer_64,) and the 32 px ``*_smoke`` ones for tests (clips of 8 frames;
  transfer_smoke with half the subjects in test, so both splits have pairs)."""
  configs = []
  kinds = ("stills",) * stills + ("sequences",) + ("transfer",) * transfer
  what = {"stills": "first (neutral) and apex frames", "sequences": "neutral -> apex clips",
          "transfer": TRANSFER_DESCRIPTION}
  for size in (128, 64):
    for kind in kinds:
      configs.append(ManualConfig(name=f"{kind}_{size}", description=f"{size} px {what[kind]}.",
                                  image_size=size, kind=kind))
  for kind in kinds:
    configs.append(ManualConfig(name=f"{kind}_smoke", description="32 px (tests).",
                                image_size=32, kind=kind, num_frames=8,
                                test_fraction=0.5 if kind == "transfer" else 0.15))
  return configs


def first_and_last(clip: Example) -> list[Example]:
  """A clip's first frame (``neutral``, zero AUs) and its last, apex frame (the clip's labels)."""
  lms = clip.landmarks
  neutral = Example(key=f"{clip.key}_first", identity=clip.identity, paths=clip.paths[:1],
                    emotion="neutral", aus=np.zeros(facs.NUM_AUS, np.float32),
                    landmarks=lms[:1] if lms else None)
  apex = Example(key=f"{clip.key}_peak", identity=clip.identity, paths=clip.paths[-1:],
                 emotion=clip.emotion, aus=clip.aus, landmarks=lms[-1:] if lms else None)
  return [neutral, apex]


class ManualDatasetBuilder(tfds.core.GeneratorBasedBuilder):
  """A builder over a manual download; subclasses define :meth:`_find_examples` and the layout.

  Subclasses set ``MANUAL_LAYOUT`` (one line: what the manual folder holds),
  ``REQUIRED_PATHS`` (relative paths that must exist) and ``MANUAL_DOWNLOAD_INSTRUCTIONS``.
  """

  MANUAL_LAYOUT = ""
  REQUIRED_PATHS: tuple[str, ...] = ()
  # How the dataset's paper framed its faces (fxs_jax.faces.framing); a config may override it.
  FRAMING = "face_box"
  # records -> Triple list (fxs_jax.data.transfer_pairs); None: the dataset has no transfer configs
  TRANSFER_PAIRS: Callable[..., list[transfer_pairs.Triple]] | None = None

  @abc.abstractmethod
  def _find_examples(self, manual_dir: Path) -> list[Example]:
    """Every example of the manual folder; call :meth:`skip` for files that cannot be used."""

  def skip(self, path: Path | str, reason: str, line: int | None = None,
           column: str | None = None) -> None:
    """Records that ``path`` (a file of the manual dir) was left out, and why (one line);
    ``line`` / ``column``: where in it the problem is."""
    self.report.skip(self._relative(path), reason, line, column)

  def read_label(self, path: Path, read: Callable[..., Any], *args) -> Any:
    """``read(*args)``: one file's content converted, or None once the file is skipped, with
    where and why, because ``read`` returned a :class:`fxs_jax.faces.Skip` or raised
    :class:`fxs_jax.data.label_files.BadLabel` or another conversion error."""
    try:
      result = read(*args)
    except label_files.BadLabel as e:
      self.skip(path, e.reason, e.line, e.column)
      return None
    except CONVERSION_ERRORS as e:
      self.skip(path, f"cannot be used ({type(e).__name__}: {label_files.one_line(e)})")
      return None
    if isinstance(result, faces.Skip):
      self.skip(path, result.reason, result.line, result.column)
      return None
    return result

  def check_manual_dir(self, manual_dir: Path | None) -> Path:
    """The manual folder, checked against this dataset's layout (one-line DatasetError)."""
    return require_layout(manual_dir, self.REQUIRED_PATHS, self.name, self.MANUAL_LAYOUT)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    size = cfg.image_size
    image = tfds.features.Image(shape=(size, size, 3))
    common = {"emotion": tfds.features.ClassLabel(names=list(facs.EMOTIONS)),
              "identity": tfds.features.Scalar(dtype=np.int32)}
    landmarks = tfds.features.Tensor(shape=(NUM_LANDMARKS, 2), dtype=np.float32)
    aus = tfds.features.Tensor(shape=(facs.NUM_AUS,), dtype=np.float32)
    if cfg.kind == "stills":
      features = {"image": image, "landmarks": landmarks, "aus": aus, **common}
    elif cfg.kind == "transfer":
      features = {"aus": aus, "source_identity": tfds.features.Scalar(dtype=np.int32), **common}
      for prefix in ("source_", "target_", ""):
        features.update({f"{prefix}image": image, f"{prefix}landmarks": landmarks})
    else:
      t = cfg.num_frames
      features = {
          "frames": tfds.features.Sequence(image, length=t),
          "landmarks": tfds.features.Tensor(shape=(t, NUM_LANDMARKS, 2), dtype=np.float32),
          "aus": tfds.features.Tensor(shape=(t, facs.NUM_AUS), dtype=np.float32), **common}
    return tfds.core.DatasetInfo(
        builder=self, description=self.__doc__,
        features=tfds.features.FeaturesDict(features), disable_shuffling=True,
        homepage=getattr(self, "HOMEPAGE", None),
        metadata=tfds.core.MetadataDict())  # "subjects": per split, written by subject_splits

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    self.report, self._manual_dir = build_report.BuildReport(), None
    super()._download_and_prepare(dl_manager, download_config=download_config, **kwargs)
    self._write_reports(Path(self.data_dir))
    # data_dir is TFDS's temporary build folder, inside the config's folder
    build_report.delete_failed_reports(Path(self.data_dir).parent)

  def _split_generators(self, dl_manager):
    # dl_manager.manual_dir would raise TFDS's multi-line message; check it ourselves.
    manual_dir = dl_manager._manual_dir  # pylint: disable=protected-access
    self._manual_dir = self.check_manual_dir(manual_dir)
    self._fingerprint = fingerprint(self._manual_dir)
    examples = self._find_examples(self._manual_dir)
    if not examples:
      raise self._nothing_usable(
          f"no usable examples in {self._manual_dir}",
          f"fix or replace the skipped files; the folder must hold {self.MANUAL_LAYOUT}"
          if self.report.skipped else f"it must hold {self.MANUAL_LAYOUT}")
    splits = self.subject_splits(examples)
    return {name: self._generate_examples(chosen, name) for name, chosen in splits.items()}

  def subject_splits(self, examples: list[Example]) -> dict[str, list[Example]]:
    """The examples of each split; validation left out, with a warning, when the subjects are
    too few. Records the subject counts in ``info.metadata["subjects"]``."""
    cfg = self.builder_config
    fraction = cfg.test_fraction if cfg.validation_fraction is None else cfg.validation_fraction
    splits, counts = split_by_subject(examples, cfg.test_fraction, fraction,
                                      self._subjects_per_split())
    self.info.metadata["subjects"] = counts
    if "validation" not in splits:
      logging.warning("%s", self._missing_validation())
    return splits

  def _subjects_per_split(self) -> int:
    """The fewest subjects a split can hold: a transfer triple pairs two subjects."""
    return 2 if self.builder_config.kind == "transfer" else 1

  def _missing_validation(self) -> str:
    """Why this build has no validation split (its subject counts), and the fix; one line."""
    cfg, counts = self.builder_config, self.info.metadata.get("subjects", {})
    train, test = counts.get("train", 0), counts.get("test", 0)
    if cfg.validation_fraction == 0:
      why = "its config carves no validation subjects (validation_fraction 0)"
    else:
      why = (f"its {train + test} subjects ({train} train, {test} test) are too few to carve "
             f"validation subjects out of train (each split needs {self._subjects_per_split()})")
    return (f"{self.name}/{cfg.name} has no validation split: {why}; evaluate on test with "
            "--config.data.eval_split=test, or add subjects to the download.")

  def as_data_source(self, split=None, **kwargs):
    """TFDS's, but the validation split of a build without one (too few subjects) is a
    one-line :class:`MissingSplitError` naming the counts and the fix."""
    if (split == "validation" and "validation" not in self.info.splits
        and (self.info.metadata or {}).get("subjects")):
      raise MissingSplitError(self._missing_validation())
    return super().as_data_source(split, **kwargs)

  @property
  def framing(self) -> str:
    """The face framing this build uses: the config's, else the dataset's ``FRAMING``."""
    return self.builder_config.framing or type(self).FRAMING

  def load_photo(self, path: Path) -> np.ndarray | faces.Skip:
    """One photo of the download as (H, W, 3) uint8 RGB, or a :class:`fxs_jax.faces.Skip`;
    a dataset whose photos need converting (e.g. CK+'s few colour frames) overrides this."""
    return faces.load_image(path)

  def note(self, path: Path | str, text: str) -> None:
    """Records something the build did to a kept file (e.g. re-detected its landmarks)."""
    self.report.note(self._relative(path), text)

  def _relative(self, path: Path | str) -> str:
    """``path`` relative to the manual dir (as the reports name files), else as given."""
    try:
      return Path(path).relative_to(self._manual_dir).as_posix()
    except ValueError:
      return str(path)

  def _crop(self, path: Path, landmarks) -> faces.AlignedFace | None:
    """The photo's face crop, or None once :meth:`skip` said why (decoding, landmarks, crop)."""
    try:
      return self.read_label(path, self._crop_or_skip, path, landmarks)
    except UserError as e:  # preprocess's complaint about landmarks it was given
      self.skip(path, f"no face crop: {label_files.one_line(e)}")
      return None

  def _crop_or_skip(self, path: Path, landmarks) -> faces.AlignedFace | faces.Skip:
    photo = self.load_photo(path)
    if isinstance(photo, faces.Skip):
      return photo
    if landmarks is not None:  # the dataset's own: used if they sit on the face dlib finds
      landmarks, problem = faces.preprocessing.checked_landmarks(photo, landmarks)
      if landmarks is None:
        return faces.Skip(problem)
      if problem:
        self.note(path, problem)
    return faces.preprocess(photo, self.builder_config.image_size, landmarks=landmarks,
                            framing=self.framing)

  def _generate_examples(self, examples: list[Example], split: str):
    yielded = 0
    for key, features in self._examples_with_faces(examples):
      yielded += 1
      yield key, features
    if not yielded and self.builder_config.kind == "transfer":
      raise DatasetError(
          f"{self.name}/{self.builder_config.name}: no transfer triple in the {split} split: it "
          "needs two subjects there photographed with the same expression, each also neutral; "
          f"add photos of more subjects to {self._manual_dir}.")
    if not yielded:
      raise self._nothing_usable(f"no {split} example has a usable face in {self._manual_dir}",
                                 "add photos of more subjects or fix the skipped files")

  def _examples_with_faces(self, examples: list[Example]):
    cfg = self.builder_config
    if cfg.kind == "transfer":
      yield from self._transfer_triples(examples)
      return
    for example in examples:
      shipped = example.landmarks or [None] * len(example.paths)
      if cfg.kind == "stills":
        face = self._crop(example.paths[0], shipped[0])
        if face is None:
          continue
        features = {"image": png_bytes(face.image), "landmarks": face.landmarks.astype(np.float32),
                    "aus": np.asarray(example.aus, np.float32)}
      else:
        chosen = resample_indices(len(example.paths), cfg.num_frames)
        crops = {}
        for i in sorted(set(chosen.tolist())):
          crops[i] = self._crop(example.paths[i], shipped[i])
          if crops[i] is None:
            self.skip(example.paths[0].parent,
                      f"clip {example.key} dropped: its frame {example.paths[i].name} was skipped")
            break
        if any(c is None for c in crops.values()):
          continue
        ramp = np.linspace(0.0, 1.0, cfg.num_frames, dtype=np.float32)[:, None]
        features = {"frames": [png_bytes(crops[i].image) for i in chosen],
                    "landmarks": np.stack([crops[i].landmarks for i in chosen]).astype(np.float32),
                    "aus": ramp * np.asarray(example.aus, np.float32)[None]}
      self.report.kept += 1
      # emotion None: an unlabelled clip (kept for recipes that need no label), ClassLabel's -1
      emotion = -1 if example.emotion is None else example.emotion
      yield example.key, {**features, "emotion": emotion,
                          "identity": np.int32(example.identity)}

  def _transfer_triples(self, stills: list[Example]):
    """The split's triples, paired (``TRANSFER_PAIRS``) among the stills whose face was found."""
    crops = [self._crop(still.paths[0], (still.landmarks or [None])[0]) for still in stills]
    records = [{"subject": still.identity, "emotion": still.emotion, "index": i, **still.pairing}
               for i, (still, crop) in enumerate(zip(stills, crops)) if crop is not None]
    for triple in type(self).TRANSFER_PAIRS(records, partners=self.builder_config.partners):
      source, target, truth = (stills[i] for i in triple)
      features = {"aus": np.asarray(source.aus, np.float32), "emotion": source.emotion,
                  "identity": np.int32(target.identity),
                  "source_identity": np.int32(source.identity)}
      for prefix, index in zip(("source_", "target_", ""), triple):
        features[f"{prefix}image"] = png_bytes(crops[index].image)
        features[f"{prefix}landmarks"] = crops[index].landmarks.astype(np.float32)
      self.report.kept += 1
      yield f"{source.key}->{target.key}", features

  def _report_extras(self) -> tuple[dict, str | None]:
    """More ``skipped.json`` keys and a second line of ``skipped.txt`` (a dataset's counts)."""
    return {}, None

  def _write_reports(self, folder: Path, failed: bool = False) -> Path:
    """The build report (:mod:`fxs_jax.data.build_report`) in ``folder``; the text file's path.
    A finished build also writes the fingerprint :func:`fxs_jax.data.builders.prepare` checks."""
    title = f"{self.name}/{self.builder_config.name}"
    extra, second_line = ({}, None) if failed else self._report_extras()  # counts of kept ones
    path = self.report.write(folder, title, self._manual_dir, {"framing": self.framing, **extra},
                             second_line, failed=failed)
    if not failed:
      (folder / FINGERPRINT_FILE).write_text(json.dumps(
          {"manual_dir": str(self._manual_dir.resolve()), "fingerprint": self._fingerprint}) + "\n")
      logging.warning("%s: kept %d examples, skipped %d files; the skipped files and reasons are "
                      "in %s beside the dataset.", title, self.report.kept,
                      len(self.report.skipped), SKIP_FILES[1])
    return path

  def _nothing_usable(self, what: str, fix: str) -> DatasetError:
    """The one-line error of a build left with nothing usable, after writing the report of what
    was skipped in the config's folder (TFDS deletes the unfinished dataset folder)."""
    report = self._write_reports(Path(self.data_dir).parent, failed=True)
    skipped = len(self.report.skipped)
    return DatasetError(
        f"{self.name}/{self.builder_config.name}: {what}; {skipped} file"
        f"{'' if skipped == 1 else 's'} skipped{self.report.example()}; {fix}. Each skipped "
        f"file, line and reason: {report}")
