"""Max RSS of loading a trained model and running one edit: ``fxs_jax.load`` (generator item only)
against restoring the whole train state (``trainer.load_latest``: critic and both Adam states too).

  python experiments/bench/load_memory.py --workdir=/tmp/ganimation_paper  [--config=...]

Writes a freshly initialised checkpoint of the config (default: GANimation's paper setting, 128 px)
into ``--workdir`` once, then measures each way in its own process (``ru_maxrss``), beside a
process that only imports fxs_jax and starts JAX. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = f"""
import json, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
import jax
jax.numpy.zeros(1).block_until_ready()
def report(extra):
  rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print("RESULT " + json.dumps({{"max_rss_mb": rss_mb, **extra}}))
"""

WAYS = {
    "python + jax only": "report({})",
    "fxs_jax.load + one edit": """
import fxs_jax
t = time.perf_counter()
model = fxs_jax.load(WORKDIR)
size = model.config.model.image_size
face = np.zeros((1, size, size, 3), np.uint8)
model.edit(face, emotion="happy")
report({"seconds": time.perf_counter() - t,
        "restored_floats": sum(np.size(x) for x in jax.tree.leaves((model.params, model.rest)))})
""",
    "trainer.load_latest (whole state) + one edit": """
import ml_collections
from fxs_jax import inference
from fxs_jax.train import trainer as trainer_lib
t = time.perf_counter()
config = ml_collections.ConfigDict(json.load(open(WORKDIR + "/config.json")))
recipe = inference.recipe_for(config)
trainer, state, step = trainer_lib.load_latest(recipe, config, WORKDIR)
gen = trainer.generator(state)
size = config.model.image_size
face = np.zeros((1, size, size, 3), np.float32)
target = np.zeros((1, config.model.num_aus), np.float32)
edit = jax.jit(lambda x, a: recipe.edit(gen, x, a)[0])
np.asarray(edit(face, target))
report({"seconds": time.perf_counter() - t,
        "restored_floats": sum(np.size(x) for x in jax.tree.leaves(state))})
""",
}


def make_checkpoint(config_arg: str, workdir: Path) -> None:
  """A step-1 checkpoint of a freshly initialised train state (what a run saves)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, str(ROOT))
  from fxs_jax import inference  # pylint: disable=g-import-not-at-top
  from fxs_jax.run import prepare_workdir  # pylint: disable=g-import-not-at-top
  from fxs_jax.train import state as state_lib  # pylint: disable=g-import-not-at-top
  from fxs_jax.train import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  from fxs_jax.train.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  path, _, variant = config_arg.partition(":")
  spec = importlib.util.spec_from_file_location("bench_config", ROOT / path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant or None)
  trainer = trainer_lib.GANTrainer(inference.recipe_for(config), config)
  state = trainer.init_state()
  prepare_workdir(workdir, config)
  ckpt = Checkpointer(workdir / "checkpoints", config)
  ckpt.save(1, state_lib.to_items(state))
  ckpt.close()


def measure(code: str, workdir: Path) -> dict:
  script = PRELUDE + f"WORKDIR = {str(workdir)!r}\n" + code
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin",
                             "FXS_NO_REEXEC": "1"}, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  if proc.returncode or not lines:
    raise SystemExit(f"measurement failed:\n{proc.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--config", default="configs/ganimation.py")
  parser.add_argument("--make_only", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  workdir = Path(args.workdir)
  if args.make_only:
    make_checkpoint(args.config, workdir)
    return
  if not (workdir / "checkpoints").is_dir():
    # In a process of its own: a child forked from a big parent starts with the parent's max RSS
    # (ru_maxrss survives fork + exec), which would inflate every measurement below.
    subprocess.run([sys.executable, __file__, f"--workdir={workdir}", f"--config={args.config}",
                    "--make_only"], check=True)
  print(f"{args.config}: max RSS per process (one run each)\n")
  print("| way | max RSS MB | floats restored | seconds |\n|---|---|---|---|")
  for name, code in WAYS.items():
    r = measure(code, workdir)
    floats = f"{r['restored_floats'] / 1e6:.1f} M" if "restored_floats" in r else "-"
    seconds = f"{r['seconds']:.1f}" if "seconds" in r else "-"
    print(f"| {name} | {r['max_rss_mb']:.0f} | {floats} | {seconds} |", flush=True)


if __name__ == "__main__":
  main()
