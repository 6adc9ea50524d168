"""Input pipeline speed: images/s from the TFDS source through grain to device arrays.

  nice -n 15 python experiments/bench/pipeline.py --data_dir=/work/runs/evaluators/tfds \
      [--rows=ganimation:demo,ganimation:paper,lgpgan:demo,lgpgan:paper] [--batches=100] \
      [--threads=config,1] [--train_images_per_s=ROW=N,...]

Per row (the model's config at its ``:demo`` or paper shape): the trainer's path, i.e.
``pipeline.train_iterator`` (array_record source, shuffle, decode, flip, batch; grain's reader
threads and prefetch from ``config.data``), the recipe's ``prepare_batch`` and
``sharding.to_device``, blocked until the arrays are on the device. The first ``--warmup``
batches (thread start-up, prefetch fill) are not timed. ``--threads`` also runs each row with
other reader thread counts (``config`` = the configured one). Measured alone: while training,
the pipeline's threads share the cores with the training step.

``--train_images_per_s=ganimation:paper=2.1,...`` (from ``models.py``) adds the margin column
(pipeline images/s / training images/s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position

DEFAULT_ROWS = "ganimation:demo,ganimation:paper,lgpgan:demo,lgpgan:paper"


def measure(model: str, shape: str, threads: str, args) -> dict:
  import models  # pylint: disable=g-import-not-at-top

  config = models.make_config(model, shape, data_dir=args.data_dir)
  if threads != "config":
    config.data.num_threads = int(threads)
  return measure_config(config, model, shape, args.warmup, args.batches)


def measure_config(config, model: str, shape: str, warmup: int, batches: int) -> dict:
  """The trainer's input path for ``config``, timed over ``batches`` after ``warmup``."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top
  from fxs_jax import sharding  # pylint: disable=g-import-not-at-top
  from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top

  recipe = recipes.RECIPES[config.model_name](config)
  split = config.data.train_split
  sources = pipeline.load(config.data, splits=(split,))
  mesh = sharding.make_mesh()
  batch = config.data.batch_size
  t0 = time.perf_counter()
  # As fxs_jax.train.trainer.train reads it: the recipe's examples (pairs, clips, ...) of the
  # split, its per-example preprocessing, every row of the global batch on this one process.
  it = pipeline.train_iterator(config.data, recipe.examples(sources[split], split), batch,
                               config.seed, rows=np.arange(batch), preprocess=recipe.preprocess)

  def one(step):
    host = recipe.prepare_batch(next(it), np.random.default_rng([config.seed, step]))
    jax.block_until_ready(sharding.to_device(host, mesh))

  for step in range(warmup):
    one(step)
  first_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  for step in range(warmup, warmup + batches):
    one(step)
  elapsed = time.perf_counter() - t0
  return {"model": model, "shape": shape, "dataset": config.data.name, "batch": batch,
          "threads": config.data.num_threads, "prefetch": config.data.prefetch,
          "warmup_s": first_s, "batches_per_s": batches / elapsed,
          "images_per_s": batches * batch / elapsed}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated model:shape")
  parser.add_argument("--batches", type=int, default=100, help="timed batches per row")
  parser.add_argument("--warmup", type=int, default=5, help="untimed first batches per row")
  parser.add_argument("--threads", default="config,1",
                      help="reader thread counts to run each row with (config = configured)")
  parser.add_argument("--data_dir", default="", help="TFDS data dir (default: TFDS_DATA_DIR)")
  parser.add_argument("--train_images_per_s", default="",
                      help="model:shape=images/s of training, for the margin column")
  args = parser.parse_args()

  train_rate = {}
  for item in filter(None, args.train_images_per_s.split(",")):
    key, value = item.rsplit("=", 1)
    train_rate[key] = float(value)
  benchlib.print_machine()
  results = []
  for spec in filter(None, (s.strip() for s in args.rows.split(","))):
    model, shape = spec.split(":")
    for threads in args.threads.split(","):
      r = measure(model, shape, threads.strip(), args)
      print(f"[{spec} threads={r['threads']}] {r['images_per_s']:.0f} images/s", flush=True)
      results.append(r)
  headers = ["model", "shape", "dataset", "batch", "reader threads", "prefetch",
             "first batches s", "batches/s", "images/s", "training images/s", "margin"]
  rows = []
  for r in results:
    rate = train_rate.get(f"{r['model']}:{r['shape']}")
    rows.append([r["model"], r["shape"], r["dataset"], r["batch"], r["threads"], r["prefetch"],
                 r["warmup_s"], r["batches_per_s"], r["images_per_s"],
                 rate if rate else "-", f"{r['images_per_s'] / rate:.0f}x" if rate else "-"])
  print()
  print(benchlib.markdown_table(headers, rows))


if __name__ == "__main__":
  main()
