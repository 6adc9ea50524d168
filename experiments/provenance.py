"""Where a published number came from: the commit the experiment ran at."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
  """The short hash of the checked-out commit ("" outside a git checkout)."""
  return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                        text=True, check=False).stdout.strip()
