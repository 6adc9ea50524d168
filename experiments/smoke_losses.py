"""Per-step losses of every paper's ``:smoke`` run (GANimation, LGP-GAN, cGAN transfer, MotionGAN,
TextureGAN) in one checkout, as JSON: run it on two checkouts (same machine, same data dir) and
compare, to show a refactor changes nothing.

  python experiments/smoke_losses.py CHECKOUT DATA_DIR WORKDIR [--steps=4] > losses.json
  python experiments/smoke_losses.py --compare a.json b.json
"""

import argparse
import importlib
import json
import sys
from pathlib import Path


def losses(checkout: Path, data_dir: str, workdir: Path, steps: int) -> dict:
  sys.path.insert(0, str(checkout))
  from fxs_jax import run  # pylint: disable=import-outside-toplevel
  out = {}
  for name in ("ganimation", "lgpgan", "cgan_transfer", "motiongan", "texturegan"):
    config = importlib.import_module(f"configs.{name}").get_config("smoke")
    config.data.data_dir = data_dir
    config.num_train_steps = steps
    run.run(config, str(workdir / name), "train")
    rows = [json.loads(line) for line in (workdir / name / "metrics.jsonl").read_text().splitlines()]
    out[name] = {str(r["step"]): {k: v for k, v in r.items() if k.startswith(("critic/", "gen/"))}
                 for r in rows if "critic/loss" in r}
  return out


def compare(a: dict, b: dict) -> None:
  worst, count = 0.0, 0
  for model, steps in a.items():
    for step, values in steps.items():
      for name, value in values.items():
        other = b[model][step][name]
        worst = max(worst, abs(value - other) / max(abs(value), 1e-12))
        count += 1
  print(f"{count} logged values compared; max relative difference {worst:.3g}")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("args", nargs="+")
  parser.add_argument("--steps", type=int, default=4)
  parser.add_argument("--compare", action="store_true")
  args = parser.parse_args()
  if args.compare:
    compare(*(json.loads(Path(p).read_text().splitlines()[-1]) for p in args.args))
    return
  checkout, data_dir, workdir = args.args
  print(json.dumps(losses(Path(checkout).resolve(), data_dir, Path(workdir), args.steps)))


if __name__ == "__main__":
  main()
