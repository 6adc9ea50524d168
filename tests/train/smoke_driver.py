"""Runs GANimation `:smoke` training in its own process, for tests that kill it or change the
device count. Not a test module (pytest collects only test_*.py).

  python tests/train/smoke_driver.py WORKDIR DATA_DIR STEPS [--kill-at=N] [--sigterm-at=N]
      [--batch=B] [--coordinator=HOST:PORT --num-processes=N --process-id=I] [--params-out=NPZ]
      [--then=eval,generate]

With ``--params-out`` it then restores the final checkpoint (from every process) and writes its
generator and critic params to ``NPZ`` (process I writes ``NPZ`` with ``.I`` before the suffix).
``--then`` runs those modes of ``fxs_jax.run`` on the trained workdir afterwards.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # pylint: disable=g-import-not-at-top,g-bad-import-order

from configs import ganimation as ganimation_config  # pylint: disable=g-import-not-at-top
from fxs_jax import run  # pylint: disable=g-import-not-at-top
from fxs_jax import sharding  # pylint: disable=g-import-not-at-top
from fxs_jax.recipes.ganimation import GANimation  # pylint: disable=g-import-not-at-top
from fxs_jax.train import trainer as trainer_lib  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("data_dir")
  parser.add_argument("steps", type=int)
  parser.add_argument("--kill-at", type=int, default=None)
  parser.add_argument("--sigterm-at", type=int, default=None)
  parser.add_argument("--batch", type=int, default=2)
  parser.add_argument("--coordinator", default=None)
  parser.add_argument("--num-processes", type=int, default=None)
  parser.add_argument("--process-id", type=int, default=None)
  parser.add_argument("--params-out", default=None)
  parser.add_argument("--then", default="")
  args = parser.parse_args()
  sharding.initialize_processes(args.coordinator, args.num_processes, args.process_id)
  config = ganimation_config.get_config("smoke")
  config.num_train_steps = args.steps
  config.data.data_dir = args.data_dir
  config.data.batch_size = args.batch
  config.logging.sample_every_steps = 1000
  config.checkpoint.every_steps = 2

  original = trainer_lib._host_batch  # pylint: disable=protected-access

  def host_batch(data_iter, recipe, step, seed):
    if step == args.kill_at:
      # Die the hard way once the checkpoint two saves back is committed (the latest may still
      # be in flight, as in a real crash).
      marker = Path(args.workdir) / "checkpoints" / str(step - 3) / "commit_success.txt"
      deadline = time.time() + 60
      while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
      os.kill(os.getpid(), signal.SIGKILL)
    if step == args.sigterm_at:
      os.kill(os.getpid(), signal.SIGTERM)
    return original(data_iter, recipe, step, seed)

  trainer_lib._host_batch = host_batch  # pylint: disable=protected-access
  run.run(config, args.workdir, "train")
  if args.params_out:
    _, state, _ = trainer_lib.load_latest(GANimation(config), config, Path(args.workdir))
    params = {"gen": state.gen_params, "critic": state.critic_params}
    flat = {jax.tree_util.keystr(path): np.asarray(leaf.addressable_data(0))  # replicated
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    out = Path(args.params_out)
    if jax.process_count() > 1:
      out = out.with_suffix(f".{jax.process_index()}{out.suffix}")
    np.savez(out, **flat)
  for mode in filter(None, args.then.split(",")):
    run.run(config, args.workdir, mode)


if __name__ == "__main__":
  main()
