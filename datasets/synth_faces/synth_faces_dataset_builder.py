"""TFDS builder for SynthFaces, the embedded procedural dataset (no download).

Configs: ``stills_64``, ``stills_128`` (every identity under all 8 emotions, ``variants`` times),
``sequences_64``, ``sequences_128`` (neutral -> apex clips of ``num_frames`` frames for the 7
non-neutral emotions) and ``transfer_64``, ``transfer_128`` (expression-transfer pairs with exact
truth: for each identity A and non-neutral emotion, ``source_image`` = A showing sampled AUs,
``target_image`` = a partner B of the same split, neutral, and ``image`` = B rendered with A's
very AUs; ``identity`` is B, ``source_identity`` A), plus tiny ``stills_smoke`` /
``sequences_smoke`` / ``transfer_smoke`` for tests. Written as array_record and read with
``as_data_source``: no TensorFlow.

Three splits by identity, disjoint (transfer partners too): ids ``[0, num_train)`` for train,
``[num_train, num_train + num_test)`` for test and the next ``num_validation`` ids for
validation. Choices (hyperparameters, lengths, checkpoints) read validation; test is read to
report. An identity renders the same in any split; what each id renders is in
``fxs_jax.data.synth_faces_examples`` (importable, so worker processes and tests can use it).
"""

from __future__ import annotations

import dataclasses
import multiprocessing

import numpy as np
import tensorflow_datasets as tfds

from fxs_jax import facs
from fxs_jax.data import synth_faces
from fxs_jax.data import synth_faces_examples


@dataclasses.dataclass
class SynthFacesConfig(tfds.core.BuilderConfig):
  """How much and what kind of SynthFaces data to render."""

  image_size: int = 64
  kind: str = "stills"  # "stills", "sequences" or "transfer"
  num_train_identities: int = 300
  num_test_identities: int = 60
  num_validation_identities: int = 60
  variants: int = 1  # stills: renders per (identity, emotion)
  num_frames: int = 16  # sequences: frames per clip


def _configs() -> list[SynthFacesConfig]:
  configs = []
  for size in (64, 128):
    configs.append(SynthFacesConfig(
        name=f"stills_{size}", description=f"{size}px stills, all 8 emotions per identity.",
        image_size=size, kind="stills"))
  for size in (64, 128):
    configs.append(SynthFacesConfig(
        name=f"sequences_{size}", description=f"{size}px neutral->apex clips, 7 emotions.",
        image_size=size, kind="sequences", num_train_identities=100, num_test_identities=20,
        num_validation_identities=20))
  for size in (64, 128):
    configs.append(SynthFacesConfig(
        name=f"transfer_{size}",
        description=f"{size}px expression-transfer pairs (source, neutral target, exact truth), "
                    "7 emotions per source identity.",
        image_size=size, kind="transfer"))
  # Tiny sets for tests and `:smoke` configs: build in about a second.
  configs.append(SynthFacesConfig(
      name="stills_smoke", description="32px stills, 6 train / 2 test / 2 validation identities.",
      image_size=32, kind="stills", num_train_identities=6, num_test_identities=2,
      num_validation_identities=2))
  configs.append(SynthFacesConfig(
      name="sequences_smoke",
      description="32px clips of 8 frames, 3 train / 1 test / 1 validation identities.",
      image_size=32, kind="sequences", num_train_identities=3, num_test_identities=1,
      num_validation_identities=1, num_frames=8))
  configs.append(SynthFacesConfig(
      name="transfer_smoke",
      description="32px transfer pairs, 6 train / 2 test / 2 validation identities.",
      image_size=32, kind="transfer", num_train_identities=6, num_test_identities=2,
      num_validation_identities=2))
  return configs


def split_identities(cfg: SynthFacesConfig) -> dict[str, range]:
  """The identity ids of each split: train first, then test, then validation (added later, so
  that train and test kept their ids)."""
  train, test = cfg.num_train_identities, cfg.num_test_identities
  return {"train": range(train), "test": range(train, train + test),
          "validation": range(train + test, train + test + cfg.num_validation_identities)}


class Builder(tfds.core.GeneratorBasedBuilder):
  """SynthFaces: procedural faces with exact landmarks, AUs, emotion and identity."""

  # Bump whenever fxs_jax.data.synth_faces renders different pixels or labels (the EMFACS
  # prototypes in fxs_jax.facs are labels too): a dataset built by an older renderer would
  # otherwise be reused silently (TFDS keys the cache on VERSION).
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "A validation split of new identities (train and test unchanged)."}
  BUILDER_CONFIGS = _configs()
  # Keep examples in key order (identity-major), so index arithmetic finds same-identity pairs.
  # Readers shuffle with grain anyway.
  DEFAULT_CONFIG_NAME = "stills_64"

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    size, n = cfg.image_size, synth_faces.NUM_LANDMARKS
    common = {
        "aus": tfds.features.Tensor(shape=(facs.NUM_AUS,), dtype=np.float32),
        "emotion": tfds.features.ClassLabel(names=list(facs.EMOTIONS)),
        "identity": tfds.features.Scalar(dtype=np.int32),
    }
    if cfg.kind == "stills":
      features = {
          "image": tfds.features.Image(shape=(size, size, 3)),
          "landmarks": tfds.features.Tensor(shape=(n, 2), dtype=np.float32),
          **common,
      }
    elif cfg.kind == "transfer":
      # image / landmarks: the exact truth, B showing the source's AUs; identity: B.
      features = {}
      for prefix in ("source_", "target_", ""):
        features[f"{prefix}image"] = tfds.features.Image(shape=(size, size, 3))
        features[f"{prefix}landmarks"] = tfds.features.Tensor(shape=(n, 2), dtype=np.float32)
      features.update(common, source_identity=tfds.features.Scalar(dtype=np.int32))
    else:
      t = cfg.num_frames
      features = {
          "frames": tfds.features.Sequence(tfds.features.Image(shape=(size, size, 3)), length=t),
          "landmarks": tfds.features.Tensor(shape=(t, n, 2), dtype=np.float32),
          "aus": tfds.features.Tensor(shape=(t, facs.NUM_AUS), dtype=np.float32),
          "emotion": common["emotion"], "identity": common["identity"],
      }
    # Built directly (not dataset_info_from_configs) so that a builder loaded from any path works.
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict(features),
        supervised_keys=None,
        homepage="https://github.com/fxs-jax/fxs_jax",
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: everything is rendered.
    cfg = self.builder_config
    return {name: self._generate_examples(ids) for name, ids in split_identities(cfg).items()}

  def _generate_examples(self, identity_ids: range):
    cfg = self.builder_config
    split_ids = (identity_ids.start, identity_ids.stop)  # where transfer partners are drawn
    jobs = [synth_faces_examples.Job(cfg.kind, cfg.image_size, i, cfg.variants, cfg.num_frames,
                                     split_ids)
            for i in identity_ids]
    # Rendering is CPU-bound numpy/PIL: spread identities over the cores.
    processes = min(len(jobs), multiprocessing.cpu_count())
    if processes <= 1:
      results = map(synth_faces_examples.identity_examples, jobs)
      pool = None
    else:
      pool = multiprocessing.get_context("spawn").Pool(processes)
      results = pool.imap(synth_faces_examples.identity_examples, jobs, chunksize=4)
    try:
      for examples in results:
        yield from examples
    finally:
      if pool is not None:
        pool.close()
        pool.join()
