"""Input pipeline: TFDS data source -> grain (shuffle, augment, shard, batch, threads) -> numpy.

Every process walks the same global order (same shuffle, same augmentation per global position)
and loads only its rows of each global batch, so the global batch at every step is the same on any
number of processes. Batches are dicts of numpy arrays for this process;
``fxs_jax.sharding.to_device`` turns them into global arrays sharded over the mesh. Images come out as float32 in [-1, 1]; landmarks in pixels
(x, y); AUs on their 0-5 scale (recipes rescale as their paper does); labels as int32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grain
import ml_collections
import numpy as np

from fxs_jax import sharding
from fxs_jax.data import augment
from fxs_jax.data import builders
from fxs_jax.errors import DatasetError

# One example -> one example ready to batch; ``rng`` is None for evaluation (no augmentation).
PreprocessFn = Callable[[dict, np.random.Generator | None], dict]


def stills_preprocess(flip: bool) -> PreprocessFn:
  """The default preprocessing of still images (``augment.preprocess``): scaling to [-1, 1] and,
  with ``flip`` and an rng, a mirror of half of the examples. Recipes bring their own
  (``GANRecipe.preprocess``); this one serves the evaluator networks and the eval harness."""

  def preprocess(example: dict, rng: np.random.Generator | None) -> dict:
    return augment.preprocess(example, flip=rng is not None and flip and rng.random() < 0.5)

  return preprocess


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


def train_dataset(source, batch_size: int, seed: int, preprocess: PreprocessFn | None = None,
                  num_threads: int = 4, prefetch: int = 64,
                  rows: np.ndarray | None = None) -> grain.IterDataset:
  """Infinite, shuffled (reshuffled every epoch), ``preprocess``-ed (default: stills with flips)
  batches: this process's ``rows``
  (default: those its devices hold) of each global batch of ``batch_size``.

  Deterministic in ``seed`` and independent of the number of processes; its iterator's
  ``get_state``/``set_state`` let a run resume exactly.
  """
  ds = grain.MapDataset.source(source)
  if len(ds) < batch_size:
    raise DatasetError(f"Only {len(ds)} examples for a global batch of {batch_size}: lower the "
                       "batch size (config.data.batch_size) or use a larger dataset.")
  # Shuffle and augmentation are keyed by the global position, before the cut to this process.
  preprocess = preprocess or stills_preprocess(flip=True)
  ds = ds.shuffle(seed=seed).repeat(None).random_map(preprocess, seed=seed + 1)
  ds, local_batch_size = _this_process_rows(ds, batch_size, rows)
  ds = ds.batch(local_batch_size, drop_remainder=True)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))


def train_iterator(data_config: ml_collections.ConfigDict, source, batch_size: int,
                   seed: int, rows: np.ndarray | None = None,
                   preprocess: PreprocessFn | None = None):
  """The checkpointable iterator over ``source`` (the train split, or a recipe's examples built
  from it) with ``config.data``'s reader settings (see ``train_dataset``; ``batch_size`` is the
  global batch; default preprocessing: stills, flipped if ``config.data.flip``)."""
  preprocess = preprocess or stills_preprocess(data_config.flip)
  return iter(train_dataset(source, batch_size, seed=seed, preprocess=preprocess,
                            num_threads=data_config.num_threads,
                            prefetch=data_config.prefetch, rows=rows))


def eval_dataset(source, batch_size: int, num_threads: int = 4,
                 limit: int | None = None, rows: np.ndarray | None = None,
                 preprocess: PreprocessFn | None = None) -> grain.IterDataset:
  """One ordered pass (no shuffle, no flip) over the first ``limit`` examples in global batches of
  ``batch_size``, of which this process loads its ``rows`` (as ``train_dataset``); the last
  partial global batch is dropped so every batch splits over the devices."""
  ds = grain.MapDataset.source(source)
  if limit is not None:
    ds = ds[:limit]
  preprocess = preprocess or stills_preprocess(flip=False)
  ds = ds.map(lambda ex: preprocess(ex, None))
  ds, local_batch_size = _this_process_rows(ds, batch_size, rows)
  ds = ds.batch(local_batch_size, drop_remainder=True)
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=16))


def varied_indices(source, count: int, keys: Sequence[str] = ("identity", "emotion")
                   ) -> np.ndarray:
  """``count`` indices of examples that differ from the ones picked before in each of ``keys``.

  Scans ``source`` in order; a value is used again only once a scan finds nothing new (the later
  keys are freed first, then all). On SynthFaces' identity-major splits the first picks are
  (identity 0, neutral), (identity 1, happy), (identity 2, sad), ... Without the keys: the first
  ``count`` examples. Reads at most ``32 * count`` examples per scan.
  """
  n = len(source)
  if not n or count <= 0:
    return np.zeros((0,), np.int64)
  keys = [k for k in keys if k in source[0]]
  if not keys:
    return np.arange(count) % n
  scan = min(n, 32 * count)
  values = [None] * scan  # read lazily, once
  seen = [set() for _ in keys]
  chosen: list[int] = []
  freed = 0  # 1: later keys freed since the last pick; 2: all keys freed
  while len(chosen) < count:
    before = len(chosen)
    for i in range(scan):
      if len(chosen) == count:
        break
      if i in chosen:
        continue
      if values[i] is None:
        values[i] = tuple(int(np.asarray(source[i][k]).ravel()[0]) for k in keys)
      if all(v not in s for v, s in zip(values[i], seen)):
        chosen.append(i)
        for v, s in zip(values[i], seen):
          s.add(v)
    if len(chosen) > before:
      freed = 0
    elif freed == 2 or len(chosen) == scan:
      break
    else:  # nothing new: free the later keys, then every key
      freed += 1
      seen = [seen[0] if freed == 1 else set()] + [set() for _ in keys[1:]]
  chosen += [j % n for j in range(count - len(chosen))]  # fewer examples than asked: repeat
  return np.asarray(chosen, np.int64)


def load(data_config: ml_collections.ConfigDict, splits: Sequence[str] | None = None) -> dict:
  """The TFDS data sources of ``config.data`` (building procedural datasets on first use)."""
  splits = tuple(splits or (data_config.train_split, data_config.eval_split))
  return builders.data_sources(data_config.name, splits, data_config.data_dir or None,
                               data_config.build_if_missing,
                               data_config.manual_dir or None, data_config.framing)
