"""Process-level settings that speed up XLA:CPU, applied by re-executing the interpreter.

glibc's malloc returns freed memory to the kernel and maps it back in 4 KiB pages; XLA:CPU frees
and reallocates large temporaries every step, so a training step spends much of its time in page
faults. ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc >= 2.35) makes malloc ask for
transparent huge pages (``madvise``) instead: on the 2-core benchmark machine it cut page faults
27x and a GANimation iteration (128 px, batch 8) by ~15% (``experiments/bench/RESULTS.md``).
glibc reads tunables only at process start, hence the re-exec.

Call ``reexec_with_hugepage_malloc()`` first thing in a command-line entry point, before the
heavy imports (they would be paid twice)::

    from fxs_jax import envtune
    envtune.reexec_with_hugepage_malloc()

It does nothing when ``FXS_NO_REEXEC=1``, off Linux/glibc, when transparent huge pages are
disabled, when the tunable is already set, when this process is already the re-executed one, or
when JAX is told to run on an accelerator (the host allocator matters little there).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb"
HUGEPAGE_TUNABLES = f"{TUNABLE}=1"
OPT_OUT_VAR = "FXS_NO_REEXEC"  # "1": never re-execute
MARKER_VAR = "FXS_REEXECED"  # set in the re-executed process, so it happens at most once
_THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def _glibc_supports_hugetlb() -> bool:
  libc, version = platform.libc_ver()
  if libc != "glibc" or not version:
    return False
  try:
    major, minor = (int(part) for part in version.split(".")[:2])
  except ValueError:
    return False
  return (major, minor) >= (2, 35)


def _transparent_hugepages_enabled() -> bool:
  try:
    with open(_THP_PATH, encoding="ascii") as f:
      return "[never]" not in f.read()
  except OSError:
    return False


def _cpu_backend_expected() -> bool:
  """True unless JAX is pointed at an accelerator (by JAX_PLATFORMS or an installed plugin)."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def hugepage_env(environ: dict[str, str] | None = None) -> dict[str, str]:
  """A copy of ``environ`` (default ``os.environ``) with the huge-page malloc tunable added to
  ``GLIBC_TUNABLES`` (other tunables kept)."""
  env = dict(os.environ if environ is None else environ)
  current = env.get("GLIBC_TUNABLES", "")
  if TUNABLE not in current:
    env["GLIBC_TUNABLES"] = f"{current}:{HUGEPAGE_TUNABLES}" if current else HUGEPAGE_TUNABLES
  return env


def should_reexec(environ: dict[str, str] | None = None) -> bool:
  """Whether ``reexec_with_hugepage_malloc`` would re-execute this process."""
  env = os.environ if environ is None else environ
  return (env.get(OPT_OUT_VAR) != "1" and MARKER_VAR not in env
          and TUNABLE not in env.get("GLIBC_TUNABLES", "")
          and sys.platform.startswith("linux") and _glibc_supports_hugetlb()
          and _transparent_hugepages_enabled() and _cpu_backend_expected()
          and bool(getattr(sys, "orig_argv", None)))


def reexec_with_hugepage_malloc() -> None:
  """Re-executes the current Python command line with huge-page malloc enabled, if useful.

  Replaces this process (``os.execve``: same PID, same arguments, including ``-m module``), so
  nothing after the call runs in the original process. Returns normally when nothing is to do.
  """
  if not should_reexec():
    return
  env = hugepage_env()
  env[MARKER_VAR] = "1"
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, list(sys.orig_argv), env)
