"""TFDS builder for Oulu-CASIA (NIR&VIS facial expressions), read from your own download.

Oulu-CASIA may not be downloaded by code. Point the manual dir at the unpacked folder holding
``OriginalImg/VL/Strong/P001/Happiness/000.jpeg`` and so on: 80 subjects, 6 emotions, each a
clip from neutral (first frame) to apex (last frame). The visible-light, strong-illumination
clips (``VL/Strong``, what the papers use) are read; set ``lighting`` in a config for others.

Configs: ``sequences_128`` (clips resampled to 16 frames), ``sequences_64``, ``stills_128`` /
``stills_64`` (first frame as ``neutral`` with zero AUs, last frame with the clip's emotion) and
the 32 px ``*_smoke`` ones (8 frames). Faces are found and aligned per frame by
:func:`fxs_jax.faces.preprocess` (dlib; the dataset ships no landmarks); a clip with a frame
without a usable face is dropped, and the frame and the clip are listed in ``skipped.txt``.

Labels: ``emotion`` from the folder name (Anger, Disgust, Fear, Happiness, Sadness, Surprise);
no AU annotations, so ``aus`` ramps linearly from 0 to the emotion's EMFACS prototype
(:func:`fxs_jax.facs.emotion_aus`); ``identity`` is the subject number (``P001`` -> 1), the
last 15% of the sorted subjects are the test split and the 15% before them validation (carved
out of train, test unchanged).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax.data import manual_datasets

EMOTION_FOLDERS = {"Anger": "angry", "Disgust": "disgusted", "Fear": "fearful",
                   "Happiness": "happy", "Sadness": "sad", "Surprise": "surprised"}


@dataclasses.dataclass
class OuluConfig(manual_datasets.ManualConfig):
  """Which camera and illumination to read."""
  lighting: str = "OriginalImg/VL/Strong"


class Builder(manual_datasets.ManualDatasetBuilder):
  """Oulu-CASIA neutral -> apex clips of 6 emotions; see the module docstring."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "A validation split of subjects carved out of train (test unchanged)."}
  HOMEPAGE = "https://www.oulu.fi/en/research-groups/center-machine-vision-and-signal-analysis"
  MANUAL_LAYOUT = ("OriginalImg/VL/Strong/<subject P001...>/<emotion Anger...>/000.jpeg and so "
                   "on")
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Request the Oulu-CASIA NIR&VIS facial expression database from the University of Oulu's Center
  for Machine Vision and Signal Analysis (licence agreement needed), unpack it, and pass the folder
  holding OriginalImg/ as the manual dir (builders.prepare(..., manual_dir=...), or
  $FXS_JAX_MANUAL_DIR/oulu_casia). The files are only read.
  """
  BUILDER_CONFIGS = [OuluConfig(**dataclasses.asdict(c))
                     for c in manual_datasets.clip_configs()]
  DEFAULT_CONFIG_NAME = "sequences_128"

  @property
  def REQUIRED_PATHS(self):  # pylint: disable=invalid-name
    return (self.builder_config.lighting,)

  def _find_examples(self, manual_dir: Path) -> list[manual_datasets.Example]:
    root = manual_dir / self.builder_config.lighting
    examples = []
    for subject in sorted(p for p in root.iterdir() if p.is_dir()):
      for folder in sorted(p for p in subject.iterdir() if p.is_dir()):
        emotion = EMOTION_FOLDERS.get(folder.name)
        frames = manual_datasets.find_files(folder)
        if emotion is None or not frames:
          self.skip(folder, "not an emotion folder (Anger, Disgust, Fear, Happiness, Sadness, "
                            "Surprise) of images")
          continue
        clip = manual_datasets.Example(
            key=f"{subject.name}_{folder.name}", paths=frames, emotion=emotion,
            identity=manual_datasets.subject_number(subject.name), aus=facs.emotion_aus(emotion))
        examples += (manual_datasets.first_and_last(clip)
                     if self.builder_config.kind == "stills" else [clip])
    return examples
