"""Every recipe at its paper size: measured on this CPU where it can be, computed from XLA's
analyses of the compiled training steps where it cannot.

  nice -n 15 python experiments/bench/scale.py --data_dir=DATA [--models=ganimation,vgan,...]
      [--shape=paper|demo|smoke] [--steps=3] [--json=experiments/bench/scale.json]
  python experiments/bench/scale.py --table=experiments/bench/scale.json   # tables of a JSON

Each model runs in a fresh process (its own peak RSS) on one real batch of its dataset (built on
first use), through the trainer's own jitted critic and generator steps compiled ahead of time
(``models.TrainerIteration``). Per model:

* measured here: compile time of each step, the median iteration (one critic + one generator
  update) over ``--steps`` after one warm-up, the process's peak RSS;
* from XLA's cost analysis of the compiled steps: FLOPs and bytes accessed per trainer iteration
  (a critic update + 1/critic_steps of a generator update, as ``fxs_jax.train`` schedules them),
  and their ratio, the arithmetic intensity;
* from XLA's memory analysis (arguments + temporaries + outputs not aliased to donated
  arguments) of each step compiled at the paper's batch B and at 2B: memory = fixed + B x
  per-example, the largest batch whose larger step fits each accelerator's memory, and a check of
  that line at 3B (``memory_check``: predicted against XLA's figure);
* the roofline: on each accelerator of ``ACCELERATORS`` an iteration takes at least
  max(FLOPs / peak FLOP/s, bytes / memory bandwidth); it is compute-bound when the intensity
  exceeds peak / bandwidth (the ridge point), memory-bound otherwise; times the schedule's
  ``num_train_steps``: the time to train the paper's schedule at that bound.

What the figures are: the program XLA:CPU compiled, in float32. An accelerator's compiler fuses
differently (bytes move), and bf16 compute halves most activations (the memory figures are then
upper bounds); FLOPs are the same program's. The roofline is a lower bound on the step time: real
steps reach a fraction of it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import models as model_bench  # pylint: disable=g-import-not-at-top,wrong-import-position
import pipeline as pipeline_bench  # pylint: disable=g-import-not-at-top,wrong-import-position

MODELS = ("ganimation", "lgpgan", "cgan_transfer", "motiongan", "texturegan", "stargan",
          "attgan", "cyclegan", "c2gan", "mocogan", "vgan", "tgan")
# Public peak figures: dense bf16 matmul FLOP/s, memory bandwidth, memory.
ACCELERATORS = {
    "TPU v5e (1 chip)": {"peak_tflops": 197.0, "bandwidth_gbps": 819.0, "memory_gib": 16},
    "H100 SXM": {"peak_tflops": 989.0, "bandwidth_gbps": 3350.0, "memory_gib": 80},
}
GIB = 2 ** 30


def _step_memory_at(it, batch_size: int) -> dict[str, int]:
  """XLA's memory figure of each step compiled for a global batch of ``batch_size`` (abstract:
  nothing is allocated)."""
  import jax  # pylint: disable=g-import-not-at-top
  abstract = {k: jax.ShapeDtypeStruct((batch_size, *v.shape[1:]), v.dtype, sharding=v.sharding)
              for k, v in it.batch.items()}
  key = it.trainer.step_key(0)
  steps = {"critic": it.trainer.critic_step, "generator": it.trainer.generator_step}
  return {name: model_bench.compiled_memory(step.lower(it.state, abstract, key).compile())
          for name, step in steps.items()}


def memory_line(at_b: dict[str, int], at_2b: dict[str, int], batch: int) -> dict:
  """Per step: ``fixed`` bytes and ``per_example`` bytes of memory = fixed + batch x per-example,
  through the figures at ``batch`` and ``2 * batch``."""
  line = {}
  for name in at_b:
    per_example = (at_2b[name] - at_b[name]) / batch
    line[name] = {"fixed": at_b[name] - per_example * batch, "per_example": per_example}
  return line


def largest_batch(line: dict, memory_bytes: float) -> int:
  """The largest global batch whose every step fits ``memory_bytes`` (0: none does)."""
  fits = []
  for step in line.values():
    if step["per_example"] <= 0:
      fits.append(math.inf if step["fixed"] <= memory_bytes else 0)
    else:
      fits.append(max(0, math.floor((memory_bytes - step["fixed"]) / step["per_example"])))
  best = min(fits)
  return -1 if best == math.inf else int(best)  # -1: the batch does not move the figure


def roofline(flops: float, bytes_accessed: float, num_steps: int) -> dict:
  """Per accelerator: the iteration's lower-bound seconds, its bound, and the schedule's hours."""
  out = {}
  intensity = flops / bytes_accessed if bytes_accessed else math.inf
  for name, acc in ACCELERATORS.items():
    peak, bandwidth = acc["peak_tflops"] * 1e12, acc["bandwidth_gbps"] * 1e9
    compute_s, memory_s = flops / peak, bytes_accessed / bandwidth
    out[name] = {"iteration_s": max(compute_s, memory_s),
                 "bound": "compute" if intensity > peak / bandwidth else "memory",
                 "ridge_flops_per_byte": peak / bandwidth,
                 "schedule_hours": max(compute_s, memory_s) * num_steps / 3600}
  return out


def measure(model: str, shape: str, steps: int, data_dir: str,
            pipeline_batches: int = 20) -> dict:
  """Everything for one model, in this process."""
  import importlib  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{model}").get_config(
      None if shape == "paper" else shape)
  config.data.data_dir = data_dir
  recipe = recipes.RECIPES[config.model_name](config)
  batch = config.data.batch_size
  host, _ = model_bench.real_batch(recipe, config, batch)
  print(f"[{model}:{shape}] batch {batch}: compiling...", flush=True)
  it = model_bench.TrainerIteration(recipe, config, host)
  it.run()  # warm-up
  runs = [it.run() for _ in range(steps)]
  costs = {name: model_bench.compiled_cost(c) for name, c in it.compiled.items()}
  critic_steps = config.optim.critic_steps
  flops = costs["critic"]["flops"] + costs["generator"]["flops"] / critic_steps
  bytes_accessed = costs["critic"]["bytes"] + costs["generator"]["bytes"] / critic_steps
  at_b = it.peak_bytes()
  at_2b = _step_memory_at(it, 2 * batch)
  line = memory_line(at_b, at_2b, batch)
  measured_3b = _step_memory_at(it, 3 * batch)
  result = {
      "model": model, "shape": shape, "batch": batch, "critic_steps": critic_steps,
      "num_train_steps": config.num_train_steps, "devices": jax.device_count(),
      "image_size": config.model.get("image_size", None),
      "compile_s": it.compile_s,
      "iteration_s": benchlib.median([r["iteration"] for r in runs]),
      "step_s": {name: benchlib.median([r[name] for r in runs]) for name in it.STEPS},
      "max_rss_mb": benchlib.max_rss_mb(),
      "cost": costs, "iteration_flops": flops, "iteration_bytes": bytes_accessed,
      "intensity_flops_per_byte": flops / bytes_accessed if bytes_accessed else None,
      "memory_bytes": at_b, "memory_bytes_2b": at_2b, "memory_line": line,
      "memory_check": {name: {"batch": 3 * batch, "measured": measured_3b[name],
                              "predicted": line[name]["fixed"]
                              + 3 * batch * line[name]["per_example"]}
                       for name in line},
      "largest_batch": {name: largest_batch(line, acc["memory_gib"] * GIB)
                        for name, acc in ACCELERATORS.items()},
      "roofline": roofline(flops, bytes_accessed, config.num_train_steps),
      "machine": benchlib.machine_info(),
  }
  # The input pipeline on this host, alone (no training step beside it), in examples (images,
  # pairs or clips) per second, against what one accelerator consumes at the roofline.
  feed = pipeline_bench.measure_config(config, model, shape, warmup=3,
                                       batches=pipeline_batches)
  result["pipeline"] = {k: feed[k] for k in ("threads", "prefetch", "images_per_s")}
  print(f"  iteration {result['iteration_s']:.3f} s here; {flops / 1e9:.1f} GFLOP, "
        f"{bytes_accessed / 1e9:.2f} GB per iteration; input pipeline "
        f"{feed['images_per_s']:.0f} examples/s", flush=True)
  return result


def tables(results: list[dict]) -> str:
  """Markdown: the paper-size runs on this CPU, then the cost model."""
  here = [[r["model"], r["shape"], r["image_size"] or "-", r["batch"],
           f"{r['compile_s']['critic'] + r['compile_s']['generator']:.1f}",
           f"{r['iteration_s']:.2f}", f"{r['max_rss_mb'] / 1024:.2f}",
           f"{max(r['memory_bytes'].values()) / GIB:.2f}",
           *[r["largest_batch"][name] for name in ACCELERATORS]] for r in results]
  text = benchlib.markdown_table(
      ["model", "shape", "px", "batch", "compile s", "iteration s (here)", "peak RSS GiB",
       "XLA step memory GiB", *[f"largest batch, {n} ({a['memory_gib']} GiB)"
                                for n, a in ACCELERATORS.items()]], here)
  cost = [[r["model"], f"{r['iteration_flops'] / 1e9:.1f}", f"{r['iteration_bytes'] / 1e9:.2f}",
           f"{r['intensity_flops_per_byte']:.0f}",
           *[f"{r['roofline'][n]['iteration_s'] * 1e3:.2f} ms ({r['roofline'][n]['bound']}), "
             f"{r['roofline'][n]['schedule_hours']:.2f} h" for n in ACCELERATORS]]
          for r in results]
  text += "\n\n" + benchlib.markdown_table(
      ["model", "GFLOP / iteration", "GB accessed / iteration", "FLOP / byte",
       *[f"{n}: iteration at the roofline, schedule" for n in ACCELERATORS]], cost)
  fed = [r for r in results if "pipeline" in r]
  if fed:
    text += "\n\n" + benchlib.markdown_table(
        ["model", "batch", "input pipeline here, examples/s (reader threads)",
         *[f"{n} at the roofline consumes, examples/s (hosts like this one per chip)"
           for n in ACCELERATORS]],
        [[r["model"], r["batch"],
          f"{r['pipeline']['images_per_s']:.0f} ({r['pipeline']['threads']})",
          *[_consumption(r, n) for n in ACCELERATORS]] for r in fed])
  machines = sorted({f"{r['machine']['cpu']} ({r['machine']['nproc']} cores"
                     + (f", {r['machine']['cpu_flags']}" if r["machine"].get("cpu_flags") else "")
                     + f", jax {r['machine']['jax']})" for r in results})
  loads = [r["machine"]["load_avg_1m"] for r in results]
  text += (f"\n\nMeasured on {', '.join(machines)}; 1-minute load average "
           f"{min(loads):.2f}-{max(loads):.2f} when each model started. XLA:CPU's float32 "
           "programs.")
  return text


def _consumption(result: dict, accelerator: str) -> str:
  """Examples/s one accelerator takes at its roofline iteration time (a batch every iteration,
  a generator update every ``critic_steps``), and how many hosts like this one would feed it."""
  rate = result["batch"] / result["roofline"][accelerator]["iteration_s"]
  return f"{rate:,.0f} ({rate / result['pipeline']['images_per_s']:.1f})"


def main():
  parser = benchlib.per_model_parser(__doc__, MODELS, "paper")
  parser.add_argument("--steps", type=int, default=3, help="timed iterations per model")
  args = parser.parse_args()
  benchlib.per_model_main(__file__, args, measure, tables, {"accelerators": ACCELERATORS},
                          steps=args.steps)


if __name__ == "__main__":
  main()
