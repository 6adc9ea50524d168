"""Input pipeline: TFDS data source -> grain (shuffle, augment, shard, batch, threads) -> numpy.

Every process walks the same global order (same shuffle, same augmentation per global position)
and loads only its rows of each global batch, so the global batch at every step is the same on any
number of processes. Batches are dicts of numpy arrays for this process;
``fxs_jax.sharding.to_device`` turns them into global arrays sharded over the mesh. Images come out as float32 in [-1, 1]; landmarks in pixels
(x, y); AUs on their 0-5 scale (recipes rescale as their paper does); labels as int32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import grain
import ml_collections
import numpy as np

from fxs_jax import sharding
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


class _GlobalBatchRows(grain.MapDataset):
  """Element ``i`` is row ``rows[i % len(rows)]`` of global batch ``i // len(rows)`` of
  ``parent`` (global batches of ``global_batch_size`` consecutive elements)."""

  def __init__(self, parent: grain.MapDataset, global_batch_size: int, rows: np.ndarray):
    super().__init__(parent)
    self._global, self._rows = global_batch_size, [int(r) for r in rows]

  def __len__(self) -> int:
    return len(self._parent) // self._global * len(self._rows)

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    batch, row = divmod(index, len(self._rows))
    return self._parent[batch * self._global + self._rows[row]]

  def __str__(self) -> str:
    return f"_GlobalBatchRows(global_batch_size={self._global}, rows={len(self._rows)})"


def _this_process_rows(ds: grain.MapDataset, global_batch_size: int, rows: np.ndarray | None
                       ) -> tuple[grain.MapDataset, int]:
  """``ds`` cut to this process's ``rows`` of every global batch (default: the rows its devices
  hold on the all-device mesh), and the per-process batch size."""
  if rows is None:
    rows = sharding.process_rows(sharding.make_mesh(), global_batch_size)
  rows = np.asarray(rows)
  if np.array_equal(rows, np.arange(global_batch_size)):
    return ds, global_batch_size  # one process (or every row): the plain stream
  return _GlobalBatchRows(ds, global_batch_size, rows), len(rows)


def train_dataset(source, batch_size: int, seed: int, flip: bool = True,
                  num_threads: int = 4, prefetch: int = 64,
                  rows: np.ndarray | None = None) -> grain.IterDataset:
  """Infinite, shuffled (reshuffled every epoch), augmented batches: this process's ``rows``
  (default: those its devices hold) of each global batch of ``batch_size``.

  Deterministic in ``seed`` and independent of the number of processes; its iterator's
  ``get_state``/``set_state`` let a run resume exactly.
  """
  ds = grain.MapDataset.source(source)
  if len(ds) < batch_size:
    raise ValueError(f"Only {len(ds)} examples for a global batch of {batch_size}.")
  # Shuffle and augmentation are keyed by the global position, before the cut to this process.
  ds = ds.shuffle(seed=seed).repeat(None).random_map(Preprocess(flip=flip), seed=seed + 1)
  ds, local_batch_size = _this_process_rows(ds, batch_size, rows)
  ds = ds.batch(local_batch_size, drop_remainder=True)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))


def train_iterator(data_config: ml_collections.ConfigDict, sources: dict, batch_size: int,
                   seed: int, rows: np.ndarray | None = None):
  """The checkpointable iterator over ``config.data``'s train split (see ``train_dataset``;
  ``batch_size`` is the global batch)."""
  return iter(train_dataset(sources[data_config.train_split], batch_size, seed=seed,
                            flip=data_config.flip, num_threads=data_config.num_threads,
                            prefetch=data_config.prefetch, rows=rows))


def eval_dataset(source, batch_size: int, num_threads: int = 4,
                 limit: int | None = None, rows: np.ndarray | None = None) -> grain.IterDataset:
  """One ordered pass (no shuffle, no flip) over the first ``limit`` examples in global batches of
  ``batch_size``, of which this process loads its ``rows`` (as ``train_dataset``); the last
  partial global batch is dropped so every batch splits over the devices."""
  ds = grain.MapDataset.source(source)
  if limit is not None:
    ds = ds[:limit]
  ds = ds.map(lambda ex: Preprocess(flip=False).random_map(ex, None))
  ds, local_batch_size = _this_process_rows(ds, batch_size, rows)
  ds = ds.batch(local_batch_size, drop_remainder=True)
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
