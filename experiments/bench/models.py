"""Training and generation speed of each model, at its paper shape and its ``:demo`` shape.

  nice -n 15 python experiments/bench/models.py --data_dir=/work/runs/evaluators/tfds \
      [--rows=ganimation:paper,lgpgan:demo:default] [--iters=3] [--warmup=1] [--gen_iters=3]

A row is ``model:shape[:malloc][:conv_impl][:section.key=value...]``: shape ``paper`` (the
config's default), ``demo`` (``:demo``) or ``b8_128`` (the paper's 128 px at batch 8: the PyTorch comparison's shape);
malloc ``reuse`` (the setting ``python -m fxs_jax.main`` applies: ``fxs_jax.envtune``), ``default``
(glibc's) or ``hugetlb`` (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``); conv_impl as in
``config.compute.conv_impl``. Each row runs in a fresh process (clean peak RSS, malloc settings
only apply at start) on one real batch of its dataset (built on first use).

Per row: compile time of the trainer's jitted critic and generator steps; the median over
``--iters`` (after ``--warmup``) of one iteration = one critic update (with its separate
gradient-penalty update where the config has one) + one generator update; images/s = batch /
iteration; the trainer's mean step (a critic update + 1/critic_steps of a generator
update); minor page faults per iteration; FLOPs of both steps from XLA's cost analysis, as GFLOP/s and as a share of a 4096^2
float32 matmul measured in the same process; XLA's peak buffer memory of each step and the
process's max RSS; generation throughput: the recipe's jitted prediction at batch 64 (images,
or motions for MotionGAN).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position

SHAPES = ("paper", "demo", "b8_128")
# Every model at both shapes, the PyTorch comparison's shape, glibc's default malloc against
# the "reuse" setting (the default, as fxs_jax.main) and plain against fast convolutions.
DEFAULT_ROWS = ("ganimation:paper,ganimation:demo,ganimation:b8_128,lgpgan:paper,lgpgan:demo,"
                "ganimation:b8_128:default,ganimation:demo:default,ganimation:demo:plain")
GEN_BATCH = 64


def parse_row(spec: str, malloc: str, conv_impl: str) -> dict:
  parts = spec.split(":")
  if len(parts) < 2 or parts[1] not in SHAPES:
    raise SystemExit(f"bad row {spec!r}: expected model:shape[:malloc][:conv_impl], shape in "
                     f"{SHAPES}")
  row = {"model": parts[0], "shape": parts[1], "malloc": malloc, "conv_impl": conv_impl,
         "overrides": "-"}
  for extra in parts[2:]:
    if "=" in extra:  # a config override, e.g. model.upsample=transpose
      key, _, value = extra.partition("=")
      row.setdefault("set", {})[key] = value
      row["overrides"] = " ".join(f"{k}={v}" for k, v in row["set"].items())
    else:
      row["malloc" if extra in benchlib.MALLOC_MODES else "conv_impl"] = extra
  return row


def make_config(model: str, shape: str, conv_impl: str = "auto", data_dir: str = "",
                overrides: dict | None = None):
  """The model's config at a benchmark shape, with ``compute.conv_impl``, the data dir and any
  ``section.key=value`` overrides (typed as the config's value) set."""
  module = importlib.import_module(f"configs.{model}")
  config = module.get_config("demo" if shape == "demo" else None)
  if shape == "b8_128":
    if config.model.image_size != 128:
      raise SystemExit(f"{model}'s paper shape is {config.model.image_size} px, not 128")
    config.data.batch_size = 8
  config.compute.conv_impl = conv_impl
  config.data.data_dir = data_dir
  for key, value in (overrides or {}).items():
    section, _, name = key.rpartition(".")
    parent = config
    for part in filter(None, section.split(".")):
      parent = parent[part]
    parent[name] = type(parent[name])(value)
  return config


def set_conv_impl(impl: str) -> str:
  """What ``impl`` resolves to ("fast" or "plain"). The trainer's steps trace under
  ``config.compute.conv_impl`` (``make_config`` sets it); a tree whose ``fastconv`` holds a
  process-wide setting instead (``set_conv_impl``) gets it set here."""
  try:
    from fxs_jax.nn import fastconv  # pylint: disable=g-import-not-at-top
  except ImportError:  # a tree from before the switch: one implementation
    if impl != "auto":
      raise SystemExit(f"conv_impl={impl!r}: this fxs_jax has no fxs_jax.nn.fastconv switch")
    return "builtin"
  if hasattr(fastconv, "set_conv_impl"):
    fastconv.set_conv_impl(impl)
  return fastconv.resolve_conv_impl(impl)


class TrainerIteration:
  """One training iteration built from ``GANTrainer``'s own jitted steps, compiled ahead of time
  (``.lower().compile()``) so that compile time, FLOPs and memory can be read off the
  executables that run. The state is donated and threaded through, as in training."""

  STEPS = ("critic", "generator")

  def __init__(self, recipe, config, host_batch):
    import jax  # pylint: disable=g-import-not-at-top
    from fxs_jax import sharding  # pylint: disable=g-import-not-at-top
    from fxs_jax.train.trainer import GANTrainer  # pylint: disable=g-import-not-at-top
    self._jax = jax
    self.trainer = GANTrainer(recipe, config)
    self.batch = sharding.to_device(host_batch, self.trainer.mesh)
    self.state = self.trainer.init_state()
    self.count = 0
    jitted = {"critic": self.trainer.critic_step, "generator": self.trainer.generator_step}
    self.compiled, self.compile_s = {}, {}
    key = self.trainer.step_key(0)
    for name in self.STEPS:
      t0 = time.perf_counter()
      self.compiled[name] = jitted[name].lower(self.state, self.batch, key).compile()
      self.compile_s[name] = time.perf_counter() - t0

  def run(self) -> dict[str, float]:
    """Runs one iteration; returns the seconds of each step and their sum (its logged metrics,
    the losses among them, in ``self.metrics``)."""
    key = self.trainer.step_key(self.count)
    self.count += 1
    times, self.metrics = {}, {}
    for name in self.STEPS:
      t0 = time.perf_counter()
      self.state, metrics = self.compiled[name](self.state, self.batch, key)
      self._jax.block_until_ready((self.state, metrics))
      times[name] = time.perf_counter() - t0
      self.metrics.update(self._jax.device_get(metrics))
    times["iteration"] = sum(times[name] for name in self.STEPS)
    return times

  def flops(self) -> float:
    return sum(compiled_cost(c)["flops"] for c in self.compiled.values())

  def peak_bytes(self) -> dict[str, int]:
    return {name: compiled_memory(c) for name, c in self.compiled.items()}


def compiled_cost(compiled) -> dict[str, float]:
  """FLOPs and bytes accessed of a compiled executable (XLA's cost analysis)."""
  cost = compiled.cost_analysis()
  cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
  return {"flops": float(cost.get("flops", 0.0)),
          "bytes": float(cost.get("bytes accessed", 0.0))}


def compiled_memory(compiled) -> int:
  """Arguments + temporaries + outputs not aliased to (donated) arguments, in bytes (XLA:CPU's
  own peak_memory_in_bytes leaves the temporaries out)."""
  mem = compiled.memory_analysis()
  return int(mem.argument_size_in_bytes + mem.temp_size_in_bytes + mem.output_size_in_bytes
             - mem.alias_size_in_bytes)


def real_batch(recipe, config, batch_size: int, sources=None):
  """One prepared host batch from the train split, through the training input pipeline."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  sources = sources or pipeline.load(config.data, splits=(config.data.train_split,))
  split = config.data.train_split
  ds = pipeline.train_dataset(recipe.examples(sources[split], split), batch_size,
                              seed=config.seed, preprocess=recipe.preprocess, num_threads=1,
                              prefetch=2)
  return recipe.prepare_batch(next(iter(ds)), np.random.default_rng(0)), sources


def measure_row(row: dict, args) -> dict:
  """Everything for one row, in this process."""
  import jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top

  config = make_config(row["model"], row["shape"], row["conv_impl"], args.data_dir,
                       row.get("set"))
  resolved = set_conv_impl(row["conv_impl"])
  recipe = recipes.RECIPES[config.model_name](config)
  batch = config.data.batch_size
  host, sources = real_batch(recipe, config, batch)
  result = {**row, "px": config.model.get("image_size", "-"), "batch": batch,  # "-": motions
            "critic_steps": config.optim.critic_steps, "devices": jax.device_count(),
            "conv_resolved": resolved}
  print(f"[{row['model']}:{row['shape']} malloc={row['malloc']} conv={row['conv_impl']}] "
        f"{result['px']} px, batch {batch}: compiling...", flush=True)
  it = TrainerIteration(recipe, config, host)
  result.update({f"compile_{k}_s": v for k, v in it.compile_s.items()})
  for _ in range(args.warmup):
    it.run()
  faults = benchlib.minor_page_faults()
  runs = [it.run() for _ in range(args.iters)]
  result["page_faults_per_iter"] = (benchlib.minor_page_faults() - faults) / max(args.iters, 1)
  for name in (*TrainerIteration.STEPS, "iteration"):
    result[f"{name}_s"] = benchlib.median([r[name] for r in runs])
  result["iteration_all_s"] = [round(r["iteration"], 4) for r in runs]
  result["images_per_s"] = batch / result["iteration_s"]
  # Trainer schedule: a generator update every critic_steps iterations.
  result["train_iteration_s"] = (result["critic_s"]
                                 + result["generator_s"] / config.optim.critic_steps)
  result["gflop"] = it.flops() / 1e9
  result["gflops_per_s"] = result["gflop"] / result["iteration_s"]
  peaks = it.peak_bytes()
  result.update({f"xla_peak_mb_{k}": v / 2 ** 20 for k, v in peaks.items()})
  result["xla_peak_mb"] = max(peaks.values()) / 2 ** 20
  print(f"  iteration median {result['iteration_s']:.3f} s (critic {result['critic_s']:.3f}, "
        f"generator {result['generator_s']:.3f}); {result['gflop']:.1f} GFLOP", flush=True)

  if args.gen_iters > 0:
    result.update(generation(recipe, config, it, sources, args.gen_iters))
  del it
  result["matmul_peak_gflops"] = benchlib.matmul_peak_gflops()
  result["peak_fraction"] = result["gflops_per_s"] / result["matmul_peak_gflops"]
  result["max_rss_mb"] = benchlib.max_rss_mb()
  result["machine"] = benchlib.machine_info()
  return result


def generation(recipe, config, it: TrainerIteration, sources, iters: int) -> dict:
  """Outputs/s of the trained model's jitted prediction (``fxs_jax.inference.TrainedModel``:
  generator forward and composition, output fetched to the host) at batch 64: ``edit`` of each
  input towards another example's target (the condition the pairs evaluator uses); a transfer
  model's ``transfer`` of each example's source onto its target; TextureGAN's ``render_frames``
  of each frame from its neutral face; MotionGAN's ``sample_motion`` (motions/s, not images)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from fxs_jax import inference  # pylint: disable=g-import-not-at-top
  from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  split = config.data.train_split
  ds = pipeline.train_dataset(recipe.examples(sources[split], split), GEN_BATCH, seed=config.seed,
                              preprocess=lambda example, rng: recipe.preprocess(example, None),
                              num_threads=1, prefetch=2)
  inputs = next(iter(ds))
  targets = {k: np.roll(v, 1, axis=0) for k, v in inputs.items()}
  config.eval.batch_size = GEN_BATCH  # one jitted call per batch
  model = inference.TrainedModel(recipe, it.trainer.gen_def, it.state.gen_params,
                                 it.state.gen_rest, step=0)
  if "sample_motion" in model.predictions:
    edit = lambda inp, tgt: model.sample_motion(
        inp["emotion"], neutral_landmarks=inp["neutral_landmarks"])
  elif "render_frames" in model.predictions:
    edit = lambda inp, tgt: model.render_frames(inp["target_image"], inp["landmarks"])
  elif "transfer" in model.predictions:  # paired examples: each source onto its own target
    edit = lambda inp, tgt: model.transfer(inp["source_image"], inp["target_image"],
                                           inp.get("source_landmarks"),
                                           inp.get("target_landmarks"))
  else:
    key = config.evals.pairs.target
    edit = lambda inp, tgt: model.edit(inp["image"], landmarks=inp["landmarks"],
                                       **{key: tgt[key]})
  compile_s, _ = benchlib.timed(edit, inputs, targets)
  times = [benchlib.timed(edit, inputs, targets)[0] for _ in range(iters)]
  return {"gen_first_call_s": compile_s, "gen_batch_s": benchlib.median(times),
          "gen_images_per_s": GEN_BATCH / benchlib.median(times)}


KEY = (("model", "model"), ("shape", "shape"), ("px", "px"), ("batch", "batch"),
       ("malloc", "malloc"), ("conv", "conv_impl"), ("overrides", "overrides"))
TABLES = (
    ("Training iteration", (
        ("critic s", "critic_s"), ("gen s", "generator_s"), ("iteration s", "iteration_s"),
        ("train img/s", "images_per_s"), ("trainer step s", "train_iteration_s"),
        ("compile critic s", "compile_critic_s"), ("compile gen s", "compile_generator_s"))),
    ("Compute, memory, generation", (
        ("GFLOP/iter", "gflop"), ("GFLOP/s", "gflops_per_s"),
        ("matmul peak GFLOP/s", "matmul_peak_gflops"), ("% of peak", "peak_percent"),
        ("page faults/iter", "page_faults_per_iter"), ("XLA peak MB (max step)", "xla_peak_mb"),
        ("max RSS MB", "max_rss_mb"), ("gen outputs/s (b64)", "gen_images_per_s"))),
)


def print_tables(results: list[dict]) -> None:
  for title, columns in TABLES:
    rows = []
    for r in results:
      if "peak_fraction" in r:
        r = {**r, "peak_percent": 100 * r["peak_fraction"],
             "conv_impl": f"{r['conv_impl']} ({r['conv_resolved']})"}
      rows.append([r.get(key, "error") for _, key in KEY + columns])
    print(f"\n{title}\n")
    print(benchlib.markdown_table([h for h, _ in KEY + columns], rows))


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated row specs")
  parser.add_argument("--malloc", default="reuse", choices=benchlib.MALLOC_MODES,
                      help="malloc of rows that do not name one")
  parser.add_argument("--conv_impl", default="auto",
                      help="config.compute.conv_impl of rows that do not name one")
  parser.add_argument("--iters", type=int, default=3, help="timed iterations per row")
  parser.add_argument("--warmup", type=int, default=1, help="untimed iterations after compiling")
  parser.add_argument("--gen_iters", type=int, default=3,
                      help="timed batch-64 generations per row (0: skip)")
  parser.add_argument("--data_dir", default="", help="TFDS data dir (default: TFDS_DATA_DIR)")
  parser.add_argument("--json", default="", help="also write all results to this JSON file")
  parser.add_argument("--worker_row", default="", help=argparse.SUPPRESS)
  parser.add_argument("--json_out", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.worker_row:  # one row in this (fresh) process
    result = measure_row(json.loads(args.worker_row), args)
    Path(args.json_out).write_text(json.dumps(result, indent=1))
    return

  rows = [parse_row(spec.strip(), args.malloc, args.conv_impl)
          for spec in args.rows.split(",") if spec.strip()]
  benchlib.print_machine()
  common = [f"--iters={args.iters}", f"--warmup={args.warmup}", f"--gen_iters={args.gen_iters}",
            f"--data_dir={args.data_dir}"]
  results = []
  t0 = time.perf_counter()
  for row in rows:
    results.append(benchlib.run_worker(__file__, common + ["--worker_row=" + json.dumps(row)],
                                       row["malloc"]) | {k: row[k] for k in row})
  print(f"\n{len(rows)} rows in {time.perf_counter() - t0:.0f} s; load average "
        f"{benchlib.machine_info()['load_avg_1m']}\n")
  print_tables(results)
  if args.json:
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
