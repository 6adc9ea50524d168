"""The photo-edits table of docs/photos_and_editor.md, from the committed measurements.

  python experiments/photos/photo_edits_table.py [--json=experiments/photos/photo_edits.json]

``photo_edits.py`` measures what the bundled editors do to real photos and writes the JSON; this
prints its table, running nothing, for ``experiments/doc_tables.py``: per request, each editor's
mean change inside the face's landmark box (grey levels, 0-255) as pasted by default
(``relative_to="start"``) and as ``relative_to="input"``, and how often the FER2013 judge reads
the requested emotion on the unedited photos / the default edits / the ``input`` edits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

JSON = Path(__file__).resolve().parent / "photo_edits.json"
NAMES = {"synthfaces/ganimation": "GANimation", "synthfaces/lgpgan": "LGP-GAN"}


def table(result: dict) -> str:
  """One row per request, a group of three columns per editor."""
  models = list(result["models"])
  header, rule = ["request"], ["---"]
  for model in models:
    name = NAMES.get(model, model)
    header += [f"{name} change", "`input`", "judge reads it (before / after / `input`)"]
    rule += ["---"] * 3
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
  first = result["models"][models[0]]
  requests = [key.split("/", 1)[1] for key in first if key.startswith("start/")]
  for request in requests:
    cells = [request]
    for model in models:
      start = result["models"][model][f"start/{request}"]
      whole = result["models"][model][f"input/{request}"]
      reads = (f"{start['before']:.2f} / {start['reads_target']:.2f} / "
               f"{whole['reads_target']:.2f}" if "reads_target" in start else "-")
      cells += [f"{start['change']:.2f}", f"{whole['change']:.2f}", reads]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", type=Path, default=JSON)
  args = parser.parse_args(argv)
  print(table(json.loads(args.json.read_text())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
