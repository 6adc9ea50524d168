"""The video comparison's verdict line, on hand-made results: the paper's claim (a higher IS and
a lower ACD than each video baseline) read per baseline, and said untested without one."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "motiongan_texturegan"))
try:
  import video_comparison_table as vct  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments" / "motiongan_texturegan"))


def _result(methods: dict[str, tuple[float, float]]) -> dict:
  rows = []
  for method, (is_, acd) in methods.items():
    rows += [{"method": method, "metric": "is_classifier", "value": is_},
             {"method": method, "metric": "acd", "value": acd}]
  return {"methods": list(methods), "rows": rows}


def test_verdict_per_baseline():
  result = _result({"true clips": (3.8, 0.158), "MotionGAN + TextureGAN": (2.09, 0.122),
                    "MoCoGAN :demo": (1.50, 0.200), "VGAN :demo": (2.50, 0.300),
                    "TGAN :demo": (1.20, 0.050)})
  line = vct.verdict(result)
  held, failed = line.split("it does not hold against")
  assert "holds against MoCoGAN :demo (IS 2.09 vs 1.50, ACD 0.122 vs 0.200)" in held
  assert "VGAN :demo (IS 2.09 vs 2.50" in failed  # a higher IS for the baseline
  assert "TGAN :demo (IS 2.09 vs 1.20, ACD 0.122 vs 0.050)" in failed  # a lower ACD
  assert "VGAN" not in held and "TGAN" not in held


def test_verdict_without_a_baseline_says_untested():
  result = _result({"true clips": (3.8, 0.158), "copy frame 0": (1.0, 0.0),
                    "TextureGAN on the true landmarks": (2.31, 0.137),
                    "MotionGAN + TextureGAN": (2.09, 0.122)})
  assert vct.verdict(result).startswith("Verdict: not tested yet")
