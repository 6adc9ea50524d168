"""The tuned-malloc re-exec: when it applies, and that it really re-executes once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fxs_jax import envtune

ROOT = Path(__file__).resolve().parents[1]
CLEAN = {k: v for k, v in os.environ.items()
         if k not in ("FXS_NO_REEXEC", "FXS_REEXECED", "GLIBC_TUNABLES")}


def test_with_tunables_replaces_malloc_tunables_only():
  env = envtune.with_tunables(envtune.REUSE_TUNABLES, {
      "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1:glibc.cpu.hwcaps=-AVX2", "X": "1"})
  assert env["GLIBC_TUNABLES"] == ("glibc.cpu.hwcaps=-AVX2:glibc.malloc.arena_max=1:"
                                   "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736")
  assert env["X"] == "1"
  assert "GLIBC_TUNABLES" not in envtune.with_tunables("", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})


@pytest.mark.parametrize("extra", [{"FXS_NO_REEXEC": "1"}, {"FXS_REEXECED": "1"},
                                   {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"},
                                   {"JAX_PLATFORMS": "tpu"}])
def test_no_reexec_when_opted_out_done_set_by_user_or_accelerator(extra):
  assert not envtune.should_reexec({**CLEAN, **extra})


def test_reexecs_once_with_the_tunables():
  if not envtune.should_reexec(CLEAN):
    pytest.skip("tuned malloc does not apply on this machine (not Linux/glibc >= 2.26, ...)")
  script = ("import os, sys; sys.path.insert(0, %r); from fxs_jax import envtune; "
            "print('start', flush=True); envtune.reexec_with_tuned_malloc(); "
            "print(os.environ.get('GLIBC_TUNABLES'), os.environ.get('FXS_REEXECED'))" % str(ROOT))
  out = subprocess.run([sys.executable, "-c", script], env=CLEAN, capture_output=True, text=True,
                       timeout=60, check=True).stdout.split("\n")
  # "start" printed twice (original + re-executed process), the final line once, with the tunables.
  assert out[:3] == ["start", "start", f"{envtune.REUSE_TUNABLES} 1"]


def test_tuned_malloc_stops_page_faults_on_reallocation():
  """The point of the setting: a freed 64 MB block, allocated again, is not faulted in again."""
  if not envtune.should_reexec(CLEAN):
    pytest.skip("tuned malloc does not apply on this machine")
  script = (
      "import ctypes, resource\n"
      "libc = ctypes.CDLL(None)\n"
      "libc.malloc.restype = ctypes.c_void_p\n"
      "faults = []\n"
      "for _ in range(3):\n"
      "  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
      "  p = libc.malloc(64 << 20)\n"
      "  ctypes.memset(p, 1, 64 << 20)\n"
      "  libc.free(ctypes.c_void_p(p))\n"
      "  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
      "print(faults[-1])\n")

  def last_round_faults(env):
    return int(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=60, check=True).stdout)

  # 64 MB = 16,384 pages of 4 KiB: faulted in every time by default, once with the tuning.
  assert last_round_faults(CLEAN) > 8000
  assert last_round_faults(envtune.with_tunables(envtune.REUSE_TUNABLES, CLEAN)) < 500


def test_malloc_choice_auto_follows_image_size_and_rejects_typos():
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict({"model": {"image_size": 128},
                                      "compute": {"malloc": "auto"}})
  assert envtune.malloc_choice(config) == "reuse"
  config.model.image_size = 64
  assert envtune.malloc_choice(config) == "glibc"
  config.compute.malloc = "reuse"
  assert envtune.malloc_choice(config) == "reuse"
  config.compute.malloc = "glibc"
  assert envtune.malloc_choice(config) == "glibc"
  config.compute.malloc = "hugepages"
  with pytest.raises(ValueError, match="compute.malloc must be one of auto, reuse, glibc"):
    envtune.malloc_choice(config)
  # Configs without the field (evaluators) keep glibc's default below 128 px.
  assert envtune.malloc_choice(ml_collections.ConfigDict({"model": {"image_size": 64}})) == "glibc"


def test_main_reports_a_bad_malloc_choice_in_one_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "fxs_jax.main", "--config=configs/ganimation.py:smoke",
       f"--workdir={tmp_path / 'w'}", "--config.compute.malloc=fast"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=CLEAN)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode != 0 and len(lines) == 1 and "compute.malloc" in lines[0], proc.stderr
  assert not (tmp_path / "w").exists()
