"""The video comparison's table for the docs, from its committed result (runs nothing).

  python experiments/motiongan_texturegan/video_comparison_table.py [--json=...]

Reads ``experiments/results/video_comparison/test/video_comparison.json`` (written by
``experiments/motiongan_texturegan/video_comparison.py``) and prints a markdown table: per method,
the per-frame FD and IS on the expression classifier, ACD, ACD-I and the MDS map's clip spread and
distance from the true clip; then where the numbers come from, and whether the paper's claim
(MotionGAN + TextureGAN scores a higher IS and a lower ACD than each video baseline) holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JSON = ROOT / "experiments" / "results" / "video_comparison" / "test" / "video_comparison.json"
COLUMNS = (("is_classifier", "IS (classifier, per frame)", 2),
           ("fd_classifier", "FD (classifier, per frame)", 1), ("acd", "ACD", 3),
           ("acd_i", "ACD-I", 3), ("face_found_rate", "frames with a face found", 2))
PIPELINE = "MotionGAN + TextureGAN"
# The rows that are not a video baseline: the truth, the still reference and the paper's models.
REFERENCES = ("true clips", "copy frame 0", "TextureGAN on the true landmarks", PIPELINE)
COMMAND = ("python experiments/motiongan_texturegan/video_comparison.py "
           "--video_model=\"MoCoGAN :demo=W\"")


def verdict(result: dict) -> str:
  """One line: does MotionGAN + TextureGAN beat each video baseline on IS (higher) and ACD
  (lower), as the paper claims, and by how much."""
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  baselines = [m for m in result["methods"] if m not in REFERENCES]
  if PIPELINE not in result["methods"] or not baselines:
    return ("Verdict: not tested yet: no video baseline in this result (add one with "
            f"`{COMMAND}`).")
  held, failed = [], []
  for method in baselines:
    d_is = values[PIPELINE, "is_classifier"] - values[method, "is_classifier"]
    d_acd = values[method, "acd"] - values[PIPELINE, "acd"]
    words = (f"{method} (IS {values[PIPELINE, 'is_classifier']:.2f} vs "
             f"{values[method, 'is_classifier']:.2f}, ACD {values[PIPELINE, 'acd']:.3f} vs "
             f"{values[method, 'acd']:.3f})")
    (held if d_is > 0 and d_acd > 0 else failed).append(words)
  parts = []
  if held:
    parts.append("the claim holds against " + "; ".join(held))
  if failed:
    parts.append("it does not hold against " + "; ".join(failed))
  return ("Verdict (higher IS, lower ACD than each baseline, as the paper claims): "
          + "; ".join(parts) + ". A still clip has ACD 0 (copy frame 0): read ACD beside "
          "the frames' change, not alone.")


def table(result: dict) -> str:
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  mds = result["mds"]["per_method"]
  lines = ["| method | " + " | ".join(label for _, label, _ in COLUMNS)
           + " | MDS: clip spread | MDS: clip centre to the true clip's |",
           "| --- " * (len(COLUMNS) + 3) + "|"]
  for method in result["methods"]:
    def show(value, decimals):  # FD of a set with itself is 0, computed as -1e-13
      return f"{0.0 if abs(value) < 0.5 * 10 ** -decimals else value:.{decimals}f}"
    cells = [show(values[method, m], d) if (method, m) in values else "- (no input face)"
             if m == "acd_i" else "-" for m, _, d in COLUMNS]
    cells += [f"{mds[method]['spread']:.3f}", f"{mds[method]['centre_to_truth']:.3f}"]
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  p = result["provenance"]
  dirty = " (uncommitted changes)" if p.get("dirty") else ""
  lines += ["", f"{result['split'].capitalize()} split of {result['dataset']}: "
            f"{result['num_videos']} held-out clips with an expression, "
            f"{result['frames_per_video']} frames each; FD / IS against every true frame on the "
            f"expression classifier {result['judge']['version']}; ACD / ACD-I and the MDS map "
            f"on {result['face_embedder']} embeddings (the map: one clip of each of the first "
            f"{result['mds']['videos']} identities, every method); at {p['commit']}{dirty}; "
            f"`{result['command']}`.", "", verdict(result)]
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", type=Path, default=JSON)
  args = parser.parse_args(argv)
  print(table(json.loads(args.json.read_text())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
