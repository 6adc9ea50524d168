"""The huge-page malloc re-exec: when it applies, and that it really re-executes once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fxs_jax import envtune

ROOT = Path(__file__).resolve().parents[1]


def test_hugepage_env_keeps_other_tunables():
  env = envtune.hugepage_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
  assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
  assert env["X"] == "1"
  assert envtune.hugepage_env({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("extra", [{"FXS_NO_REEXEC": "1"}, {"FXS_REEXECED": "1"},
                                   {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}])
def test_no_reexec_when_opted_out_done_or_set(extra):
  assert not envtune.should_reexec({**os.environ, **extra})


def test_reexecs_once_with_the_tunable():
  if not envtune.should_reexec({k: v for k, v in os.environ.items()
                                if k not in ("FXS_NO_REEXEC", "FXS_REEXECED", "GLIBC_TUNABLES")}):
    pytest.skip("huge-page malloc does not apply on this machine (glibc < 2.35, THP off, ...)")
  script = ("import os, sys; sys.path.insert(0, %r); from fxs_jax import envtune; "
            "print('start', flush=True); envtune.reexec_with_hugepage_malloc(); "
            "print(os.environ.get('GLIBC_TUNABLES'), os.environ.get('FXS_REEXECED'))" % str(ROOT))
  env = {k: v for k, v in os.environ.items()
         if k not in ("FXS_NO_REEXEC", "FXS_REEXECED", "GLIBC_TUNABLES")}
  out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=60, check=True).stdout.split("\n")
  # "start" printed twice (original + re-executed process), the final line once, with the tunable.
  assert out[:3] == ["start", "start", "glibc.malloc.hugetlb=1 1"]
