"""The report of a dataset built from a user's download: every file left out (with the line and
column of a bad label, where it is in one place) and why, and what the build did to kept files.

A finished build writes :data:`REPORT_FILES` beside the dataset. A build that ends with nothing
usable writes :data:`FAILED_REPORT_FILES` in the config's folder instead (TFDS deletes the
unfinished dataset folder), and its one-line error names that file; the next finished build of
the config deletes them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

REPORT_FILES = ("skipped.json", "skipped.txt")
FAILED_REPORT_FILES = ("failed_build_skipped.json", "failed_build_skipped.txt")


@dataclasses.dataclass
class BuildReport:
  """What one build kept, skipped and changed; files are named relative to the manual folder."""

  skipped: list[dict] = dataclasses.field(default_factory=list)
  notes: list[dict] = dataclasses.field(default_factory=list)
  kept: int = 0

  def skip(self, file: str, reason: str, line: int | None = None,
           column: str | None = None) -> None:
    """Records that ``file`` was left out, and why (one line); ``line`` / ``column``: where."""
    item = {"file": file, "reason": " ".join(reason.split())}
    item.update({k: v for k, v in (("line", line), ("column", column)) if v is not None})
    self.skipped.append(item)

  def note(self, file: str, text: str) -> None:
    """Records something the build did to a kept file (e.g. re-detected its landmarks)."""
    self.notes.append({"file": file, "note": " ".join(text.split())})

  def example(self) -> str:
    """`` (e.g. <file>: <reason>)`` for the first skipped label file (else the first skipped
    file), to quote in an error; empty when nothing was skipped."""
    if not self.skipped:
      return ""
    first = next((s for s in self.skipped if "line" in s or "column" in s), self.skipped[0])
    return f" (e.g. {first['file']}: {first['reason']})"

  def write(self, folder: Path, title: str, source: Path, extra: dict | None = None,
            second_line: str | None = None, failed: bool = False) -> Path:
    """Writes the JSON and text reports in ``folder``; returns the text report's path.

    ``title``: the first line's start (``<dataset>/<config>: kept N examples, ...``); ``source``:
    the manual folder the build read;
    ``extra``: more JSON keys; ``second_line``: a line after the first (a builder's counts);
    ``failed``: the names of a build that ended with nothing usable.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = FAILED_REPORT_FILES if failed else REPORT_FILES
    (folder / names[0]).write_text(json.dumps(
        {"kept": self.kept, "skipped": self.skipped, "notes": self.notes, **(extra or {})},
        indent=2) + "\n")
    lines = [f"{title}: kept {self.kept} examples, skipped {len(self.skipped)} files "
             f"(from {source})"]
    lines += [second_line] if second_line else []
    lines += [f"{item['file']}\t{item['reason']}" for item in self.skipped]
    lines += [f"{item['file']}\tkept: {item['note']}" for item in self.notes]
    (folder / names[1]).write_text("\n".join(lines) + "\n")
    return folder / names[1]


def delete_failed_reports(folder: Path) -> None:
  """Deletes a failed build's reports from ``folder`` (a build of the config finished)."""
  for name in FAILED_REPORT_FILES:
    (Path(folder) / name).unlink(missing_ok=True)
