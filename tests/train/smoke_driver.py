"""Runs GANimation `:smoke` training in its own process, for tests that kill it or change the
device count. Not a test module (pytest collects only test_*.py).

  python tests/train/smoke_driver.py WORKDIR DATA_DIR STEPS [--kill-at=N] [--sigterm-at=N]
      [--batch=B]
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from configs import ganimation as ganimation_config  # pylint: disable=g-import-not-at-top
from fxs_jax import run  # pylint: disable=g-import-not-at-top
from fxs_jax.train import trainer as trainer_lib  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("data_dir")
  parser.add_argument("steps", type=int)
  parser.add_argument("--kill-at", type=int, default=None)
  parser.add_argument("--sigterm-at", type=int, default=None)
  parser.add_argument("--batch", type=int, default=2)
  args = parser.parse_args()
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


if __name__ == "__main__":
  main()
