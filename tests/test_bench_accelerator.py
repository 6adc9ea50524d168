"""experiments/bench/accelerator.py on this CPU at ``:smoke``: the JSON it writes, the reference
losses it records, the check against a reference (by hand, and a wrong reference failing the
command in one line)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
try:
  import accelerator  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments" / "bench"))


def test_loss_check_by_hand():
  reference = [{"critic/loss": 2.0, "gen/loss": -4.0}, {"critic/loss": 1.0, "gen/loss": 3.0}]
  close = [{"critic/loss": 2.001, "gen/loss": -4.0}, {"critic/loss": 1.0, "gen/loss": 3.0}]
  check = accelerator.loss_check(close, reference, rtol=1e-3)
  assert check["ok"] and check["max_relative_difference"] == pytest.approx(5e-4)
  far = [{"critic/loss": 2.0, "gen/loss": -4.0}, {"critic/loss": 1.0, "gen/loss": 3.1}]
  assert not accelerator.loss_check(far, reference, rtol=1e-3)["ok"]
  assert not accelerator.loss_check(close[:1], reference, rtol=1.0)["ok"]


def test_smoke_run_writes_results_and_reference_and_fails_on_a_wrong_one(tfds_dir, tmp_path):
  wrong = tmp_path / "wrong.json"
  wrong.write_text(json.dumps({"losses": {"ganimation": [{"critic/loss": 1e9, "gen/loss": 0.0},
                                                         {"critic/loss": 1e9, "gen/loss": 0.0}]}}))
  out, ref = tmp_path / "out.json", tmp_path / "ref.json"
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench" / "accelerator.py"),
                         "--models=ganimation", "--shape=smoke", "--iterations=2",
                         f"--data_dir={tfds_dir}", f"--reference={wrong}",
                         f"--write_reference={ref}", f"--json={out}"],
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert proc.stderr.strip().splitlines()[-1] == (
      "losses differ from the reference for: ganimation")
  (result,) = json.loads(out.read_text())["results"]
  assert result["device_kind"] == "cpu" and result["device_count"] >= 1
  assert result["device_memory"] is None  # the CPU reports none
  assert len(result["losses"]) == 2 and len(result["iteration_s"]["all"]) == 1
  assert result["flops_per_iteration"] > 1e6 and result["achieved_tflops"] > 0
  assert result["utilisation"] is None  # no peak for a CPU
  assert not result["loss_check"]["ok"]
  recorded = json.loads(ref.read_text())["losses"]["ganimation"]
  assert recorded == result["losses"]
