"""Reading a dataset's small label files as people save them, and saying in one line what is
wrong with one: the line (and column) where it is, what it holds and what was expected.

Text is UTF-8 with or without a byte-order mark (Windows editors write one), or UTF-16 with its
mark; lines end in ``\\n``, ``\\r\\n`` or ``\\r``. Every check of a number is written so that NaN
fails it (``not 0 <= x <= 5`` rather than ``x < 0 or x > 5``, which NaN passes).

A reader raises :class:`BadLabel` (a ``ValueError``); a builder catches it per file
(:meth:`fxs_jax.data.manual_datasets.ManualDatasetBuilder.read_label`), skips that file and lists
it, with the line and reason, in the build report.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path

import numpy as np

NUM_LANDMARKS = 68
# A label file is a few bytes to a few MB (EmotioNet's id lists); anything far larger is not one,
# and reading it whole would hold it all in memory.
MAX_TEXT_BYTES = 64 * 2**20


class BadLabel(ValueError):
  """What is wrong with one label file, in one line, and where in it (``line`` is 1-based)."""

  def __init__(self, reason: str, line: int | None = None, column: str | None = None):
    super().__init__(reason)
    self.reason, self.line, self.column = one_line(reason), line, column


def one_line(text) -> str:
  """``text`` with its whitespace runs (newlines too) as single spaces."""
  return " ".join(str(text).split())


def shown(text: str, limit: int = 40) -> str:
  """``text`` quoted for a message, cut at ``limit`` characters."""
  text = text.strip()
  return repr(text if len(text) <= limit else text[:limit] + "...")


def read_text(path: Path) -> str:
  """The file's text (see the module docstring for the encodings and line endings accepted).

  Raises:
    BadLabel: unreadable, larger than :data:`MAX_TEXT_BYTES`, or not text.
  """
  path = Path(path)
  try:
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
      raise BadLabel(f"{size / 2**20:.0f} MB, far more than a label file holds (at most "
                     f"{MAX_TEXT_BYTES // 2**20} MB read); is it the right file?")
    data = path.read_bytes()
  except OSError as e:
    raise BadLabel(f"cannot be read: {one_line(e.strerror or e)}") from e
  encoding = ("utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
              else "utf-8-sig")
  try:
    text = data.decode(encoding)
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    name = "UTF-16" if encoding == "utf-16" else "UTF-8"
    raise BadLabel(f"line {line} is not {name} text (byte 0x{data[e.start]:02x}); save it as "
                   "plain text", line=line) from e
  if "\0" in text:
    raise BadLabel("not text (it holds NUL bytes); save it as plain text")
  return text


def first_undecodable_line(path: Path, encoding: str = "utf-8") -> int | None:
  """The 1-based number of the first line of ``path`` that is not ``encoding`` text (read a line
  at a time), or None."""
  try:
    with open(path, "rb") as f:
      for n, raw in enumerate(f, start=1):
        try:
          raw.decode(encoding)
        except UnicodeDecodeError:
          return n
  except OSError:
    return None
  return None


def numbered_lines(text: str) -> list[tuple[int, str]]:
  """(1-based line number, line) of each line that is not blank."""
  return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def number(text: str, line: int | None = None, what: str = "value", column: str | None = None
           ) -> float:
  """``text`` as a finite float.

  Raises:
    BadLabel: naming ``what``, the text and the line when it is not a finite number.
  """
  try:
    value = float(text)
  except ValueError:
    value = None
  if value is None or not math.isfinite(value):
    where = f"line {line}: " if line is not None else ""
    kind = "not a finite number" if value is not None else "not a number"
    raise BadLabel(f"{where}{what} {shown(text)} is {kind}", line=line, column=column)
  return value


def read_points(path: Path) -> np.ndarray:
  """(68, 2) float64 (x, y) from a text file of 68 lines of two numbers (spaces, tabs or
  commas between them; blank lines ignored).

  Raises:
    BadLabel: naming the first line that is not two finite numbers, or how many points the file
      holds when it is not 68.
  """
  rows = []
  for n, line in numbered_lines(read_text(path)):
    values = line.replace(",", " ").split()
    if len(values) != 2:
      raise BadLabel(f"line {n} {shown(line)} holds {len(values)} values, not two \"x y\"",
                     line=n)
    rows.append([number(v, n, "coordinate") for v in values])
  if len(rows) != NUM_LANDMARKS:
    raise BadLabel(f"{'empty' if not rows else f'{len(rows)} points'}: a landmark file holds "
                   f"{NUM_LANDMARKS} lines \"x y\"")
  return np.asarray(rows, np.float64)
