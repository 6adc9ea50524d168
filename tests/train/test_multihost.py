"""Two processes on localhost (gloo, one CPU device each) train, evaluate and generate like one
process with two devices."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fxs_jax import sharding
from fxs_jax.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("smoke_driver.py")
STEPS, BATCH = 3, 4
RBG = {"JAX_DEFAULT_PRNG_IMPL": "rbg"}  # compiles several times faster than threefry on CPU




def _driver(workdir, tfds_dir, *extra):
  return [sys.executable, str(DRIVER), str(workdir), str(tfds_dir), str(STEPS),
          f"--batch={BATCH}", *extra]


def _load(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def test_two_processes_match_one_process_with_two_devices(smoke_stills, tfds_dir, tmp_path,
                                                          free_coordinator, devices_env):
  coordinator = free_coordinator()
  multi = tmp_path / "multi"
  procs = [subprocess.Popen(
      _driver(multi, tfds_dir, f"--coordinator={coordinator}", "--num-processes=2",
              f"--process-id={i}", f"--params-out={tmp_path / 'multi.npz'}",
              "--then=eval,generate"),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=devices_env(None, **RBG))
      for i in range(2)]
  single = subprocess.run(
      _driver(tmp_path / "single", tfds_dir, f"--params-out={tmp_path / 'single.npz'}",
              "--then=eval,generate"),
      capture_output=True, text=True, timeout=600,
      env=devices_env(2, **RBG))
  outputs = []
  for proc in procs:
    try:
      outputs.append(proc.communicate(timeout=600))
    finally:
      proc.kill()
  for proc, (_, err) in zip(procs, outputs):
    assert proc.returncode == 0, err[-3000:]
  assert single.returncode == 0, single.stderr[-3000:]

  p0, p1 = _load(tmp_path / "multi.0.npz"), _load(tmp_path / "multi.1.npz")
  one = _load(tmp_path / "single.npz")
  assert sorted(p0) == sorted(p1) == sorted(one) and len(one) > 10
  for name in one:
    np.testing.assert_array_equal(p0[name], p1[name], err_msg=name)
    np.testing.assert_allclose(p0[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
  # Only process 0 reports: one line per logged step, one final checkpoint for both.
  assert (multi / "metrics.jsonl").read_text() and (multi / "samples" / "latest.png").exists()
  assert (multi / "checkpoints" / str(STEPS)).is_dir()
  multi_rows, single_rows = (
      [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
      for path in (multi, tmp_path / "single"))
  assert [r["step"] for r in multi_rows] == [r["step"] for r in single_rows]
  for a, b in zip(multi_rows, single_rows):
    np.testing.assert_allclose([a[k] for k in sorted(b)], [b[k] for k in sorted(b)],
                               rtol=1e-4, atol=1e-6)
  # --mode=eval / generate: the critic metrics over the split computed by both processes, the
  # edit metrics and images by process 0; the same numbers and files as one process.
  multi_eval, single_eval = (json.loads((path / "eval.json").read_text())
                             for path in (multi, tmp_path / "single"))
  rows = {(r["method"], r["metric"]): r["value"] for r in single_eval["rows"]}
  got = {(r["method"], r["metric"]): r["value"] for r in multi_eval["rows"]}
  assert sorted(got) == sorted(rows) and any(m.startswith("critic_") for _, m in rows), rows
  for key, value in rows.items():
    np.testing.assert_allclose(got[key], value, rtol=1e-3, atol=1e-5, err_msg=str(key))
  generated = sorted(p.name for p in (multi / f"generate_step_{STEPS}").iterdir())
  assert generated == sorted(p.name for p in (tmp_path / "single" / f"generate_step_{STEPS}").iterdir())
  assert "edits.png" in generated
  for _, err in outputs:
    assert "Traceback" not in err, err[-3000:]
  # One writer: process 0 reports the eval and the generated files, process 1 stays quiet.
  assert "Eval of step" in outputs[0][0] and "Wrote " in outputs[0][0]
  assert "Eval of step" not in outputs[1][0] and "Wrote " not in outputs[1][0], outputs[1][0]


@pytest.mark.parametrize("kwargs, fix", [
    (dict(process_id=1), "needs --coordinator_address and --num_processes"),
    (dict(num_processes=2, process_id=0), "--coordinator_address"),
    (dict(coordinator_address="localhost", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(coordinator_address="h:1", num_processes=2, process_id=2), "0..1"),
    (dict(coordinator_address="h:1", num_processes=2, process_id=0, mode="off"), "contradicts"),
])
def test_bad_process_flags_name_the_fix(kwargs, fix):
  with pytest.raises(UserError, match=fix):
    sharding.initialize_processes(**kwargs)


def test_single_process_run_does_not_connect(monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
               "TPU_WORKER_HOSTNAMES"):
    monkeypatch.delenv(name, raising=False)
  assert sharding.initialize_processes() is False
  monkeypatch.setenv("SLURM_NTASKS", "1")  # a one-task SLURM job is one process
  monkeypatch.setenv("SLURM_STEP_NODELIST", "node1")
  assert sharding.initialize_processes() is False


def test_main_reports_bad_process_flags_in_one_line(tmp_path, devices_env):
  proc = subprocess.run(
      [sys.executable, "-m", "fxs_jax.main", "--config=configs/ganimation.py:smoke",
       f"--workdir={tmp_path}", "--process_id=1"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=devices_env(None, **RBG))
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode != 0 and len(lines) == 1, proc.stderr
  assert "--num_processes" in lines[0] and "Traceback" not in proc.stderr
