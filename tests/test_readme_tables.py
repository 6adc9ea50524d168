"""The README's generated tables are what their scripts print from the committed results."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_their_committed_results():
  run = subprocess.run([sys.executable, "experiments/readme_tables.py", "--check"], cwd=ROOT,
                       capture_output=True, text=True, check=False)
  assert run.returncode == 0, run.stdout + run.stderr


def test_a_changed_table_is_caught(tmp_path, monkeypatch):
  sys.path.insert(0, str(ROOT / "experiments"))
  try:
    import readme_tables  # pylint: disable=import-outside-toplevel
  finally:
    sys.path.remove(str(ROOT / "experiments"))
  readme = tmp_path / "README.md"
  text = (ROOT / "README.md").read_text()
  readme.write_text(text.replace("| **all** |", "| **all (edited)** |", 1))
  monkeypatch.setattr(readme_tables, "README", readme)
  assert readme_tables.main(["--check"]) == 1
