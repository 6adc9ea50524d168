"""glibc malloc settings that speed up XLA:CPU training, applied by re-executing the interpreter.

A training step allocates and frees hundreds of MB of temporaries (XLA's buffers, the GEMM
library's packing buffers) from XLA's worker threads. glibc's default malloc serves them from
per-thread arenas and ``mmap`` and gives the memory back to the kernel as soon as it is freed
(``munmap``, ``MADV_DONTNEED`` when a thread heap shrinks), so the next step faults every page in
again: ~0.9 million page faults and ~2 s of system time per GANimation iteration at 128 px, batch
8 on the 2-core benchmark machine (``experiments/bench/RESULTS.md``). The "reuse" setting keeps
the memory in the process instead::

    GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2^36

one arena (the main heap), no ``mmap`` for large blocks, no trimming: after the first steps a
step page-faults ~0 times. The process keeps its peak memory (it reaches it every step anyway).
The same setting with huge pages (``glibc.malloc.hugetlb=1``) was measured slower here.

It pays where the temporaries are large: measured on the whole ``python -m fxs_jax.main`` run
(2-core machine), GANimation at 128 px batch 25 took 224 s instead of 247 s for 25 steps, but
its ``:demo`` (64 px) 91 s instead of 81 s for 150 steps (one arena: XLA's threads contend for
it, and the few page faults it saves cost less). ``config.compute.malloc`` picks: ``"auto"``
(reuse from ``AUTO_MIN_IMAGE_SIZE`` px up), ``"reuse"`` or ``"glibc"``.

glibc reads tunables only at process start, hence the re-exec. Call ``reexec_with_tuned_malloc()``
in a command-line entry point as soon as the config is known, before JAX initialises a backend::

    from fxs_jax import envtune
    envtune.reexec_with_tuned_malloc(envtune.malloc_choice(config))

It does nothing when ``FXS_NO_REEXEC=1``, off Linux/glibc, when ``GLIBC_TUNABLES`` already sets
any malloc tunable (the user's choice wins), when this process is already the re-executed one, or
when JAX is told to run on an accelerator (the host allocator matters little there).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

MALLOC_PREFIX = "glibc.malloc."
REUSE_TUNABLES = (f"{MALLOC_PREFIX}arena_max=1:{MALLOC_PREFIX}mmap_max=0:"
                  f"{MALLOC_PREFIX}trim_threshold={2 ** 36}")
HUGEPAGE_TUNABLES = f"{MALLOC_PREFIX}hugetlb=1"
MALLOC_CHOICES = ("auto", "reuse", "glibc")
AUTO_MIN_IMAGE_SIZE = 128
OPT_OUT_VAR = "FXS_NO_REEXEC"  # "1": never re-execute
MARKER_VAR = "FXS_REEXECED"  # set in the re-executed process, so it happens at most once
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def _glibc_with_tunables() -> bool:
  """glibc >= 2.26 (malloc tunables)."""
  libc, version = platform.libc_ver()
  if libc != "glibc" or not version:
    return False
  try:
    major, minor = (int(part) for part in version.split(".")[:2])
  except ValueError:
    return False
  return (major, minor) >= (2, 26)


def _cpu_backend_expected(env) -> bool:
  """True unless JAX is pointed at an accelerator (by JAX_PLATFORMS or an installed plugin)."""
  platforms = env.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def with_tunables(tunables: str, environ: dict[str, str] | None = None) -> dict[str, str]:
  """A copy of ``environ`` (default ``os.environ``) whose ``GLIBC_TUNABLES`` has ``tunables``
  instead of any malloc tunables it had (other tunables kept); ``""`` removes them."""
  env = dict(os.environ if environ is None else environ)
  kept = [t for t in env.get("GLIBC_TUNABLES", "").split(":")
          if t and not t.startswith(MALLOC_PREFIX)]
  merged = ":".join(kept + ([tunables] if tunables else []))
  if merged:
    env["GLIBC_TUNABLES"] = merged
  else:
    env.pop("GLIBC_TUNABLES", None)
  return env


def should_reexec(environ: dict[str, str] | None = None) -> bool:
  """Whether ``reexec_with_tuned_malloc`` would re-execute this process."""
  env = os.environ if environ is None else environ
  return (env.get(OPT_OUT_VAR) != "1" and MARKER_VAR not in env
          and MALLOC_PREFIX not in env.get("GLIBC_TUNABLES", "")
          and sys.platform.startswith("linux") and _glibc_with_tunables()
          and _cpu_backend_expected(env) and bool(getattr(sys, "orig_argv", None)))


def malloc_choice(config) -> str:
  """``config.compute.malloc`` resolved to "reuse" or "glibc" (ValueError naming the fix)."""
  compute = config.get("compute") or {}
  choice = compute.get("malloc", "auto")
  if choice not in MALLOC_CHOICES:
    raise ValueError(f"config.compute.malloc must be one of {', '.join(MALLOC_CHOICES)}, got "
                     f"{choice!r}: e.g. --config.compute.malloc=auto.")
  if choice == "auto":
    size = (config.get("model") or {}).get("image_size", 0) or 0
    return "reuse" if size >= AUTO_MIN_IMAGE_SIZE else "glibc"
  return choice


def reexec_with_tuned_malloc(choice: str = "reuse") -> None:
  """Re-executes the current Python command line with the "reuse" malloc setting when ``choice``
  is "reuse" and ``should_reexec()``.

  Replaces this process (``os.execve``: same PID, same arguments, including ``-m module``), so
  nothing after the call runs in the original process. Returns normally when nothing is to do.
  """
  if choice != "reuse" or not should_reexec():
    return
  env = with_tunables(REUSE_TUNABLES)
  env[MARKER_VAR] = "1"
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, list(sys.orig_argv), env)
