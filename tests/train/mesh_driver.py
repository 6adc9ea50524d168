"""Trains recipes' ``:smoke`` configs for a few iterations on a one-device mesh and on a mesh of
every device (of every process), and writes each one's per-iteration losses. Not a test module
(pytest collects only test_*.py); run it with simulated devices, e.g.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \\
      python tests/train/mesh_driver.py DATA_DIR OUT.json vgan ganimation cgan_transfer:pix2pix
      [--steps=2] [--batch=8] [--dtypes=float32,bfloat16] [--meshes=1,all]

or as one of several processes (each with its own simulated devices; ``--meshes=all``, written
by process 0):

  python tests/train/mesh_driver.py DATA_DIR OUT.json NAMES... --meshes=all \\
      --coordinator=127.0.0.1:PORT --num-processes=2 --process-id=I

Each name is ``configs/<module>.py`` with optional extra variants after a colon (``:smoke`` is
applied after them). Every mesh sees the same global batches (prepared on the host, as
``fxs_jax.train.trainer.train`` prepares them: each process puts its rows on its devices) and the
same seed, so their losses must agree up to float32 reduction order. ``OUT.json``:
``{name: {"<devices>/<dtype>": [[critic, generator or None], ...], "seconds": s}}`` plus
``"processes"``.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fxs_jax import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from fxs_jax import sharding  # pylint: disable=g-import-not-at-top,wrong-import-position
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from fxs_jax.train import trainer as trainer_lib  # pylint: disable=g-import-not-at-top

MESHES = {"1": lambda: jax.devices()[:1], "all": jax.devices}


def smoke_config(name: str, data_dir: str, batch: int):
  module, _, extra = name.partition(":")
  config = importlib.import_module(f"configs.{module}").get_config(
      ",".join(filter(None, [extra, "smoke"])))
  config.data.data_dir = data_dir
  config.data.batch_size = batch
  return config


def losses(name: str, data_dir: str, steps: int, batch: int, dtypes: list[str],
           meshes: list[str]) -> dict:
  """``{"<devices>/<dtype>": [[critic loss, generator loss or None], ...]}`` for the recipe."""
  config = smoke_config(name, data_dir, batch)
  recipe = inference.recipe_for(config)
  split = config.data.train_split
  source = pipeline.load(config.data, [split])[split]
  examples = recipe.examples(source, split)
  train_iter = pipeline.train_iterator(config.data, examples, batch, config.seed,
                                       rows=np.arange(batch), preprocess=recipe.preprocess)
  iterations = max(steps, config.optim.critic_steps)  # at least one generator update
  batches = [trainer_lib._host_batch(train_iter, recipe, step, config.seed)  # pylint: disable=protected-access
             for step in range(iterations)]
  out = {}
  for devices in (MESHES[m]() for m in meshes):
    mesh = Mesh(np.asarray(devices), ("data",))
    rows = sharding.process_rows(mesh, batch)
    for dtype in dtypes:
      config.compute.dtype = dtype
      trainer = trainer_lib.GANTrainer(recipe, config, mesh)
      state, losses_per_step = trainer.init_state(), []
      for step, host in enumerate(batches):
        state, metrics = trainer.train_iteration(
            state, sharding.to_device(sharding.local_rows(host, rows), mesh), step)
        metrics = jax.device_get(metrics)
        losses_per_step.append([float(metrics["critic/loss"]),
                                float(metrics["gen/loss"]) if "gen/loss" in metrics else None])
      out[f"{len(devices)}/{dtype}"] = losses_per_step
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("data_dir")
  parser.add_argument("out")
  parser.add_argument("names", nargs="+")
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--dtypes", default="float32")
  parser.add_argument("--meshes", default="1,all", help="1 (the first device), all (every "
                      "device of every process); several processes support only all")
  parser.add_argument("--coordinator", default=None)
  parser.add_argument("--num-processes", type=int, default=None)
  parser.add_argument("--process-id", type=int, default=None)
  args = parser.parse_args()
  sharding.initialize_processes(args.coordinator, args.num_processes, args.process_id)
  meshes = args.meshes.split(",")
  if jax.process_count() > 1 and meshes != ["all"]:
    parser.error("several processes share only the mesh of all devices: pass --meshes=all")
  result = {"processes": jax.process_count()}
  for name in args.names:
    start = time.perf_counter()
    result[name] = losses(name, args.data_dir, args.steps, args.batch, args.dtypes.split(","),
                          meshes)
    result[name]["seconds"] = time.perf_counter() - start
    if jax.process_index() == 0:  # after every recipe: a run stopped midway keeps the others
      print(f"{name}: {result[name]['seconds']:.0f} s", flush=True)
      Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
