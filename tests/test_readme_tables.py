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


def _readme_tables():
  sys.path.insert(0, str(ROOT / "experiments"))
  try:
    import readme_tables  # pylint: disable=import-outside-toplevel
  finally:
    sys.path.remove(str(ROOT / "experiments"))
  return readme_tables


def test_every_headline_run_has_its_generated_block():
  readme_tables = _readme_tables()
  text = (ROOT / "README.md").read_text()
  for run in ("ganimation_demo", "lgpgan_demo", "cgan_transfer_demo", "motiongan_demo",
              "texturegan_demo"):
    assert f"results-{run}" in readme_tables.TABLES
    assert text.count(f"<!-- results-{run} -->") == 1


def test_a_new_committed_result_makes_the_check_fail_until_regenerated(tmp_path, monkeypatch):
  readme_tables = _readme_tables()
  readme = tmp_path / "README.md"
  readme.write_text("# R\n\n<!-- results-ganimation_demo -->\nGANimation `:demo`: not yet "
                    "measured with the fixed judges on the test split.\n"
                    "<!-- /results-ganimation_demo -->\n\nafter\n")
  monkeypatch.setattr(readme_tables, "README", readme)
  monkeypatch.setattr(readme_tables, "TABLES", {"results-ganimation_demo": [
      "experiments/result_tables.py", "ganimation_demo", f"--results_dir={tmp_path}"]})
  assert readme_tables.main(["--check"]) == 0  # no result files: the one line
  results = ROOT / "tests" / "fixtures" / "results" / "toy_run" / "test"
  (tmp_path / "ganimation_demo" / "test").mkdir(parents=True)
  for path in results.glob("seed*.json"):  # the hand-written fixtures, as another run's files
    text = path.read_text().replace('"run": "toy_run"', '"run": "ganimation_demo"')
    (tmp_path / "ganimation_demo" / "test" / path.name).write_text(text)
  assert readme_tables.main(["--check"]) == 1
  assert readme_tables.main([]) == 0
  assert readme_tables.main(["--check"]) == 0
  text = readme.read_text()
  assert "| GANimation `:demo` (3 seeds) | 0.900 ± 0.100 | 32.00 ± 2.65 |" in text
  assert text.endswith("<!-- /results-ganimation_demo -->\n\nafter\n")
