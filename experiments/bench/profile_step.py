"""Where a training iteration's time goes: XLA's own trace of each model's compiled critic and
generator steps (``jax.profiler``), every op's time grouped by what it computes.

  nice -n 15 python experiments/bench/profile_step.py --data_dir=DATA
      [--models=ganimation,lgpgan,...] [--shape=demo|paper|smoke] [--iterations=3]
      [--json=experiments/bench/profile_demo.json]
  python experiments/bench/profile_step.py --table=experiments/bench/profile_demo.json

Each model runs in a fresh process on one real batch, through the trainer's own jitted steps
compiled ahead of time (``models.TrainerIteration``), traced over ``--iterations`` after one
warm-up. Every op of the trace (an HLO instruction of the optimised program: a fusion, a
convolution, a dot, a copy) is matched with its instruction in the compiled module's text, whose
metadata names the JAX operation and the function scope it came from, and counted in the first
group that holds it:

* ``gradient penalty, double backward``: the penalty's own gradient taken with respect to the
  critic's weights (``transpose(jvp(gradient_penalty))`` in its name: the second backward pass);
* ``gradient penalty, input gradient``: the penalty's forward pass and its gradient w.r.t. the
  interpolated images (the rest of ``gradient_penalty``);
* ``crops and paste-back``: ``fxs_jax/nn/crops.py``'s scope (LGP-GAN's local generators);
* ``convolutions, forward`` / ``convolutions, backward``: convolutions and matrix products (the
  exact im2col / Winograd forms are dots), backward when their name holds ``transpose(``;
  ``convolutions, unnamed``: those XLA made in its rewrites, with no JAX name (mostly the weight
  gradients of ``lax.conv`` layers, which XLA:CPU computes as convolutions of its own);
* ``copies and transposes``: layout changes;
* ``other``: elementwise fusions, reductions, normalisation, the optimiser update.

Beside the ops: the wall time of each step (the ops' sum can exceed it: XLA:CPU runs independent
ops on several threads), the host's work per batch (the trainer's input path: read, decode,
prepare, put on the device; ``pipeline.measure_config``), the page faults per iteration, and the
CPU's vector flags (AVX2 only, AVX-512, native bf16), since the same program runs at different
speeds on them.
"""

from __future__ import annotations

import collections
import glob
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import models as model_bench  # pylint: disable=g-import-not-at-top,wrong-import-position
import pipeline as pipeline_bench  # pylint: disable=g-import-not-at-top,wrong-import-position

MODELS = ("ganimation", "lgpgan", "cgan_transfer", "motiongan", "texturegan")
GROUPS = ("gradient penalty, double backward", "gradient penalty, input gradient",
          "crops and paste-back", "convolutions, forward", "convolutions, backward",
          "convolutions, unnamed", "copies and transposes", "other")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) (?:\S+ )?([\w\-]+)\(")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_SOURCE = re.compile(r'source_file="([^"]*)"')
_CALLS = re.compile(r"calls=%?([\w.\-]+)")


def instructions(hlo_text: str) -> dict[str, dict]:
  """``{name: {"opcode", "shape", "op_name", "source", "inner"}}`` of an optimised HLO module's
  instructions; ``inner``: the opcodes inside a fusion's computation."""
  computations, current, found = collections.defaultdict(set), None, {}
  for line in hlo_text.splitlines():
    header = re.match(r"^\s*(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
    if header and "=" not in line.split("{")[0]:
      current = header.group(1)
      continue
    match = _INSTRUCTION.match(line)
    if not match:
      continue
    name, shape, opcode = match.groups()
    computations[current].add(opcode)
    op_name, source, calls = (_OP_NAME.search(line), _SOURCE.search(line), _CALLS.search(line))
    found[name] = {"opcode": opcode, "shape": shape, "op_name": op_name.group(1) if op_name else "",
                   "source": source.group(1) if source else "",
                   "calls": calls.group(1) if calls else None}
  for info in found.values():
    info["inner"] = sorted(computations.get(info.pop("calls"), ()))
  return found


def group(info: dict) -> str:
  """The group (``GROUPS``) of one instruction."""
  name = info["op_name"]
  if "transpose(jvp(gradient_penalty" in name:
    return GROUPS[0]
  if "gradient_penalty" in name:
    return GROUPS[1]
  if "crops_and_paste" in name:  # fxs_jax.nn.crops.PROFILE_SCOPE
    return GROUPS[2]
  kinds = {info["opcode"], *info["inner"]}
  if kinds & {"convolution", "dot"} or (info["opcode"] == "custom-call"
                                        and re.search("conv|matmul|dot", name)):
    if not name:
      return GROUPS[5]
    return GROUPS[4] if "transpose(" in name else GROUPS[3]
  if kinds <= {"copy", "transpose", "bitcast", "parameter", "tuple", "get-tuple-element"}:
    return GROUPS[6]
  return GROUPS[7]


def trace_op_seconds(trace_dir: str) -> dict[tuple[str, str], float]:
  """``{(hlo module, op): seconds}`` summed over every event of an XLA:CPU trace."""
  from jax.profiler import ProfileData  # pylint: disable=g-import-not-at-top
  totals = collections.Counter()
  for path in glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True):
    for plane in ProfileData.from_file(path).planes:
      for line in plane.lines:
        for event in line.events:
          stats = dict(event.stats)
          if "hlo_op" in stats and "hlo_module" in stats:
            totals[stats["hlo_module"], stats["hlo_op"]] += event.duration_ns * 1e-9
  return dict(totals)


def measure(model: str, shape: str, iterations: int, data_dir: str) -> dict:
  """The profile of one model, in this process."""
  import importlib  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import recipes  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{model}").get_config(
      None if shape == "paper" else shape)
  config.data.data_dir = data_dir
  recipe = recipes.RECIPES[config.model_name](config)
  batch = config.data.batch_size
  host, _ = model_bench.real_batch(recipe, config, batch)
  it = model_bench.TrainerIteration(recipe, config, host)
  it.run()  # warm-up
  modules = {}
  for step, compiled in it.compiled.items():
    text = compiled.as_text()
    module = re.search(r"HloModule ([\w.\-]+)", text).group(1)
    modules[module] = (step, instructions(text))
  faults = resource.getrusage(resource.RUSAGE_SELF)
  runs = []
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    for _ in range(iterations):
      runs.append(it.run())
    jax.profiler.stop_trace()
    op_seconds = trace_op_seconds(trace_dir)
  after = resource.getrusage(resource.RUSAGE_SELF)
  per_group = {step: collections.Counter() for step in it.STEPS}
  by_op = collections.Counter()
  unmatched = 0.0
  for (module, op), seconds in op_seconds.items():
    if module not in modules or op not in modules[module][1]:
      unmatched += seconds
      continue
    step, found = modules[module]
    info = found[op]
    per_group[step][group(info)] += seconds / iterations
    by_op[step, op, info["opcode"], info["shape"][:60], info["op_name"][-90:]] += (
        seconds / iterations)
  started = time.perf_counter()
  feed = pipeline_bench.measure_config(config, model, shape, warmup=2, batches=10)
  return {
      "model": model, "shape": shape, "batch": batch, "critic_steps": config.optim.critic_steps,
      "image_size": config.model.get("image_size", None), "iterations": iterations,
      "step_s": {step: benchlib.median([r[step] for r in runs]) for step in it.STEPS},
      "iteration_s": benchlib.median([r["iteration"] for r in runs]),
      "op_seconds": {step: dict(groups) for step, groups in per_group.items()},
      "unmatched_op_seconds": unmatched / iterations,
      "top_ops": [{"step": k[0], "op": k[1], "opcode": k[2], "shape": k[3], "op_name": k[4],
                   "seconds": v} for k, v in by_op.most_common(12)],
      "host_batch_s": 1.0 / feed["batches_per_s"], "host_threads": feed["threads"],
      "pipeline_measure_s": time.perf_counter() - started,
      "page_faults_per_iteration": {
          "minor": (after.ru_minflt - faults.ru_minflt) / iterations,
          "major": (after.ru_majflt - faults.ru_majflt) / iterations},
      "cpu_flags": benchlib.cpu_flags(), "machine": benchlib.machine_info(),
  }


def tables(results: list[dict]) -> str:
  """Markdown: per model and step, the share of op time in each group; then the top ops."""
  rows = []
  for r in results:
    for step in ("critic", "generator"):
      groups = r["op_seconds"][step]
      total = sum(groups.values()) or float("nan")
      rows.append([r["model"], r["shape"], step, f"{r['step_s'][step]:.3f}", f"{total:.3f}",
                   *[f"{100 * groups.get(g, 0.0) / total:.0f}%" for g in GROUPS]])
  text = benchlib.markdown_table(
      ["model", "shape", "step", "wall s", "op time s", *GROUPS], rows)
  host = [[r["model"], r["shape"], f"{r['iteration_s']:.3f}", r["critic_steps"],
           f"{r['host_batch_s']:.3f} ({r['host_threads']} threads)",
           f"{r['page_faults_per_iteration']['minor']:,.0f}",
           " ".join(r["cpu_flags"]) or "-", r["machine"]["cpu"]] for r in results]
  text += "\n\n" + benchlib.markdown_table(
      ["model", "shape", "iteration s (critic + generator)", "critic steps per generator step",
       "host work per batch s", "minor page faults per iteration", "CPU flags", "CPU"], host)
  top = [[r["model"], o["step"], o["opcode"], f"`{o['shape']}`", f"`{o['op_name']}`",
          f"{o['seconds'] * 1e3:.1f}"] for r in results for o in r["top_ops"][:5]]
  text += "\n\n" + benchlib.markdown_table(
      ["model", "step", "op", "shape", "JAX operation (end of its name)", "ms per iteration"], top)
  return text


def main():
  parser = benchlib.per_model_parser(__doc__, MODELS, "demo")
  parser.add_argument("--iterations", type=int, default=3, help="traced iterations per model")
  args = parser.parse_args()
  benchlib.per_model_main(__file__, args, measure, tables, None,
                          iterations=args.iterations)


if __name__ == "__main__":
  main()
