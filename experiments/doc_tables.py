"""Writes the generated tables of README.md and the docs pages from their committed results (or,
with --check, says which differ and exits 1).

  python experiments/doc_tables.py [--check]

Each table sits between ``<!-- NAME -->`` and ``<!-- /NAME -->`` in exactly one markdown file,
README.md or a page under docs/ (a number is published in one place), and is what its command
prints from committed JSON, running nothing: a script's ``--markdown`` or table printer, for each
headline run ``results-RUN``, ``experiments/result_tables.py RUN`` (mean ± sd over the seeds in
``experiments/results/RUN/test/``; each paper's page), and ``results-headline``, the README's
model table from the same files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import result_tables

ROOT = Path(__file__).resolve().parents[1]
# Where the markdown files are looked for: README.md and docs/**/*.md under it.
DOCUMENT_ROOT = ROOT
TABLES = {  # marker: the command printing it
    "results-headline": ["experiments/result_tables.py", "--headline"],
    "reliability-table": ["experiments/bad_inputs.py", "--markdown"],
    "memory-table": ["experiments/bench/bad_input_memory.py", "--markdown"],
    "mesh-table": ["experiments/bench/mesh_table.py"],
    "scale-tables": ["experiments/bench/scale.py", "--table=experiments/bench/scale.json"],
    "framing-table": ["experiments/dataset_checks/framing_table.py"],
    "photo-edits-table": ["experiments/photos/photo_edits_table.py"],
    "au-sweep-table": ["experiments/ganimation/au_sweep_table.py"],
    "region-claim-table": ["experiments/lgpgan/region_claim_table.py"],
    "video-comparison-table": ["experiments/motiongan_texturegan/video_comparison_table.py"],
    **{f"comparison-{name}": ["experiments/result_tables.py", f"--comparison={name}"]
       for name in result_tables.COMPARISONS},
    **{f"results-{run}": ["experiments/result_tables.py", run, "--split=test"]
       for run in result_tables.HEADLINE_RUNS},
}


def documents(root: Path) -> list[Path]:
  """README.md and every markdown page under docs/, in a fixed order."""
  readme = [root / "README.md"] if (root / "README.md").exists() else []
  return readme + sorted((root / "docs").rglob("*.md"))


def generated(name: str) -> str:
  script, *flags = TABLES[name]
  run = subprocess.run([sys.executable, str(ROOT / script), *flags], cwd=ROOT, check=False,
                       capture_output=True, text=True)
  if run.returncode:
    last = (run.stderr.strip().splitlines() or ["no message"])[-1]
    raise SystemExit(f"the {name} cannot be generated ({script} failed: {last})")
  return run.stdout.strip()


def home(texts: dict[Path, str], name: str) -> Path:
  """The one file holding the ``name`` block; SystemExit unless exactly one file holds it once."""
  start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
  holders = [path for path, text in texts.items() if start in text or end in text]
  if len(holders) != 1:
    where = ", ".join(str(p.relative_to(DOCUMENT_ROOT)) for p in holders) or "no file"
    raise SystemExit(f"{start} ... {end} must be in exactly one markdown file (README.md or "
                     f"docs/), found in {where}.")
  (path,) = holders
  if texts[path].count(start) != 1 or texts[path].count(end) != 1:
    raise SystemExit(f"{path.relative_to(DOCUMENT_ROOT)}: {start} ... {end} must appear once each.")
  return path


def replaced(text: str, name: str, table: str) -> str:
  start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
  head, rest = text.split(start)
  _, tail = rest.split(end)
  return f"{head}{start}\n{table}\n{end}{tail}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
  args = parser.parse_args(argv)
  texts = {path: path.read_text() for path in documents(DOCUMENT_ROOT)}
  new = dict(texts)
  stale = []
  for name in TABLES:
    path = home(new, name)
    updated = replaced(new[path], name, generated(name))
    if updated != new[path]:
      stale.append((path, name))
    new[path] = updated
  if args.check:
    for path, name in stale:
      print(f"{path.relative_to(DOCUMENT_ROOT)}: the {name} differs from what its script prints; "
            "run python experiments/doc_tables.py")
    return 1 if stale else 0
  for path, text in new.items():
    if text != texts[path]:
      path.write_text(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
