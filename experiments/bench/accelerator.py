"""The accelerator benchmark: each recipe's paper-size training step on whatever devices JAX
sees (a GPU, a TPU, or this CPU), its losses checked against a reference run of the same seed.

  # on the CPU, once: the reference losses (the same batches and seed)
  python experiments/bench/accelerator.py --data_dir=DATA --write_reference=ref.json
  # on the accelerator machine (pip install -e . with its jax[cuda12] / jax[tpu]):
  python experiments/bench/accelerator.py --data_dir=DATA --reference=ref.json --json=out.json
      [--models=ganimation,...] [--shape=paper|demo|smoke] [--iterations=5]

Per model, on the default mesh over every device (``fxs_jax.sharding.make_mesh``), one real batch
of the config's size (the same on every machine: the input pipeline's seed), the trainer's jitted
critic and generator steps compiled ahead of time, then ``--iterations`` iterations (one critic
+ one generator update each) after one warm-up. The JSON (one entry per model, beside the devices'
kind and count):

* ``compile_s``: per step; ``iteration_s``: median and every iteration's seconds;
* ``losses``: ``critic/loss`` and ``gen/loss`` of every iteration, and with ``--reference``,
  ``loss_check``: the largest relative difference from the reference's and whether it is within
  ``--rtol`` (float32 reduction order differs between devices; a TPU's default float32 matmul
  precision is lower: pass a looser ``--rtol`` there);
* ``device_memory``: the first device's ``memory_stats()`` peak and limit in bytes (GPU / TPU;
  the CPU reports none);
* ``flops_per_iteration`` (XLA cost analysis of the compiled steps), ``achieved_tflops`` and
  ``utilisation``: achieved FLOP/s over the devices' peak (``PEAK_TFLOPS`` by device kind, times
  the device count; unknown kinds: none).

Not yet run on an accelerator: its total time there (the goal: under 8 minutes for every recipe
at its paper size) is to be measured. On this CPU it runs at ``--shape=smoke`` in the tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import models as model_bench  # pylint: disable=g-import-not-at-top,wrong-import-position
import scale  # pylint: disable=g-import-not-at-top,wrong-import-position

# Dense bf16 peak TFLOP/s of one device, by ``jax.Device.device_kind`` (public figures).
PEAK_TFLOPS = {"TPU v5 lite": 197.0, "TPU v5e": 197.0, "TPU v4": 275.0, "TPU v5p": 459.0,
               "NVIDIA H100 80GB HBM3": 989.0, "NVIDIA H100": 989.0,
               "NVIDIA A100-SXM4-80GB": 312.0, "NVIDIA A100-SXM4-40GB": 312.0}
LOSSES = ("critic/loss", "gen/loss")


def device_memory(device) -> dict | None:
  """Peak and limit of the device's memory in bytes, where the backend reports them."""
  stats = getattr(device, "memory_stats", lambda: None)()
  if not stats:
    return None
  return {"peak_bytes_in_use": stats.get("peak_bytes_in_use"),
          "bytes_limit": stats.get("bytes_limit")}


def loss_check(losses: list[dict], reference: list[dict], rtol: float) -> dict:
  """The largest relative difference of each iteration's losses from the reference's."""
  if len(losses) != len(reference):
    return {"ok": False, "reason": f"{len(losses)} iterations against the reference's "
                                   f"{len(reference)}"}
  worst = 0.0
  for mine, theirs in zip(losses, reference):
    for name in LOSSES:
      worst = max(worst, abs(mine[name] - theirs[name]) / max(abs(theirs[name]), 1e-12))
  return {"ok": worst <= rtol, "max_relative_difference": worst, "rtol": rtol}


def measure(model: str, shape: str, iterations: int, data_dir: str) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{model}").get_config(
      None if shape == "paper" else shape)
  config.data.data_dir = data_dir
  recipe = recipes.RECIPES[config.model_name](config)
  host, _ = model_bench.real_batch(recipe, config, config.data.batch_size)
  print(f"[{model}:{shape}] batch {config.data.batch_size} on {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}: compiling...", flush=True)
  it = model_bench.TrainerIteration(recipe, config, host)
  it.run()  # warm-up: the first iteration's losses are the reference's first too
  losses = [{name: float(it.metrics[name]) for name in LOSSES}]
  times = []
  for _ in range(iterations - 1):
    times.append(it.run()["iteration"])
    losses.append({name: float(it.metrics[name]) for name in LOSSES})
  flops = it.flops()
  median = benchlib.median(times) if times else None
  kind = jax.devices()[0].device_kind
  peak = PEAK_TFLOPS.get(kind)
  achieved = flops / median / 1e12 if median else None
  return {
      "model": model, "shape": shape, "batch": config.data.batch_size,
      "device_kind": kind, "device_count": jax.device_count(), "compile_s": it.compile_s,
      "iteration_s": {"median": median, "all": times}, "losses": losses,
      "device_memory": device_memory(jax.devices()[0]), "flops_per_iteration": flops,
      "achieved_tflops": achieved,
      "utilisation": achieved / (peak * jax.device_count()) if achieved and peak else None,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--models", default=",".join(scale.MODELS))
  parser.add_argument("--shape", default="paper", choices=("paper", "demo", "smoke"))
  parser.add_argument("--iterations", type=int, default=5,
                      help="iterations per model (the first is also the warm-up)")
  parser.add_argument("--data_dir", default="", help="TFDS data dir (default: TFDS_DATA_DIR)")
  parser.add_argument("--reference", default="", help="a --write_reference JSON to check against")
  parser.add_argument("--rtol", type=float, default=1e-3)
  parser.add_argument("--write_reference", default="", help="write the losses to this JSON")
  parser.add_argument("--json", default="", help="write the results to this JSON")
  args = parser.parse_args()
  if args.iterations < 2:
    raise SystemExit("--iterations must be >= 2 (the first is the warm-up).")
  reference = json.loads(Path(args.reference).read_text()) if args.reference else {}
  results = []
  for model in filter(None, args.models.split(",")):
    result = measure(model, args.shape, args.iterations, args.data_dir)
    if model in reference.get("losses", {}):
      result["loss_check"] = loss_check(result["losses"], reference["losses"][model], args.rtol)
    elif args.reference:
      result["loss_check"] = {"ok": False, "reason": f"no {model} in {args.reference}"}
    results.append(result)
    print(f"  iteration {result['iteration_s']['median']:.4f} s; "
          f"loss check {result.get('loss_check', {}).get('ok', 'not asked')}", flush=True)
  if args.write_reference:
    Path(args.write_reference).write_text(json.dumps(
        {"shape": args.shape, "iterations": args.iterations,
         "losses": {r["model"]: r["losses"] for r in results}}, indent=1) + "\n")
  if args.json:
    Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), "results": results},
                                          indent=1) + "\n")
  failed = [r["model"] for r in results if not r.get("loss_check", {}).get("ok", True)]
  if failed:
    raise SystemExit(f"losses differ from the reference for: {', '.join(failed)}")


if __name__ == "__main__":
  main()
