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
``sequences_smoke`` (8 frames) / ``transfer_smoke`` for tests. Faces are cropped by :func:`fxs_jax.faces.preprocess` on the shipped landmarks (dlib
only for a frame whose landmark file is missing or malformed). Grey frames become 3-channel RGB
(R = G = B), as the papers use them.

Labels:

* ``emotion``: the Emotion file's code, 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear,
  5 happy, 6 sadness, 7 surprise, mapped to :data:`fxs_jax.facs.EMOTIONS`' names. Sequences
  without an Emotion file (CK+ labels 327 of its 593) are skipped, each listed in
  ``skipped.txt``.
* ``aus``: the FACS file's AUs in :data:`fxs_jax.facs.AU_NAMES` order at the peak frame. AUs
  outside those 17 are dropped; intensity 0 ("unspecified" in CK+) becomes
  :data:`UNSPECIFIED_INTENSITY` (3, the middle of the 1-5 A-E scale). A sequence without a FACS
  file gets its emotion's EMFACS prototype. Clips ramp the AUs linearly from 0 at the first frame
  to the peak's at the last; the neutral still has zeros.
* ``identity``: the subject number (``S005`` -> 5). The last 15% of the sorted subjects form the
  test split (subject-disjoint).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax.data import manual_datasets
from fxs_jax.data import transfer_pairs

CK_EMOTIONS = ("neutral", "angry", "contemptuous", "disgusted", "fearful", "happy", "sad",
               "surprised")  # CK+'s codes 0-7 in fxs_jax.facs.EMOTIONS' words
UNSPECIFIED_INTENSITY = 3.0
TREES = ("cohn-kanade-images", "Landmarks", "Emotion", "FACS")


def read_facs(path: Path) -> np.ndarray | None:
  """(17,) float32 AUs from a CK+ FACS file (see the module docstring), None if unreadable."""
  try:
    rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
  except (OSError, ValueError):
    return None
  aus = np.zeros(facs.NUM_AUS, np.float32)
  for code, intensity in rows.reshape(-1, 2):
    name = f"AU{int(round(code)):02d}"
    if name in facs.AU_NAMES:
      value = intensity if intensity > 0 else UNSPECIFIED_INTENSITY
      aus[facs.AU_NAMES.index(name)] = min(value, facs.AU_MAX)
  return aus


def read_emotion(path: Path) -> str | None:
  """The emotion word of a CK+ Emotion file, None if unreadable or out of range."""
  try:
    code = float(path.read_text().split()[0])
  except (OSError, ValueError, IndexError):
    return None
  return CK_EMOTIONS[int(code)] if code == int(code) and 0 <= code < len(CK_EMOTIONS) else None


class Builder(manual_datasets.ManualDatasetBuilder):
  """CK+ neutral -> peak sequences with emotion, FACS and landmarks; see the module docstring."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
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

  def _sequence(self, manual_dir: Path, subject: str, folder: Path):
    relative = folder.relative_to(manual_dir / "cohn-kanade-images")
    frames = manual_datasets.find_files(folder)
    emotion_files = sorted((manual_dir / "Emotion" / relative).glob("*_emotion.txt"))
    if not frames:
      self.skip(folder, "no image files in the sequence folder")
      return None
    if not emotion_files:
      self.skip(folder, "no Emotion label for this sequence (CK+ labels 327 of 593)")
      return None
    emotion = read_emotion(emotion_files[0])
    if emotion is None:
      self.skip(emotion_files[0], "Emotion file does not hold a code 0-7")
      return None
    peak_stem = emotion_files[0].name[:-len("_emotion.txt")]
    peak = [i for i, f in enumerate(frames) if f.stem == peak_stem]
    frames = frames[:peak[0] + 1] if peak else frames
    facs_file = manual_dir / "FACS" / relative / f"{peak_stem}_facs.txt"
    aus = read_facs(facs_file) if facs_file.is_file() else None
    if aus is None:
      aus = facs.emotion_aus(emotion)
    landmarks = [manual_datasets.read_points(
        manual_dir / "Landmarks" / relative / f"{f.stem}_landmarks.txt") for f in frames]
    return manual_datasets.Example(key=f"{subject}_{folder.name}",
                                   identity=manual_datasets.subject_number(subject),
                                   paths=frames, emotion=emotion, aus=aus, landmarks=landmarks)
