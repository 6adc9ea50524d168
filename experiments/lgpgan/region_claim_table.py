"""LGP-GAN's region claim table for the docs, from its committed result (runs nothing).

  python experiments/lgpgan/region_claim_table.py [--json=...]

Reads ``experiments/results/lgpgan_region_claim/test/region_claim.json`` (written by
``experiments/lgpgan/region_claim.py``) and prints a markdown table: for each model (mean ± sd
over its seeds) and the references, inside the eye and mouth boxes on the pairs that move each
region most: PSNR, sharpness and ghosting; the PSNR over all pairs; then the verdict on the claim
and where the numbers come from.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JSON = ROOT / "experiments" / "results" / "lgpgan_region_claim" / "test" / "region_claim.json"
CLAIMANT = "LGP-GAN"  # the label prefix of the paper's own model
COLUMNS = (("large", "psnr", "PSNR (dB)", 2), ("large", "sharpness", "sharpness", 2),
           ("large", "ghost", "ghost", 3), ("all", "psnr", "PSNR, all pairs", 2))


def _values(result: dict) -> dict[str, dict[tuple, list[float]]]:
  """label -> (subset, region, measure) -> one value per seed (references: one value)."""
  label_of = {m["index"]: m["label"] for m in result["models"]}
  out = {}
  for row in result["rows"]:
    method = row["method"]
    label = method if isinstance(method, str) and method in result["references"] \
        else label_of[int(method)]
    out.setdefault(label, {}).setdefault((row["subset"], row["region"], row["measure"]),
                                         []).append(row["value"])
  return out


def _cell(values: list[float], decimals: int) -> str:
  if any(v == float("inf") for v in values):
    return "inf"
  mean = statistics.fmean(values)
  if len(values) == 1:
    return f"{mean:.{decimals}f}"
  return f"{mean:.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


def _mean(values: dict, label: str, key: tuple) -> float:
  return statistics.fmean(values[label][key])


def verdict(result: dict, values: dict) -> str:
  """One sentence: the claimant against each other model on the large deformations."""
  claimant = next((label for label in values if label.startswith(CLAIMANT)), None)
  others = [m["label"] for m in result["models"] if not m["label"].startswith(CLAIMANT)]
  others = list(dict.fromkeys(others))
  if claimant is None or not others:
    return "No comparison: the result holds no LGP-GAN model or no other model."
  parts = []
  for other in others:
    gaps = []
    for region in ("eyes", "mouth"):
      dp = (_mean(values, claimant, ("large", region, "psnr"))
            - _mean(values, other, ("large", region, "psnr")))
      dg = (_mean(values, claimant, ("large", region, "ghost"))
            - _mean(values, other, ("large", region, "ghost")))
      gaps.append(f"{region} {dp:+.2f} dB, ghost {dg:+.3f}")
    parts.append(f"against {other}: {'; '.join(gaps)}")
  return (f"{claimant} on the largest deformations (PSNR difference, positive = {CLAIMANT} closer "
          "to the truth; ghost difference, negative = less of the input's expression left) "
          + "; ".join(parts) + ".")


def table(result: dict) -> str:
  values = _values(result)
  header = ["method"] + [f"{region}: {label}" for region in ("eyes", "mouth")
                         for _, _, label, _ in COLUMNS]
  lines = ["| " + " | ".join(header) + " |", "| --- " * len(header) + "|"]
  seeds = {}
  for m in result["models"]:
    seeds.setdefault(m["label"], []).append(m["seed"])
  order = list(seeds) + list(result["references"])
  for label in order:
    name = label if label not in seeds else \
        f"{label} ({len(seeds[label])} seed{'s' if len(seeds[label]) > 1 else ''})"
    cells = [_cell(values[label][(subset, region, measure)], decimals)
             for region in ("eyes", "mouth") for subset, measure, _, decimals in COLUMNS]
    lines.append("| " + " | ".join([name] + cells) + " |")
  p = result["provenance"]
  dirty = " (uncommitted changes)" if p.get("dirty") else ""
  threshold = result["large_threshold_px"]
  runs = "; ".join(f"{m['label']} seed {m['seed']} step {m['step']}" for m in result["models"])
  lines += ["", verdict(result, values), "",
            f"{result['split'].capitalize()} split, {result['num_pairs']} same-identity pairs of "
            f"{result['dataset']}; large = the {result['fraction']:.0%} of pairs whose region's "
            f"landmarks move most (eyes >= {threshold['eyes']:.2f} px, mouth >= "
            f"{threshold['mouth']:.2f} px). Models: {runs}. At {p['commit']}{dirty}; "
            f"`{result['command']}`."]
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--json", type=Path, default=JSON)
  args = parser.parse_args(argv)
  print(table(json.loads(args.json.read_text())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
