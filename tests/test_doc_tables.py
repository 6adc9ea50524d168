"""The generated tables of README.md and the docs pages are what their scripts print from the
committed results; each sits in one file; the README stays short and its links resolve."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
try:
  import doc_tables  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments"))

_NOT_MEASURED = ("GANimation `:demo`: not yet measured with the fixed judges on the test split.")


def test_doc_tables_match_their_committed_results():
  run = subprocess.run([sys.executable, "experiments/doc_tables.py", "--check"], cwd=ROOT,
                       capture_output=True, text=True, check=False)
  assert run.returncode == 0, run.stdout + run.stderr


def test_a_changed_table_in_a_docs_page_is_caught(tmp_path, monkeypatch):
  shutil.copy(ROOT / "README.md", tmp_path)
  shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("figures"))
  page = tmp_path / "docs" / "reliability.md"
  text = page.read_text()
  assert "| **all** |" in text
  page.write_text(text.replace("| **all** |", "| **all (edited)** |", 1))
  monkeypatch.setattr(doc_tables, "DOCUMENT_ROOT", tmp_path)
  assert doc_tables.main(["--check"]) == 1


def test_every_table_has_one_home_and_the_readme_holds_the_headline_table():
  # The oracle is the file system: count each marker over README.md and every docs page.
  files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
  texts = {path: path.read_text() for path in files}
  for run in ("ganimation_demo", "lgpgan_demo", "cgan_transfer_demo", "motiongan_demo",
              "texturegan_demo"):
    assert f"results-{run}" in doc_tables.TABLES
  for name in doc_tables.TABLES:
    holders = [p for p, t in texts.items() if t.count(f"<!-- {name} -->") == 1
               and t.count(f"<!-- /{name} -->") == 1]
    assert len(holders) == 1 and sum(t.count(f"<!-- {name} -->") for t in texts.values()) == 1, name
  assert "<!-- results-headline -->" in texts[ROOT / "README.md"]


def _fake_documents(tmp_path, readme: str, page: str) -> None:
  (tmp_path / "docs" / "papers").mkdir(parents=True)
  (tmp_path / "README.md").write_text(readme)
  (tmp_path / "docs" / "papers" / "ganimation.md").write_text(page)


def test_a_new_committed_result_makes_the_check_fail_until_regenerated(tmp_path, monkeypatch):
  page = ("# P\n\n<!-- results-ganimation_demo -->\n" + _NOT_MEASURED +
          "\n<!-- /results-ganimation_demo -->\n\nafter\n")
  _fake_documents(tmp_path / "root", "# R\n", page)
  monkeypatch.setattr(doc_tables, "DOCUMENT_ROOT", tmp_path / "root")
  monkeypatch.setattr(doc_tables, "TABLES", {"results-ganimation_demo": [
      "experiments/result_tables.py", "ganimation_demo", f"--results_dir={tmp_path}"]})
  assert doc_tables.main(["--check"]) == 0  # no result files: the one line
  results = ROOT / "tests" / "fixtures" / "results" / "toy_run" / "test"
  (tmp_path / "ganimation_demo" / "test").mkdir(parents=True)
  for path in results.glob("seed*.json"):  # the hand-written fixtures, as another run's files
    text = path.read_text().replace('"run": "toy_run"', '"run": "ganimation_demo"')
    (tmp_path / "ganimation_demo" / "test" / path.name).write_text(text)
  assert doc_tables.main(["--check"]) == 1
  assert doc_tables.main([]) == 0
  assert doc_tables.main(["--check"]) == 0
  text = (tmp_path / "root" / "docs" / "papers" / "ganimation.md").read_text()
  assert "| GANimation `:demo` (3 seeds) | 0.900 ± 0.100 | 32.00 ± 2.65 |" in text
  assert text.endswith("<!-- /results-ganimation_demo -->\n\nafter\n")
  assert (tmp_path / "root" / "README.md").read_text() == "# R\n"  # untouched


def test_a_table_in_two_files_is_refused(tmp_path, monkeypatch):
  block = "<!-- results-ganimation_demo -->\nx\n<!-- /results-ganimation_demo -->\n"
  _fake_documents(tmp_path, block, block)
  monkeypatch.setattr(doc_tables, "DOCUMENT_ROOT", tmp_path)
  monkeypatch.setattr(doc_tables, "TABLES", {"results-ganimation_demo": ["unused.py"]})
  with pytest.raises(SystemExit, match="exactly one markdown file.*README.md, docs/papers"):
    doc_tables.main(["--check"])


def _heading_anchors(markdown: str) -> set[str]:
  """The anchors GitHub and MkDocs give a page's headings: lower case, punctuation dropped,
  spaces as hyphens."""
  return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
          for heading in re.findall(r"^#+ (.+)$", markdown, re.M)}


def test_readme_is_short_and_its_links_to_the_docs_resolve():
  text = (ROOT / "README.md").read_text()
  lines = text.splitlines()
  assert len(lines) <= 180
  assert max(map(len, lines)) <= 200
  links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]*))?\)", text)
  assert len([path for path, _ in links if path.startswith("docs/")]) >= 8, links
  for path, anchor in links:
    assert (ROOT / path).is_file(), path
    if anchor:
      assert anchor in _heading_anchors((ROOT / path).read_text()), f"{path}#{anchor}"
