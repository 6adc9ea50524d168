"""Helpers shared by the benchmark scripts: machine facts, timing, tables, fresh-process runs.

The scripts are run as files (``python experiments/bench/models.py``); importing this module puts
the repository root on ``sys.path`` so that ``configs`` and ``fxs_jax`` import from anywhere.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

from fxs_jax import envtune  # pylint: disable=g-import-not-at-top,wrong-import-position

# glibc malloc settings (GLIBC_TUNABLES): "reuse" is what `python -m fxs_jax.main` runs with.
MALLOC_TUNABLES = {"default": "", "reuse": envtune.REUSE_TUNABLES,
                   "hugetlb": envtune.HUGEPAGE_TUNABLES}
MALLOC_MODES = tuple(MALLOC_TUNABLES)


def cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


# The vector-unit flags that decide XLA:CPU's kernels (AVX2 only, AVX-512, native bf16).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")


def cpu_flags() -> list[str]:
  """Which of ``CPU_FLAGS`` /proc/cpuinfo lists here."""
  try:
    line = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags"))
  except (OSError, StopIteration):
    return []
  present = set(line.split(":", 1)[1].split())
  return [flag for flag in CPU_FLAGS if flag in present]


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "-"


def machine_info() -> dict:
  """What the numbers depend on: cores, CPU, load, library versions, malloc setting."""
  return {
      "nproc": os.cpu_count(),
      "cpu": cpu_model(),
      "cpu_flags": " ".join(cpu_flags()),
      "load_avg_1m": round(os.getloadavg()[0], 2),
      "python": platform.python_version(),
      "glibc": "-".join(platform.libc_ver()),
      **{pkg: _version(pkg) for pkg in ("jax", "jaxlib", "flax", "optax", "grain",
                                         "tensorflow-datasets", "numpy", "torch")},
      "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""),
  }


def print_machine(info: dict | None = None) -> None:
  info = info or machine_info()
  print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)


def max_rss_mb() -> float:
  """This process's peak resident memory so far (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def minor_page_faults() -> int:
  """This process's minor page faults so far (what huge-page malloc cuts)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def median(values) -> float:
  values = sorted(values)
  n = len(values)
  if not n:
    return float("nan")
  return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def timed(fn, *args):
  """``(seconds, result)`` of one call (the caller blocks on device work inside ``fn``)."""
  t0 = time.perf_counter()
  result = fn(*args)
  return time.perf_counter() - t0, result


def matmul_peak_gflops(size: int = 4096, reps: int = 3) -> float:
  """Best GFLOP/s of a jitted ``size``^2 float32 matmul in JAX: the yardstick for FLOP/s."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  best = min(timed(lambda: dot(a, b).block_until_ready())[0] for _ in range(reps))
  return 2 * size ** 3 / best / 1e9


def markdown_table(headers: list[str], rows: list[list]) -> str:
  def cell(v):
    if isinstance(v, float):
      return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
  lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def malloc_env(mode: str) -> dict[str, str]:
  """The environment of a fresh process with glibc's default malloc, the "reuse" setting
  ``python -m fxs_jax.main`` applies (``fxs_jax.envtune``) or huge-page malloc.

  ``FXS_NO_REEXEC=1`` keeps ``fxs_jax.envtune`` from changing the setting under test.
  """
  if mode not in MALLOC_MODES:
    raise ValueError(f"malloc mode must be one of {MALLOC_MODES}, got {mode!r}")
  env = envtune.with_tunables(MALLOC_TUNABLES[mode])
  env[envtune.OPT_OUT_VAR] = "1"
  return env


def current_malloc_mode() -> str:
  tunables = ":".join(t for t in os.environ.get("GLIBC_TUNABLES", "").split(":")
                      if t.startswith(envtune.MALLOC_PREFIX))
  for mode, setting in MALLOC_TUNABLES.items():
    if tunables == setting:
      return mode
  return tunables


def run_worker(script: str, args: list[str], malloc: str) -> dict:
  """Runs ``script args --json_out=FILE`` in a fresh Python process with the ``malloc`` setting
  and returns the JSON it wrote (its console output passes through)."""
  with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "result.json"
    cmd = [sys.executable, script, *args, f"--json_out={out}"]
    proc = subprocess.run(cmd, env=malloc_env(malloc), check=False)
    if proc.returncode or not out.exists():
      return {"error": f"exit {proc.returncode}: {' '.join(cmd[1:])}"}
    return json.loads(out.read_text())


def run_per_model(script: str, models: list[str], worker_args: list[str], json_path: str = "",
                  record: dict | None = None) -> list[dict]:
  """Runs ``script --worker=MODEL *worker_args`` for each model, each in a fresh process (its own
  peak RSS), and returns their results. A model that fails (e.g. out of host memory) is reported
  and the others still run; with ``json_path`` the file (``record`` plus ``results`` and
  ``failed``) is rewritten after every model, so a long run stopped midway keeps what it
  measured. Raises SystemExit naming the failed models, after the others."""
  results, failed = [], {}
  for model in models:
    result = run_worker(script, [f"--worker={model}", *worker_args], "reuse")
    if "error" in result:
      print(f"{model}: {result['error']}", file=sys.stderr, flush=True)
      failed[model] = result["error"]
    else:
      results.append(result)
    if json_path:
      Path(json_path).write_text(json.dumps(
          {**(record or {}), "results": results, "failed": failed}, indent=1) + "\n")
  if failed:
    raise SystemExit(f"failed: {', '.join(failed)} (see above)")
  return results


def per_model_parser(doc: str, models: tuple[str, ...], shape: str) -> argparse.ArgumentParser:
  """The command line of a script measuring each model in its own process
  (``run_per_model``): ``--models``, ``--shape``, ``--data_dir``, ``--json``, ``--table`` (print
  a results file's tables) and the hidden worker flags."""
  parser = argparse.ArgumentParser(description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--models", default=",".join(models))
  parser.add_argument("--shape", default=shape, choices=("paper", "demo", "smoke"))
  parser.add_argument("--data_dir", default="", help="TFDS data dir (default: TFDS_DATA_DIR)")
  parser.add_argument("--json", default="", help="write the results to this JSON file")
  parser.add_argument("--table", default="", help="print the tables of this results JSON")
  parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
  parser.add_argument("--json_out", default="", help=argparse.SUPPRESS)
  return parser


def per_model_main(script: str, args: argparse.Namespace, measure, tables,
                   record: dict | None = None, **options) -> None:
  """What a ``per_model_parser`` script does with its parsed ``args``: print a results file's
  tables (``--table``); or, as a worker, ``measure(model, shape, data_dir=..., **options)`` into
  ``--json_out``; or run every model in its own worker (``run_per_model``, passing ``options`` as
  ``--name=value`` flags) and print ``tables(results)``."""
  if args.table:
    print(tables(json.loads(Path(args.table).read_text())["results"]))
  elif args.worker:  # one model in this (fresh) process
    result = measure(args.worker, args.shape, data_dir=args.data_dir, **options)
    Path(args.json_out).write_text(json.dumps(result, indent=1))
  else:
    flags = [f"--shape={args.shape}", f"--data_dir={args.data_dir}",
             *(f"--{name}={value}" for name, value in options.items())]
    results = run_per_model(script, list(filter(None, args.models.split(","))), flags,
                            args.json, {"command": " ".join(sys.argv), **(record or {})})
    print(tables(results))
