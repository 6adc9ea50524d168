"""The framing table of docs/datasets.md, from the committed measurements.

  python experiments/dataset_checks/framing_table.py [--json=experiments/dataset_checks/framing.json]

``dataset_framing.py`` measures each builder's framing on real photos and writes the JSON; this
prints its table (the means per dataset), running nothing, for ``experiments/doc_tables.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

JSON = Path(__file__).resolve().parent / "framing.json"


def table(report: dict) -> str:
  """One row per dataset: its own framing's means beside SynthFaces' framing of the same photos."""
  lines = ["| dataset | framing | photos | face box in photo | face box in crop | crop from "
           "outside the photo | SynthFaces framing: box in crop | outside |",
           "|---|---|---|---|---|---|---|---|"]
  for dataset, entry in report["datasets"].items():
    own = entry["framing"]
    m, s = entry["means"][own], entry["means"]["synthfaces"]
    lines.append(f"| `{dataset}` | `{own}` | {len(entry['photos'])} | {m['photo_box']:.3f} | "
                 f"{m['crop_box']:.3f} | {m['outside']:.3f} | {s['crop_box']:.3f} | "
                 f"{s['outside']:.3f} |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", type=Path, default=JSON)
  args = parser.parse_args(argv)
  print(table(json.loads(args.json.read_text())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
