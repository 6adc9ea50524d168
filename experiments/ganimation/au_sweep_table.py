"""The single-AU sweep's table for the docs, from its committed result (runs nothing).

  python experiments/ganimation/au_sweep_table.py [--json=...]

Reads ``experiments/results/ganimation_au_sweep/test/synthfaces_ganimation.json`` (written by
``experiments/ganimation/single_au_sweep.py``) and prints a markdown table: for each AU and
intensity, the AU regressor's mean reading of the edits against the intensity asked for (0-5),
and the fraction of pixels the edit changed; then the summary and where the numbers come from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JSON = ROOT / "experiments" / "results" / "ganimation_au_sweep" / "test" / "synthfaces_ganimation.json"


def table(result: dict) -> str:
  rows, intensities = result["rows"], result["intensities"]
  lines = ["| AU | " + " | ".join(f"intensity {i:g}: read / asked (pixels changed)"
                                   for i in intensities) + " |",
           "| --- " * (1 + len(intensities)) + "|"]
  for au in dict.fromkeys(r["au"] for r in rows):
    cells = [f"{r['read']:.2f} / {r['requested']:.2f} ({100 * r['changed_fraction']:.1f}%)"
             for r in rows if r["au"] == au]
    lines.append(f"| {au} | " + " | ".join(cells) + " |")
  s, p = result["summary"], result["provenance"]
  dirty = " (uncommitted changes)" if p.get("dirty") else ""
  lines += ["", f"Mean \\|read - asked\\| over the nine AUs: {s['au_error_at_0.33']:.2f} / "
            f"{s['au_error_at_0.66']:.2f} / {s['au_error_at_1']:.2f} at 0.33 / 0.66 / 1; "
            f"correlation of readings with requests {s['read_vs_requested_correlation']:.2f}; "
            f"at intensity 0 at most {100 * s['max_changed_fraction_at_0']:.1f}% of pixels "
            f"changed (mean {s['max_mean_abs_change_at_0']:.2f} levels of 255). "
            f"{result['model']} (step {result['step']}) on the {result['num_faces']} neutral faces "
            f"of {result['dataset']}'s {result['split']} split; AU regressor "
            f"{result['judge']['version']}; a pixel counts as changed above "
            f"{result['changed_levels']} levels; at {p['commit']}{dirty}; "
            f"`{result['command'].strip()}`."]
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", type=Path, default=JSON)
  args = parser.parse_args(argv)
  print(table(json.loads(args.json.read_text())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
