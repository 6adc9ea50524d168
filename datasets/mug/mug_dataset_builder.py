"""TFDS builder for the MUG facial expression database, read from your own download.

MUG may not be downloaded by code. Point the manual dir at the unpacked folder holding
``subjects3/001/happiness/take000/img_0001.jpg`` and so on: 86 subjects, 6 basic emotions (+ a
``neutral`` folder, not read), several takes each. A take goes neutral -> apex -> neutral, so its
first half (frames up to the middle one, the apex by this convention) is the clip.

Configs: ``sequences_128`` (clips resampled to 16 frames), ``sequences_64``, ``stills_128`` /
``stills_64`` (first frame as ``neutral`` with zero AUs, the middle frame with the take's emotion)
and the 32 px ``*_smoke`` ones (8 frames). Faces are found and aligned per frame by
:func:`fxs_jax.faces.preprocess` (dlib); a take with a frame without a usable face is dropped,
and both are listed in ``skipped.txt``.

Labels: ``emotion`` from the folder name (anger, disgust, fear, happiness, sadness, surprise); no
AU annotations, so ``aus`` ramps linearly from 0 to the emotion's EMFACS prototype;
``identity`` is the subject number (``001`` -> 1); the last 15% of the sorted subjects are the
test split and the 15% before them validation (carved out of train, test unchanged).
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax.data import manual_datasets

EMOTION_FOLDERS = {"anger": "angry", "disgust": "disgusted", "fear": "fearful",
                   "happiness": "happy", "sadness": "sad", "surprise": "surprised"}


class Builder(manual_datasets.ManualDatasetBuilder):
  """MUG takes of 6 emotions, their neutral -> apex halves; see the module docstring."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "A validation split of subjects carved out of train (test unchanged)."}
  HOMEPAGE = "https://mug.ee.auth.gr/fed/"
  REQUIRED_PATHS = ("subjects3",)
  MANUAL_LAYOUT = "subjects3/<subject 001...>/<emotion anger...>/take000/img_0001.jpg and so on"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Request the MUG facial expression database at https://mug.ee.auth.gr/fed/ (licence agreement
  needed), unpack it, and pass the folder holding subjects3/ as the manual dir
  (builders.prepare(..., manual_dir=...), or $FXS_JAX_MANUAL_DIR/mug). The files are only read.
  """
  BUILDER_CONFIGS = manual_datasets.clip_configs()
  DEFAULT_CONFIG_NAME = "sequences_128"

  def _find_examples(self, manual_dir: Path) -> list[manual_datasets.Example]:
    root = manual_dir / "subjects3"
    examples = []
    for subject in sorted(p for p in root.iterdir() if p.is_dir()):
      for emotion_folder in sorted(p for p in subject.iterdir() if p.is_dir()):
        emotion = EMOTION_FOLDERS.get(emotion_folder.name.lower())
        if emotion is None:
          if emotion_folder.name.lower() != "neutral":
            self.skip(emotion_folder, "not one of MUG's emotion folders")
          continue
        for take in sorted(p for p in emotion_folder.iterdir() if p.is_dir()):
          frames = manual_datasets.find_files(take)
          if len(frames) < 2:
            self.skip(take, f"{len(frames)} image(s) in the take (need 2 or more)")
            continue
          clip = manual_datasets.Example(
              key=f"{subject.name}_{emotion_folder.name}_{take.name}",
              paths=frames[:(len(frames) + 1) // 2], emotion=emotion,
              identity=manual_datasets.subject_number(subject.name),
              aus=facs.emotion_aus(emotion))
          examples += (manual_datasets.first_and_last(clip)
                       if self.builder_config.kind == "stills" else [clip])
    return examples
