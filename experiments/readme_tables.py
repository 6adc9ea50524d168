"""Writes the README's generated tables from their committed results (or, with --check, says
which differ and exits 1).

  python experiments/readme_tables.py [--check]

Each table sits between ``<!-- NAME -->`` and ``<!-- /NAME -->`` in README.md and is what its
command prints from committed JSON, running nothing: a script's ``--markdown``, or for each
headline run ``results-RUN``, ``experiments/result_tables.py RUN`` (mean ± sd over the seeds in
``experiments/results/RUN/test/``; the README's Results).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import result_tables

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLES = {  # marker: the command printing it
    "reliability-table": ["experiments/bad_inputs.py", "--markdown"],
    "memory-table": ["experiments/bench/bad_input_memory.py", "--markdown"],
    **{f"results-{run}": ["experiments/result_tables.py", run, "--split=test"]
       for run in result_tables.HEADLINE_RUNS},
}


def generated(name: str) -> str:
  script, *flags = TABLES[name]
  run = subprocess.run([sys.executable, str(ROOT / script), *flags], cwd=ROOT, check=False,
                       capture_output=True, text=True)
  if run.returncode:
    last = (run.stderr.strip().splitlines() or ["no message"])[-1]
    raise SystemExit(f"README.md: the {name} cannot be generated ({script} failed: {last})")
  return run.stdout.strip()


def replaced(text: str, name: str, table: str) -> str:
  start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
  if text.count(start) != 1 or text.count(end) != 1:
    raise SystemExit(f"README.md: {start} ... {end} must appear once each.")
  head, rest = text.split(start)
  _, tail = rest.split(end)
  return f"{head}{start}\n{table}\n{end}{tail}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
  args = parser.parse_args(argv)
  text = README.read_text()
  new = text
  stale = []
  for name in TABLES:
    updated = replaced(new, name, generated(name))
    if updated != new:
      stale.append(name)
    new = updated
  if args.check:
    for name in stale:
      print(f"README.md: the {name} differs from what its script prints; run "
            "python experiments/readme_tables.py")
    return 1 if stale else 0
  README.write_text(new)
  return 0


if __name__ == "__main__":
  sys.exit(main())
