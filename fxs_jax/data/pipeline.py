"""Input pipeline: TFDS data source -> grain (shard, shuffle, augment, batch, threads) -> numpy.

Batches are dicts of numpy arrays for this process; ``fxs_jax.sharding.to_device`` turns them into
global arrays sharded over the mesh. Images come out as float32 in [-1, 1]; landmarks in pixels
(x, y); AUs on their 0-5 scale (recipes rescale as their paper does); labels as int32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import grain
import jax
import ml_collections
import numpy as np

from fxs_jax.data import augment
from fxs_jax.data import builders

IMAGE_KEYS = ("image", "frames")


@dataclasses.dataclass(frozen=True)
class Preprocess(grain.transforms.RandomMap):
  """Scales images to [-1, 1] and, with ``flip``, mirrors half of the examples."""

  flip: bool = False

  def random_map(self, example: dict, rng: np.random.Generator) -> dict:
    example = {k: np.asarray(v) for k, v in example.items()}
    if self.flip and rng.random() < 0.5:
      example = augment.flip_example(example)
    for key in IMAGE_KEYS:
      if key in example:
        example[key] = augment.to_signed_unit(example[key])
    return example


def _shard_for_this_process(ds: grain.MapDataset) -> grain.MapDataset:
  # Each process reads a disjoint, interleaved slice; devices within a process split its batch.
  return ds[jax.process_index()::jax.process_count()]


def train_dataset(source, batch_size: int, seed: int, flip: bool = True,
                  num_threads: int = 4, prefetch: int = 64) -> grain.IterDataset:
  """Infinite, shuffled (reshuffled every epoch), augmented batches of ``batch_size`` (per process).

  Deterministic in ``seed``; its iterator's ``get_state``/``set_state`` let a run resume exactly.
  """
  ds = _shard_for_this_process(grain.MapDataset.source(source))
  if len(ds) < batch_size:
    raise ValueError(f"Only {len(ds)} examples for a per-process batch of {batch_size}.")
  ds = ds.shuffle(seed=seed).repeat(None).random_map(Preprocess(flip=flip), seed=seed + 1)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))


def train_iterator(data_config: ml_collections.ConfigDict, sources: dict, batch_size: int,
                   seed: int):
  """The checkpointable iterator over ``config.data``'s train split (see ``train_dataset``)."""
  return iter(train_dataset(sources[data_config.train_split], batch_size, seed=seed,
                            flip=data_config.flip, num_threads=data_config.num_threads,
                            prefetch=data_config.prefetch))


def eval_dataset(source, batch_size: int, num_threads: int = 4,
                 limit: int | None = None) -> grain.IterDataset:
  """One ordered pass (no shuffle, no flip) in batches of ``batch_size``; the last partial batch
  is dropped so every batch splits over the devices."""
  ds = _shard_for_this_process(grain.MapDataset.source(source))
  if limit is not None:
    ds = ds[:limit]
  ds = ds.map(lambda ex: Preprocess(flip=False).random_map(ex, None))
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=16))


def spread_indices(length: int, count: int) -> np.ndarray:
  """``count`` indices spread over a split of ``length`` (wrapping around). Stride 9: in an
  identity-major split of 8 expressions per identity, each is another person and expression."""
  return (np.arange(count) * 9) % length


def load(data_config: ml_collections.ConfigDict, splits: Sequence[str] | None = None) -> dict:
  """The TFDS data sources of ``config.data`` (building procedural datasets on first use)."""
  splits = tuple(splits or (data_config.train_split, data_config.eval_split))
  return builders.data_sources(data_config.name, splits, data_config.data_dir or None,
                               data_config.build_if_missing)
