"""Summarises a GANimation run: the held-out AU-error curve and the final sample grid.

  python experiments/ganimation/demo_report.py --workdir=runs/demo --out=experiments/ganimation/demo

Writes ``<out>_curve.md`` (a table of the eval metrics at every report step), ``<out>_curve.png``
(the critic's AU head on edited held-out faces vs the target AUs, mean absolute error on the 0-5
scale, against steps; and the same head on the real faces vs their true AUs) and copies the last
sample grid to ``<out>_samples.png``.
"""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CURVES = (("eval/au_mae_fake", (200, 40, 40)), ("eval/au_mae_real", (40, 90, 200)))


def read_eval_rows(workdir: Path) -> list[dict]:
  rows = {}
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    if any(k.startswith("eval/") for k in row):
      rows[row["step"]] = row  # a resumed run may repeat a step: keep the last
  return [rows[s] for s in sorted(rows)]


def plot(rows: list[dict], path: Path, size=(640, 360), margin=48) -> None:
  w, h = size
  img = Image.new("RGB", size, "white")
  draw = ImageDraw.Draw(img)
  steps = np.array([r["step"] for r in rows], float)
  values = np.array([[r[k] for k, _ in CURVES] for r in rows], float)
  top = max(float(values.max()) * 1.1, 1e-6)
  x = lambda s: margin + (s - 0) / max(steps.max(), 1) * (w - 2 * margin)
  y = lambda v: h - margin - v / top * (h - 2 * margin)
  draw.line([(margin, margin), (margin, h - margin), (w - margin, h - margin)], fill="black")
  for frac in (0.0, 0.5, 1.0):
    draw.text((4, y(frac * top) - 6), f"{frac * top:.2f}", fill="black")
  draw.text((w - margin - 40, h - margin + 8), f"{int(steps.max())}", fill="black")
  draw.text((margin, h - margin + 8), "0", fill="black")
  draw.text((w // 2 - 20, h - 20), "step", fill="black")
  for i, (name, colour) in enumerate(CURVES):
    pts = [(x(s), y(v)) for s, v in zip(steps, values[:, i])]
    if len(pts) > 1:
      draw.line(pts, fill=colour, width=2)
    for p in pts:
      draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=colour)
    draw.text((margin + 10, 8 + 14 * i), f"{name} (AU MAE, 0-5 scale)", fill=colour)
  img.save(path)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True, type=Path)
  parser.add_argument("--out", default="experiments/ganimation/demo")
  args = parser.parse_args()
  rows = read_eval_rows(args.workdir)
  if not rows:
    raise SystemExit(f"No eval rows in {args.workdir / 'metrics.jsonl'}: has the run reported?")
  keys = sorted(k for k in rows[0] if k.startswith("eval/"))
  lines = ["| step | " + " | ".join(k[5:] for k in keys) + " |",
           "|---" * (len(keys) + 1) + "|"]
  lines += ["| " + " | ".join([str(r["step"])] + [f"{r[k]:.4f}" for k in keys]) + " |"
            for r in rows]
  Path(f"{args.out}_curve.md").write_text("\n".join(lines) + "\n")
  plot(rows, Path(f"{args.out}_curve.png"))
  shutil.copy(args.workdir / "samples" / "latest.png", f"{args.out}_samples.png")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
