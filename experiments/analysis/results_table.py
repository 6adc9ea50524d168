"""Combines ``eval.json`` files of several runs into one markdown table (metrics x methods).

  python experiments/analysis/results_table.py NAME=WORKDIR [NAME=WORKDIR_OR_EVAL_JSON ...]

The reference rows (copy the input, the ground truth) are taken from the first run; every run's
``model`` row becomes a column named NAME. Runs must share the dataset and pairs (same split and
``config.eval.num_examples``) for the columns to be comparable: checked.
"""

import json
import sys
from pathlib import Path


def main(args):
  def read(path):
    path = Path(path)
    return json.loads((path if path.suffix == ".json" else path / "eval.json").read_text())

  runs = [(name, read(path)) for name, _, path in (a.partition("=") for a in args)]
  first = runs[0][1]
  for name, result in runs:
    if (result["dataset"], result["num_pairs"]) != (first["dataset"], first["num_pairs"]):
      raise SystemExit(f"{name} was evaluated on other pairs than {runs[0][0]}.")
  transfer = "transfer" in first["dataset"]
  references = list(dict.fromkeys(  # e.g. the transfer eval's "source_moved" landmarks
      row["method"] for row in first["rows"]
      if row["method"] not in ("model", "copy_input", "ground_truth")))
  columns = ([("copy the target" if transfer else "copy input", first, "copy_input")]
             + [(m.replace("_", " "), first, m) for m in references]
             + [(n, r, "model") for n, r in runs] + [("ground truth", first, "ground_truth")])
  metrics = list(dict.fromkeys(row["metric"] for _, r in runs for row in r["rows"]
                               if not row["metric"].startswith("critic_")))
  task = ("the source face's expression put on a target face of another identity (truth: the "
          "target rendered with the source's AUs)." if transfer else
          "each face edited towards another expression of the same identity.")
  lines = [f"{first['num_pairs']} held-out pairs of {first['dataset']} ({first['split']} split): "
           + task, "",
           "| metric | " + " | ".join(c[0] for c in columns) + " |",
           "|---" * (len(columns) + 1) + "|"]
  for metric in metrics:
    cells = []
    for _, result, method in columns:
      values = [r["value"] for r in result["rows"] if (r["method"], r["metric"]) == (method, metric)]
      cells.append(f"{values[0]:.4f}" if values else "-")
    lines.append(f"| {metric} | " + " | ".join(cells) + " |")
  skipped = {k: v for _, r in runs for k, v in r.get("skipped", {}).items()}
  lines += [""] + [f"- {k}: skipped ({v})" for k, v in skipped.items()]
  print("\n".join(lines))


if __name__ == "__main__":
  main(sys.argv[1:])
