"""experiments/bench/scale.py: the memory line, the largest batch and the roofline against
hand-computed cases, and one ``:smoke`` model measured end to end (its memory line checked
against XLA's own figure at a third batch size)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
try:
  import scale  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments" / "bench"))

GIB = 2 ** 30


def test_memory_line_and_largest_batch_by_hand():
  # critic: 1 GiB fixed + 0.5 GiB an example; generator: 2 GiB + 1 GiB an example (batch 4).
  at_b = {"critic": 3 * GIB, "generator": 6 * GIB}
  at_2b = {"critic": 5 * GIB, "generator": 10 * GIB}
  line = scale.memory_line(at_b, at_2b, 4)
  assert line["critic"] == {"fixed": 1 * GIB, "per_example": 0.5 * GIB}
  assert line["generator"] == {"fixed": 2 * GIB, "per_example": 1 * GIB}
  # 16 GiB: the critic fits 30 examples, the generator 14: the batch is the smaller.
  assert scale.largest_batch(line, 16 * GIB) == 14
  assert scale.largest_batch(line, 80 * GIB) == 78
  assert scale.largest_batch(line, 1.5 * GIB) == 0  # not even the generator's fixed part
  flat = {"critic": {"fixed": GIB, "per_example": 0.0}}
  assert scale.largest_batch(flat, 16 * GIB) == -1  # the batch does not move the figure


def test_roofline_by_hand():
  # 197e12 FLOP at 1e9 bytes on the TPU v5e: 1 s of compute against 1.2 ms of memory traffic.
  out = scale.roofline(197e12, 1e9, 3600)
  tpu = out["TPU v5e (1 chip)"]
  assert tpu["iteration_s"] == pytest.approx(1.0)
  assert tpu["bound"] == "compute" and tpu["schedule_hours"] == pytest.approx(1.0)
  assert tpu["ridge_flops_per_byte"] == pytest.approx(197e12 / 819e9)
  # 1 GFLOP over 3.35 GB on the H100: 1 ms of memory traffic, ~1 us of compute.
  h100 = scale.roofline(1e9, 3.35e9, 1)["H100 SXM"]
  assert h100["bound"] == "memory" and h100["iteration_s"] == pytest.approx(1e-3)


def test_smoke_model_end_to_end(tfds_dir, tmp_path):
  out = tmp_path / "scale.json"
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench" / "scale.py"),
                         "--models=ganimation", "--shape=smoke", "--steps=1",
                         f"--data_dir={tfds_dir}", f"--json={out}"],
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "| ganimation | smoke |" in proc.stdout
  (result,) = json.loads(out.read_text())["results"]
  assert result["batch"] == 2 and result["iteration_s"] > 0 and result["max_rss_mb"] > 100
  assert result["iteration_flops"] > 1e6 and result["iteration_bytes"] > 1e6
  # The input pipeline's rate beside what each accelerator would take at its roofline.
  assert result["pipeline"]["images_per_s"] > 0
  consumed = result["batch"] / result["roofline"]["H100 SXM"]["iteration_s"]
  hosts = consumed / result["pipeline"]["images_per_s"]
  assert f"{consumed:,.0f} ({hosts:.1f})" in proc.stdout
  for step, check in result["memory_check"].items():
    # The line through batches 2 and 4 predicts XLA's figure at 6 within 10%.
    assert check["predicted"] == pytest.approx(check["measured"], rel=0.1), step
  line = result["memory_line"]
  for name, acc in scale.ACCELERATORS.items():
    batch = result["largest_batch"][name]
    for step in line.values():  # fits, and one more does not for the tightest step
      assert step["fixed"] + batch * step["per_example"] <= acc["memory_gib"] * GIB
    cap = acc["memory_gib"] * GIB
    assert any(step["fixed"] + (batch + 1) * step["per_example"] > cap for step in line.values())
