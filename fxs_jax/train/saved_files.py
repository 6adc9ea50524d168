"""Reading files the product saved (or a user hands back), in bounded memory and with one-line
errors: ``.npz`` archives and JSON documents of a known shape.

``read_npz`` checks every entry's ``.npy`` header against the size its zip entry declares before
anything is inflated, so a damaged or hostile archive fails in one line instead of filling memory.
``read_json`` checks a document against a small schema (required keys and their types), so a file
that is valid JSON of the wrong shape is named as such instead of failing deep inside the reader.
Every error is a ``UserError`` naming the file, the problem and the caller's ``fix``.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fxs_jax.errors import UserError

MAX_ARRAYS_BYTES = 1 << 30  # a generator export or a weights file holds far less (bundled: 32 MiB)
MAX_JSON_BYTES = 16 << 20

# What a damaged zip or .npy raises while it is read (truncated, a flipped byte, a bad header).
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError,
               KeyError, IndexError, struct.error, zlib.error, NotImplementedError, RuntimeError)


class BadFile(UserError):
  """A file cannot be read or does not hold what it should; nothing was changed."""


def brief(error: BaseException) -> str:
  """The first line of ``error`` with its type, at most 160 characters."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__


def _npy_header(entry) -> tuple[tuple[int, ...], bool, np.dtype, int]:
  """``(shape, fortran_order, dtype, header_bytes)`` of the ``.npy`` stream ``entry`` (read from
  its start; only the header is inflated)."""
  version = np.lib.format.read_magic(entry)
  if version == (1, 0):
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(entry)
  elif version == (2, 0):
    shape, fortran, dtype = np.lib.format.read_array_header_2_0(entry)
  else:
    raise ValueError(f".npy format version {version} is not supported")
  return tuple(shape), fortran, dtype, entry.tell()


def read_npz(path: str | Path, fix: str, max_bytes: int = MAX_ARRAYS_BYTES
             ) -> dict[str, np.ndarray]:
  """The arrays of the ``.npz`` at ``path`` as ``{name: array}``.

  Every entry must be a ``.npy`` of a plain (non-object) dtype whose header's shape fills exactly
  the size its zip entry declares, and all together at most ``max_bytes``: checked from the
  headers before any array is inflated. A truncated file, a flipped byte (bad CRC), a bad
  header or a size mismatch raises ``BadFile`` (one line: the file, the problem, ``fix``).
  """
  path = Path(path)
  try:
    with zipfile.ZipFile(path) as archive:
      infos, total = archive.infolist(), 0
      names = [info.filename for info in infos]
      if len(set(names)) != len(names):
        raise ValueError("an entry name appears twice")
      for info in infos:
        if not info.filename.endswith(".npy"):
          raise ValueError(f"entry {info.filename!r} is not a .npy array")
        with archive.open(info) as entry:
          shape, _, dtype, header = _npy_header(entry)
        if dtype.hasobject:
          raise ValueError(f"entry {info.filename!r} holds Python objects, not numbers")
        nbytes = math.prod(shape) * dtype.itemsize
        if header + nbytes != info.file_size:
          raise ValueError(f"entry {info.filename!r} declares {info.file_size} bytes but its "
                           f"header says {header + nbytes} (shape {shape}, {dtype})")
        total += nbytes
        if total > max_bytes:
          raise ValueError(f"its arrays declare more than {max_bytes / 2**20:.0f} MiB, more "
                           "than a model file read here may hold")
      arrays = {}
      for info in infos:  # sizes checked: each read fills exactly its declared array
        with archive.open(info) as entry:
          arrays[info.filename[:-len(".npy")]] = np.lib.format.read_array(
              entry, allow_pickle=False)
      return arrays
  except FileNotFoundError as e:
    raise BadFile(f"{path} does not exist: {fix}.") from e
  except READ_ERRORS as e:
    raise BadFile(f"{path} is damaged or not an .npz of arrays ({brief(e)}): {fix}.") from e


# ---- JSON with a schema ----------------------------------------------------------------------
# A schema maps each required key to its type (int excludes bool), a tuple of types, or a nested
# schema (a dict) for an object value. Keys the schema does not name are allowed.
Schema = dict[str, Any]
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "null"}


def _kind(value) -> str:
  return _TYPE_NAMES.get(type(value), type(value).__name__)


def _has_type(value, types) -> bool:
  types = types if isinstance(types, tuple) else (types,)
  if isinstance(value, bool):
    return bool in types
  if float in types and isinstance(value, int):
    return True
  return isinstance(value, types)


def schema_problem(document, schema: Schema, where: str = "") -> str | None:
  """The first way ``document`` does not fit ``schema`` (``"'step' is missing"``), or None."""
  if not isinstance(document, dict):
    return f"{where or 'the file'} is {_kind(document)}, not an object"
  for key, want in schema.items():
    name = f"{where}.{key}" if where else key
    if key not in document:
      return f"{name!r} is missing"
    value = document[key]
    if isinstance(want, dict):
      problem = schema_problem(value, want, name)
      if problem:
        return problem
    elif not _has_type(value, want):
      wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__)
                           for t in (want if isinstance(want, tuple) else (want,)))
      return f"{name!r} is {_kind(value)} ({json.dumps(value)[:40]}), not {wanted}"
  return None


def read_json(path: str | Path, schema: Schema, what: str, fix: str,
              max_bytes: int = MAX_JSON_BYTES) -> dict:
  """The JSON object at ``path``, checked against ``schema``; else ``BadFile`` (one line: the
  file, that it is not ``what`` (``"an fxs_jax config"``), the problem, ``fix``)."""
  path = Path(path)
  try:
    size = path.stat().st_size
    if size > max_bytes:
      raise ValueError(f"{size} bytes, more than the {max_bytes >> 20} MiB such a file may have")
    document = json.loads(path.read_bytes())
  except FileNotFoundError as e:
    raise BadFile(f"{path} does not exist: {fix}.") from e
  except (OSError, ValueError, RecursionError) as e:
    raise BadFile(f"{path} cannot be read as JSON ({brief(e)}): {fix}.") from e
  problem = schema_problem(document, schema)
  if problem:
    raise BadFile(f"{path} is not {what}: {problem}; {fix}.")
  return document
