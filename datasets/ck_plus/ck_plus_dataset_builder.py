"""TFDS builder for CK+, the extended Cohn-Kanade dataset, read from your own download.

CK+ may not be downloaded by code. Point the manual dir at the folder holding its four unpacked
trees: ``cohn-kanade-images/S005/001/S005_001_00000001.png``,
``Landmarks/S005/001/S005_001_00000001_landmarks.txt`` (68 lines "x y"),
``Emotion/S005/001/S005_001_00000011_emotion.txt`` (one number, the peak frame's label) and
``FACS/S005/001/S005_001_00000011_facs.txt`` (lines "AU intensity").

Configs: ``stills_128`` (per sequence, its first frame as ``neutral`` with zero AUs and its peak
frame with the sequence's label), ``sequences_128`` (first -> peak frame resampled to 16 frames),
``stills_64``, ``sequences_64``, ``transfer_128`` / ``transfer_64`` (cGAN-P1's expression transfer:
subject A's peak frame as the source, the first frame of another subject B's sequence of the same
emotion as the target, that sequence's peak as the truth; pairs within a split,
:func:`fxs_jax.data.transfer_pairs.ckplus_pairs`) and the 32 px ``stills_smoke`` /
``sequences_smoke`` (8 frames) / ``transfer_smoke`` for tests. Faces are cropped by
:func:`fxs_jax.faces.preprocess` on the shipped landmarks (dlib only for a frame whose landmark
file is missing or malformed).

Frames: CK+ is mostly 8-bit grey PNGs, which become 3-channel RGB (R = G = B). Some subjects'
frames are colour; the papers use them as grey, so they are converted to grey too (ITU-R 601
luma, PIL's "L") and counted in the build report.

Labels:

* ``emotion``: the Emotion file's code, 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear,
  5 happy, 6 sadness, 7 surprise, mapped to :data:`fxs_jax.facs.EMOTIONS`' names. CK+ labels 327
  of its 593 sequences. An unlabelled sequence is kept by the ``sequences_*`` configs with
  ``emotion`` -1 (TFDS ClassLabel's "unknown"; TextureGAN needs no label, MotionGAN leaves them
  out) and skipped by the ``stills_*`` and ``transfer_*`` ones, whose peak frames need the label.
  An Emotion file that does not hold one code 0-7 (empty, ``nan``, ``9``, two numbers) skips its
  sequence in every config.
* ``aus``: the FACS file's AUs in :data:`fxs_jax.facs.AU_NAMES` order at the peak frame. AUs
  outside those 17 are dropped; intensity 0 ("unspecified" in CK+) becomes
  :data:`UNSPECIFIED_INTENSITY` (3, the middle of the 1-5 A-E scale). CK+ ships a FACS file for
  every sequence, so the rule is strict: a sequence whose FACS file is missing, unreadable or
  malformed (not lines of two numbers, a fractional or non-finite AU code, an intensity outside
  0-5) is skipped in every config, as its AUs are unknown; no EMFACS prototype is substituted.
  Clips ramp the AUs linearly from 0 at the first frame to the peak's at the last; the neutral
  still has zeros.
* ``identity``: the subject number (``S005`` -> 5). The last 15% of the sorted subjects form the
  test split, the 15% before them validation (carved out of train, test unchanged); the splits
  are subject-disjoint, and a transfer config holds two subjects or more in each.

Landmarks: a frame's landmark file that is not 68 lines of two finite numbers is noted in the
report (``kept:``, with the line and what is wrong) and dlib finds that frame's face instead.

The label files may be saved with a byte-order mark or Windows line endings
(:mod:`fxs_jax.data.label_files`). The peak frame is the one the Emotion file is named after
(the FACS file's for an unlabelled sequence); a sequence's frames after it are not used. Every
skipped sequence or frame is listed with its reason (and for a bad label file its line) in
``skipped.txt`` / ``skipped.json`` beside the dataset; their second line / extra keys also say how
many kept sequences are unlabelled (``unlabelled_kept``) and how many frames were converted from
colour (``colour_frames_to_grey``).
"""

from __future__ import annotations

from pathlib import Path

from absl import logging
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from fxs_jax import faces
from fxs_jax import facs
from fxs_jax.data import label_files
from fxs_jax.data import manual_datasets
from fxs_jax.data import transfer_pairs

CK_EMOTIONS = ("neutral", "angry", "contemptuous", "disgusted", "fearful", "happy", "sad",
               "surprised")  # CK+'s codes 0-7 in fxs_jax.facs.EMOTIONS' words
UNSPECIFIED_INTENSITY = 3.0
TREES = ("cohn-kanade-images", "Landmarks", "Emotion", "FACS")
FACS_UNKNOWN = "the sequence's AUs are unknown, so it is skipped"


def _facs_error(problem: str, line: int | None = None) -> faces.Skip:
  return faces.Skip(f"{problem}; {FACS_UNKNOWN} (fix or replace the file)", line=line)


def read_facs(path: Path) -> np.ndarray | faces.Skip:
  """(17,) float32 AUs of a CK+ FACS file (lines "AU intensity"; see the module docstring), or a
  :class:`fxs_jax.faces.Skip` whose one-line reason names what is wrong with the file, and where."""
  try:
    text = label_files.read_text(path)
  except label_files.BadLabel as e:
    return _facs_error(f"unreadable FACS file ({e.reason})", e.line)
  aus = np.zeros(facs.NUM_AUS, np.float32)
  coded = 0
  for number, line in label_files.numbered_lines(text):
    shown = label_files.shown(line)
    try:
      code, intensity = (float(value) for value in line.split())
    except ValueError:  # not numbers, or not two of them
      return _facs_error(f"FACS line {number} {shown} is not two numbers \"AU intensity\"", number)
    if not (np.isfinite(code) and code == round(code) and code >= 1):
      return _facs_error(f"FACS line {number} {shown}: the AU code is not a whole number >= 1",
                         number)
    if not np.isfinite(intensity):
      return _facs_error(f"FACS line {number} {shown}: intensity is not a finite number", number)
    if not 0 <= intensity <= facs.AU_MAX:
      return _facs_error(f"FACS line {number} {shown}: intensity outside 0-5", number)
    coded += 1
    name = f"AU{int(code):02d}"
    if name in facs.AU_NAMES:
      aus[facs.AU_NAMES.index(name)] = intensity if intensity > 0 else UNSPECIFIED_INTENSITY
  if not coded:
    return _facs_error("empty FACS file (no \"AU intensity\" line)")
  return aus


def read_emotion(path: Path) -> str | faces.Skip:
  """The emotion word of a CK+ Emotion file (one code 0-7), or a :class:`fxs_jax.faces.Skip`
  naming what the file holds instead, and on which line."""
  def bad(problem: str, line: int | None = None) -> faces.Skip:
    return faces.Skip(f"Emotion file {problem}, not one code 0-7 (0 neutral ... 7 surprise); "
                      "fix the file (or remove it: the sequence is then unlabelled)", line=line)

  try:
    lines = label_files.numbered_lines(label_files.read_text(path))
  except label_files.BadLabel as e:
    return bad(f"unreadable ({e.reason})", e.line)
  values = [(n, value) for n, line in lines for value in line.split()]
  if len(values) != 1:
    return bad("is empty" if not values else f"holds {len(values)} values",
               values[1][0] if len(values) > 1 else None)
  number, text = values[0]
  try:
    code = float(text)
  except ValueError:
    code = float("nan")
  if not (np.isfinite(code) and code == round(code) and 0 <= code < len(CK_EMOTIONS)):
    return bad(f"line {number} holds {label_files.shown(text)}", number)
  return CK_EMOTIONS[int(code)]


def is_grey(photo_HxWx3: np.ndarray) -> bool:
  """Whether an RGB photo is grey already (R = G = B at every pixel)."""
  return bool(np.array_equal(photo_HxWx3[..., 0], photo_HxWx3[..., 1])
              and np.array_equal(photo_HxWx3[..., 1], photo_HxWx3[..., 2]))


def to_grey(photo_HxWx3: np.ndarray) -> np.ndarray:
  """(H, W, 3) uint8 with R = G = B = the photo's luma (ITU-R 601, PIL's "L" conversion)."""
  luma_HxW = np.asarray(Image.fromarray(np.asarray(photo_HxWx3, np.uint8)).convert("L"))
  return np.repeat(luma_HxW[..., None], 3, axis=-1)


class Builder(manual_datasets.ManualDatasetBuilder):
  """CK+ neutral -> peak sequences with emotion, FACS and landmarks; see the module docstring."""

  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release.",
      "1.1.0": "Colour frames converted to grey; unlabelled sequences kept in sequences_* "
               "(emotion -1); a missing or malformed FACS file skips its sequence (no EMFACS "
               "prototype).",
      "1.2.0": "A validation split of subjects carved out of train (test unchanged).",
  }
  HOMEPAGE = "https://www.jeffcohn.net/resources/"
  REQUIRED_PATHS = TREES
  MANUAL_LAYOUT = ("cohn-kanade-images/, Landmarks/, Emotion/ and FACS/ "
                   "(cohn-kanade-images/S005/001/S005_001_00000001.png and so on)")
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Request CK+ from its maintainers (https://www.jeffcohn.net/resources/, licence agreement
  needed), unpack its archives into one folder so that it holds cohn-kanade-images/, Landmarks/,
  Emotion/ and FACS/, and pass that folder as the manual dir (builders.prepare(...,
  manual_dir=...), or $FXS_JAX_MANUAL_DIR/ck_plus, or <data_dir>/downloads/manual/ck_plus). The
  files are only read.
  """
  BUILDER_CONFIGS = manual_datasets.clip_configs(transfer=True)
  DEFAULT_CONFIG_NAME = "stills_128"
  TRANSFER_PAIRS = staticmethod(transfer_pairs.ckplus_pairs)

  def _split_generators(self, dl_manager):
    # This build's counts for the report (_write_reports): colour frames made grey (paths, as a
    # frame may be loaded twice) and unlabelled examples written.
    self._colour_frames, self._unlabelled_kept = set(), 0
    return super()._split_generators(dl_manager)

  def _find_examples(self, manual_dir: Path) -> list[manual_datasets.Example]:
    images = manual_dir / "cohn-kanade-images"
    examples = []
    for subject in sorted(p for p in images.iterdir() if p.is_dir()):
      for sequence in sorted(p for p in subject.iterdir() if p.is_dir()):
        example = self._sequence(manual_dir, subject.name, sequence)
        if example is None:
          continue
        if self.builder_config.kind == "sequences":
          examples.append(example)
          continue
        first, peak = manual_datasets.first_and_last(example)
        # transfer pairing: the frames of one sequence, the first unlabelled (CK+ labels peaks)
        first.pairing = {"sequence": example.key, "frame": 0, "emotion": None}
        peak.pairing = {"sequence": example.key, "frame": 1}
        examples += [first, peak]
    return examples

  def _sequence(self, manual_dir: Path, subject: str, folder: Path
                ) -> manual_datasets.Example | None:
    """The sequence's first -> peak frames and labels, or None once :meth:`skip` said why."""
    relative = folder.relative_to(manual_dir / "cohn-kanade-images")
    frames = manual_datasets.find_files(folder)
    if not frames:
      self.skip(folder, "no image files in the sequence folder")
      return None
    emotion_files = sorted((manual_dir / "Emotion" / relative).glob("*_emotion.txt"))
    facs_dir = manual_dir / "FACS" / relative
    emotion = None
    if emotion_files:
      emotion = self.read_label(emotion_files[0], read_emotion, emotion_files[0])
      if emotion is None:
        return None
      peak_stem = emotion_files[0].name[:-len("_emotion.txt")]
      facs_file = facs_dir / f"{peak_stem}_facs.txt"
    elif self.builder_config.kind != "sequences":
      self.skip(folder, "no Emotion label for this sequence (CK+ labels 327 of 593); stills and "
                        "transfer need the peak's emotion (sequences_* keep it, emotion -1)")
      return None
    else:  # unlabelled: the FACS file names the peak frame
      found = sorted(facs_dir.glob("*_facs.txt"))
      facs_file = found[0] if found else facs_dir / "*_facs.txt"
      peak_stem = facs_file.name[:-len("_facs.txt")]
    if not facs_file.is_file():
      missing = facs_file.relative_to(manual_dir).as_posix()
      self.skip(folder, f"no FACS file {missing} (CK+ codes every sequence); {FACS_UNKNOWN}")
      return None
    aus = self.read_label(facs_file, read_facs, facs_file)
    if aus is None:
      return None
    peak = [i for i, f in enumerate(frames) if f.stem == peak_stem]
    frames = frames[:peak[0] + 1] if peak else frames
    landmarks = [self._landmarks(manual_dir / "Landmarks" / relative / f"{f.stem}_landmarks.txt")
                 for f in frames]
    return manual_datasets.Example(key=f"{subject}_{folder.name}",
                                   identity=manual_datasets.subject_number(subject),
                                   paths=frames, emotion=emotion, aus=aus, landmarks=landmarks)

  def _landmarks(self, path: Path) -> np.ndarray | None:
    """A frame's shipped landmarks, or None for dlib: no file, or a malformed one (noted)."""
    if not path.is_file():
      return None
    try:
      return label_files.read_points(path)
    except label_files.BadLabel as e:
      self.note(path, f"not used: {e.reason}; dlib finds the frame's face instead")
      return None

  def load_photo(self, path: Path) -> np.ndarray | faces.Skip:
    """A CK+ frame as (H, W, 3) uint8 with R = G = B: a colour frame (some subjects') becomes its
    luma, as the papers use it, and is counted for the build report."""
    photo = faces.load_image(path)
    if isinstance(photo, faces.Skip) or is_grey(photo):
      return photo
    self._colour_frames.add(Path(path))
    return to_grey(photo)

  def _generate_examples(self, examples: list[manual_datasets.Example], split: str):
    for key, features in super()._generate_examples(examples, split):
      # the base writes an unlabelled example's emotion as ClassLabel's -1
      self._unlabelled_kept += int(isinstance(features["emotion"], int)
                                   and features["emotion"] == -1)
      yield key, features

  def _report_extras(self) -> tuple[dict, str]:
    """How many kept examples are unlabelled and how many frames were converted from colour
    (``skipped.json`` keys; the second line of ``skipped.txt``)."""
    counts = {"unlabelled_kept": self._unlabelled_kept,
              "colour_frames_to_grey": len(self._colour_frames)}
    note = (f"unlabelled: {counts['unlabelled_kept']} of the {self.report.kept} kept examples "
            "(emotion -1; stills and transfer skip unlabelled sequences); colour frames "
            f"converted to grey (luma): {counts['colour_frames_to_grey']}")
    logging.info("%s/%s: %s", self.name, self.builder_config.name, note)
    return counts, note
