"""Prints the markdown tables of ``tests/train/mesh_driver.py``'s results: each recipe's losses
on one device against all devices, and bfloat16 compute against float32, from a committed JSON.

  python experiments/bench/mesh_table.py [--json=experiments/bench/mesh_equivalence.json]

A difference is the largest over the critic and generator losses of ``|a - b| / max(|b|, 1)``
(relative, or absolute for losses below 1), ``b`` the reference's loss: at the first iteration
(the same weights: what the step computes) and over the later ones (after an update: Adam's first
steps move each weight by about the learning rate times the sign of its gradient, so a weight
whose gradient is rounding noise around zero, e.g. a bias before a normalisation, can move either
way, and the losses drift apart by more than the first iteration's rounding).
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = ROOT / "experiments" / "bench" / "mesh_equivalence.json"


def difference(rows_a: list[list], rows_b: list[list]) -> float | None:
  """The largest ``|a - b| / max(|b|, 1)`` over the matching losses of two runs (None: none)."""
  if len(rows_a) != len(rows_b):
    raise ValueError(f"different numbers of iterations: {len(rows_a)} and {len(rows_b)}")
  pairs = [(a, b) for row_a, row_b in zip(rows_a, rows_b) for a, b in zip(row_a, row_b)
           if a is not None and b is not None]
  return max((abs(a - b) / max(abs(b), 1.0) for a, b in pairs), default=None)


def _cell(rows_a: list[list], rows_b: list[list]) -> str:
  """"first iteration / later iterations" differences."""
  first, later = difference(rows_a[:1], rows_b[:1]), difference(rows_a[1:], rows_b[1:])
  return " / ".join("-" if d is None else f"{d:.1e}" for d in (first, later))


def markdown(results: dict) -> str:
  names = [name for name in results if isinstance(results[name], dict)]
  devices = max(int(key.split("/")[0]) for name in names for key in results[name]
                if "/" in key)
  lines = [f"| recipe (`:smoke`) | iterations | critic, generator loss (1 device, float32, "
           f"last iteration) | {devices} devices vs 1, float32 (first / later iterations) | "
           f"{devices} devices vs 1, bfloat16 | bfloat16 vs float32, 1 device | seconds |",
           "| --- " * 7 + "|"]
  for name in names:
    runs = results[name]
    reference = runs["1/float32"]
    cells = []
    for key, base in ((f"{devices}/float32", "1/float32"), (f"{devices}/bfloat16", "1/bfloat16"),
                      ("1/bfloat16", "1/float32")):
      cells.append(_cell(runs[key], runs[base]) if key in runs and base in runs else "-")
    last = ", ".join("-" if v is None else f"{v:.4g}" for v in reference[-1])
    lines.append(f"| {name} | {len(reference)} | {last} | " + " | ".join(cells)
                 + f" | {runs['seconds']:.0f} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", default=str(DEFAULT_JSON))
  args = parser.parse_args()
  print(markdown(json.loads(Path(args.json).read_text())))


if __name__ == "__main__":
  main()
