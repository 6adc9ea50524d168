"""TFDS builder for RaFD, the Radboud Faces Database, read from your own download.

RaFD may not be downloaded by code: request it at https://rafd.socsci.ru.nl and point the manual
dir at the folder of its JPEGs, named ``Rafd<angle>_<id>_<ethnicity>_<gender>_<emotion>_<gaze>.jpg``
(e.g. ``Rafd090_01_Caucasian_female_angry_frontal.jpg``).

Configs: ``frontal_128`` (default; camera angle 090, all three gazes), ``frontal_64``,
``all_128`` (all five camera angles: dlib's frontal detector skips most profile photos, each
listed in ``skipped.txt``), ``transfer_128`` / ``transfer_64`` (cGAN-P1's expression transfer:
each non-neutral photo of subject A as the source, another subject B's neutral photo with the
same gaze as the target, B's photo with A's expression as the truth; pairs within a split,
:func:`fxs_jax.data.transfer_pairs.rafd_pairs`) and ``smoke`` / ``transfer_smoke`` (32 px, for
tests). Each photo is cropped by :func:`fxs_jax.faces.preprocess` on dlib's landmarks (RaFD ships
none), framed as StarGAN framed RaFD (``stargan_rafd`` in :mod:`fxs_jax.faces.framing`: an
axis-aligned box around the face; ``config.data.framing`` picks another).

Labels: ``emotion`` is the file name's emotion word; RaFD has no AU annotations, so ``aus`` is
the EMFACS prototype of that emotion (:func:`fxs_jax.facs.emotion_aus`), the same for every photo
of one emotion; ``identity`` is the model id (``01`` -> 1). The last 15% of the sorted ids form
the test split, the 15% before them validation (carved out of train, test unchanged); the splits
are subject-disjoint, and a transfer config holds two subjects or more in each.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax.data import manual_datasets
from fxs_jax.data import transfer_pairs
from fxs_jax.errors import DatasetError

# RaFD's emotion words -> fxs_jax.facs.EMOTIONS (the same eight words).
EMOTION_WORDS = {word: word for word in facs.EMOTIONS}
FILE_NAME = re.compile(r"^Rafd(?P<angle>\d{3})_(?P<id>\d+)_(?P<ethnicity>[A-Za-z]+)_"
                       r"(?P<gender>[A-Za-z]+)_(?P<emotion>[a-z]+)_(?P<gaze>[a-z]+)$", re.ASCII)
ANGLES = ("000", "045", "090", "135", "180")


@dataclasses.dataclass
class RafdConfig(manual_datasets.ManualConfig):
  """Which camera angles to keep."""
  angles: tuple[str, ...] = ("090",)


class Builder(manual_datasets.ManualDatasetBuilder):
  """RaFD stills: 8 posed emotions, 3 gazes, 5 camera angles; see the module docstring."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "A validation split of subjects carved out of train (test unchanged)."}
  HOMEPAGE = "https://rafd.socsci.ru.nl"
  MANUAL_LAYOUT = "RaFD's JPEGs, Rafd090_01_Caucasian_female_angry_frontal.jpg and so on"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Request RaFD at https://rafd.socsci.ru.nl (free for research, licence agreement needed),
  unpack it, and pass the folder holding the Rafd090_01_Caucasian_female_angry_frontal.jpg ...
  files as the manual dir (builders.prepare(..., manual_dir=...), or $FXS_JAX_MANUAL_DIR/rafd,
  or <data_dir>/downloads/manual/rafd). Sub-folders are searched too; the files are only read.
  """
  BUILDER_CONFIGS = [
      RafdConfig(name="frontal_128", description="128 px crops, camera angle 090, all gazes."),
      RafdConfig(name="frontal_64", description="64 px crops, camera angle 090, all gazes.",
                 image_size=64),
      RafdConfig(name="all_128", description="128 px crops, all five camera angles.",
                 angles=ANGLES),
      RafdConfig(name="smoke", description="32 px crops, camera angle 090 (tests).",
                 image_size=32),
      RafdConfig(name="transfer_128", kind="transfer",
                 description=f"128 px {manual_datasets.TRANSFER_DESCRIPTION}, angle 090."),
      RafdConfig(name="transfer_64", kind="transfer", image_size=64,
                 description=f"64 px {manual_datasets.TRANSFER_DESCRIPTION}, angle 090."),
      RafdConfig(name="transfer_smoke", kind="transfer", image_size=32, test_fraction=0.5,
                 description="32 px transfer triples, half the subjects in test (tests)."),
  ]
  TRANSFER_PAIRS = staticmethod(transfer_pairs.rafd_pairs)
  DEFAULT_CONFIG_NAME = "frontal_128"
  FRAMING = "stargan_rafd"  # the survey's RaFD comparisons (LGP-GAN vs StarGAN) use StarGAN's crop

  def check_manual_dir(self, manual_dir):
    manual_dir = super().check_manual_dir(manual_dir)
    if not any(p.name.startswith("Rafd") for p in manual_datasets.find_files(manual_dir)):
      raise DatasetError(f"rafd: no Rafd*.jpg files under {manual_dir}; the manual folder must "
                         f"hold {self.MANUAL_LAYOUT}.")
    return manual_dir

  def _find_examples(self, manual_dir: Path) -> list[manual_datasets.Example]:
    examples = []
    for path in manual_datasets.find_files(manual_dir):
      match = FILE_NAME.match(path.stem)
      if match is None:
        self.skip(path, "file name is not Rafd<angle>_<id>_<ethnicity>_<gender>_<emotion>_<gaze>")
        continue
      if match["angle"] not in self.builder_config.angles:
        continue  # another config's camera angle: not a skip
      emotion = EMOTION_WORDS.get(match["emotion"])
      if emotion is None:
        self.skip(path, f"unknown emotion word {match['emotion']!r}")
        continue
      if int(match["id"]) > manual_datasets.MAX_IDENTITY:  # stored as int32
        self.skip(path, f"model id {match['id']} is not a RaFD id (at most "
                        f"{manual_datasets.MAX_IDENTITY})")
        continue
      examples.append(manual_datasets.Example(
          key=path.stem, identity=int(match["id"]), paths=[path], emotion=emotion,
          aus=facs.emotion_aus(emotion),
          pairing={"gaze": match["gaze"], "angle": match["angle"]}))
    return examples
