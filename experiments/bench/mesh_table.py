"""Prints the markdown tables of ``tests/train/mesh_driver.py``'s results: each recipe's losses
on one device against all devices, and bfloat16 compute against float32, from a committed JSON.

  python experiments/bench/mesh_table.py [--json=experiments/bench/mesh_equivalence.json]

A difference is the largest over the compared iterations and the critic and generator losses of
``|a - b| / max(|b|, 1)`` (relative, or absolute for losses below 1), ``b`` the one-device float32
loss.
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = ROOT / "experiments" / "bench" / "mesh_equivalence.json"


def difference(rows_a: list[list], rows_b: list[list]) -> float:
  """The largest ``|a - b| / max(|b|, 1)`` over the matching losses of two runs."""
  if len(rows_a) != len(rows_b):
    raise ValueError(f"different numbers of iterations: {len(rows_a)} and {len(rows_b)}")
  pairs = [(a, b) for row_a, row_b in zip(rows_a, rows_b) for a, b in zip(row_a, row_b)
           if a is not None and b is not None]
  return max(abs(a - b) / max(abs(b), 1.0) for a, b in pairs)


def markdown(results: dict) -> str:
  names = [name for name in results if isinstance(results[name], dict)]
  devices = max(int(key.split("/")[0]) for name in names for key in results[name]
                if "/" in key)
  lines = [f"| recipe (`:smoke`) | critic, generator loss (1 device, float32, last iteration) | "
           f"{devices} devices vs 1, float32 | {devices} devices vs 1, bfloat16 | bfloat16 vs "
           f"float32, 1 device | seconds |", "| --- " * 6 + "|"]
  for name in names:
    runs = results[name]
    reference = runs["1/float32"]
    cells = []
    for key, base in ((f"{devices}/float32", "1/float32"), (f"{devices}/bfloat16", "1/bfloat16"),
                      ("1/bfloat16", "1/float32")):
      cells.append(f"{difference(runs[key], runs[base]):.1e}" if key in runs and base in runs
                   else "-")
    last = ", ".join("-" if v is None else f"{v:.4g}" for v in reference[-1])
    lines.append(f"| {name} | {last} | " + " | ".join(cells) + f" | {runs['seconds']:.0f} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", default=str(DEFAULT_JSON))
  args = parser.parse_args()
  print(markdown(json.loads(Path(args.json).read_text())))


if __name__ == "__main__":
  main()
