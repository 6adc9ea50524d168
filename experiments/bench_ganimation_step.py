"""Times GANimation's jitted critic and generator steps (compile and steady state).

  python experiments/bench_ganimation_step.py --variant=demo [--batch=16] [--iters=5]

Prints seconds per critic update (incl. its gradient-penalty update), per generator update, and
per training iteration (1 critic + 1/critic_steps generator), on random data.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from configs import ganimation as ganimation_config
from fxs_jax import sharding
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.train.trainer import GANTrainer


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--variant", default="demo")
  parser.add_argument("--batch", type=int, default=None)
  parser.add_argument("--iters", type=int, default=5)
  parser.add_argument("--set", action="append", default=[],
                      help="model overrides, e.g. --set gp_separate_step=False")
  args = parser.parse_args()
  config = ganimation_config.get_config(args.variant)
  if args.batch:
    config.data.batch_size = args.batch
  for item in args.set:
    key, value = item.split("=")
    old = config.model[key]
    config.model[key] = type(old)(value == "True" if isinstance(old, bool) else value)
  b, s = config.data.batch_size, config.model.image_size
  rng = np.random.default_rng(0)
  recipe = GANimation(config)
  host = recipe.prepare_batch({"image": rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32),
                               "aus": rng.uniform(0, 5, (b, 17)).astype(np.float32)}, rng)
  trainer = GANTrainer(recipe, config)
  batch = sharding.to_device(host, trainer.mesh)
  state = trainer.init_state()
  key = trainer.step_key(0)
  for name, step in (("critic", trainer.critic_step), ("generator", trainer.generator_step)):
    t0 = time.perf_counter()
    state, m = step(state, batch, key)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.iters):
      t0 = time.perf_counter()
      state, m = step(state, batch, key)
      jax.block_until_ready(m)
      times.append(time.perf_counter() - t0)
    print(f"{name}: compile+first {compile_s:.2f} s, step median {np.median(times):.3f} s "
          f"(min {min(times):.3f})")
    if name == "critic":
      critic_s = np.median(times)
    else:
      gen_s = np.median(times)
  per_iter = critic_s + gen_s / config.optim.critic_steps
  print(f"config {args.variant}: {s}px batch {b}, per iteration {per_iter:.3f} s "
        f"-> {3600 / per_iter:.0f} iterations/hour")


if __name__ == "__main__":
  main()
