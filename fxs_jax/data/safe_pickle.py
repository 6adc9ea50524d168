"""Reading pickled label tables (names -> numbers or numpy arrays) without running their code.

A pickle can name any importable callable and call it while loading, so ``pickle.load`` on a
downloaded file runs whatever the file asks for. Datasets such as GANimation's ship their labels
as pickles (``aus_openface.pkl``: ``{image name: (17,) float64 AUs}``, written by Python 2 with
numpy 1.x), so :func:`load` uses a restricted unpickler: builtin containers, strings and numbers
need no global; of the globals, only numpy's array, dtype and scalar reconstruction (under both
``numpy.core`` and ``numpy._core``), ``_codecs.encode`` of latin-1 text (how Python 3 writes
``bytes`` at protocol 2) and ``collections.OrderedDict`` are allowed. Any other global refuses the
whole file before anything is called.

A global's result may be given state by the pickle (its BUILD opcode), which numpy applies in C
without checking it: a ``dtype`` state of the wrong shape leaves a descriptor whose item size is
garbage, and the array built on it crashes the interpreter. So ``numpy.dtype`` always makes a
fresh copy (never numpy's shared ``float64`` descriptor), and BUILD is allowed only on a dtype,
with the state that dtype itself would pickle (byte order aside), and on an array, with a
5-tuple state; it is refused on anything else.

Python 2 ``str`` is read with ``encoding="latin1"``, numpy's documented way to read Python 2 array
pickles: it maps each byte to one character, so an array's raw data comes through intact (and a
Python 2 ``str`` key comes out as a Python 3 ``str``, its bytes read as latin-1).
``fxs_jax.eval.torch_checkpoint`` restricts ``.pth`` files the same way, for tensors instead.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct

import numpy as np

from fxs_jax.errors import DatasetError


def _latin1_encode(text, encoding="utf-8"):
  """``_codecs.encode`` as Python 3 uses it to pickle ``bytes`` at protocol 2 (latin-1 only:
  other codecs, e.g. zlib, have no business in a label file)."""
  if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
    raise pickle.UnpicklingError(f"refusing _codecs.encode with {encoding!r} (only latin-1 "
                                 "text, which is how Python 3 pickles bytes)")
  return text.encode("latin1")


# The functions numpy's own pickles name, taken from numpy itself rather than from a module path:
# numpy 2 moved them from numpy.core to numpy._core, and files of both eras name either.
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5 arrays

def _dtype(obj, align=False, copy=True):  # pylint: disable=unused-argument
  """``numpy.dtype`` as pickles call it, always a fresh copy: a pickle's BUILD then sets the state
  of that copy, never of the descriptor numpy shares for every float64 array."""
  return np.dtype(obj, bool(align), True)


def _check_build(inst, state) -> None:
  """Refuses a BUILD (``inst.__setstate__(state)``) that numpy would apply unchecked."""
  if isinstance(inst, np.dtype):
    own = inst.__reduce__()[2]
    if not (isinstance(state, tuple) and len(state) == len(own) and state[0] == own[0]
            and state[1] in ("<", ">", "|", "=") and state[2:] == own[2:]):
      raise pickle.UnpicklingError(f"refusing a {inst} dtype state {str(state)[:80]!r} (not the "
                                   "one numpy writes)")
  elif isinstance(inst, np.ndarray):
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple)
            and all(isinstance(n, int) and n >= 0 for n in state[1])
            and isinstance(state[2], np.dtype)):
      raise pickle.UnpicklingError("refusing an array state that is not (version, shape, dtype, "
                                   "fortran order, data)")
  else:
    raise pickle.UnpicklingError(f"refusing to set the state of a {type(inst).__name__} (a label "
                                 "file sets only arrays' and dtypes')")


ALLOWED = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class RefusedGlobal(pickle.UnpicklingError):
  """The pickle names a global outside :data:`ALLOWED` (nothing was called)."""

  def __init__(self, module: str, name: str):
    qualified = f"{module}.{name}"
    self.qualified_name = qualified if qualified.isprintable() else repr(qualified)  # one line
    super().__init__(self.qualified_name)


class _Opcodes(dict):
  """The opcode table; an unknown opcode is what the C unpickler calls it, not a KeyError."""

  def __missing__(self, key):
    raise pickle.UnpicklingError(f"invalid load key, {bytes([key])!r}.")


class _LabelUnpickler(pickle._Unpickler):  # pylint: disable=protected-access
  """Builtin containers, strings, numbers and numpy arrays; every other global is refused.

  Python's own unpickler, in its pure-Python form: its opcode table can be given a checked BUILD
  (:func:`_check_build`); label files are small, so its speed does not matter.
  """

  dispatch = _Opcodes(pickle._Unpickler.dispatch)  # pylint: disable=protected-access

  def __init__(self, file, size: int):
    super().__init__(file, encoding="latin1")
    self._size = size  # of the whole file: no object in it can declare more bytes

  def load_bytearray8(self):
    """BYTEARRAY8, its declared size checked first: Python allocates it before reading it, so a
    few bytes declaring 4 GB would take 4 GB."""
    size, = struct.unpack("<Q", self.read(8))
    if size > self._size:
      raise pickle.UnpicklingError(f"a bytearray of {size} bytes declared in a file of "
                                   f"{self._size}")
    data = bytearray(size)
    self.readinto(data)
    self.append(data)

  dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

  def load_build(self):
    if len(self.stack) >= 2:
      _check_build(self.stack[-2], self.stack[-1])
    super().load_build()

  dispatch[pickle.BUILD[0]] = load_build

  def find_class(self, module, name):
    found = ALLOWED.get((module, name))
    if found is None:
      raise RefusedGlobal(module, name)
    return found

  def persistent_load(self, pid):
    raise pickle.UnpicklingError("refusing a persistent id (a label file has none)")


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


def _read(file, where: str):
  try:
    if not file.seekable():  # a pipe: its bytes, to know their number
      file = io.BytesIO(file.read())
    start = file.tell()
    size = file.seek(0, io.SEEK_END) - start
    file.seek(start)
    return _LabelUnpickler(file, size).load()
  except RefusedGlobal as e:
    raise DatasetError(
        f"{where}: refused: it asks for {e.qualified_name}, which a label file has no use for "
        "(loading it could run code; nothing from it was run); such a file should hold only "
        "names and numbers or numpy arrays: use the dataset's original file.") from e
  # What malformed bytes make the unpickler or numpy's array reconstruction raise (found by
  # mutating real label pickles): a huge FRAME length (OverflowError), a damaged array state
  # (numpy's RuntimeError / SystemError), bad opcodes, indices and encodings.
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError,
          UnicodeError, struct.error, MemoryError, RecursionError, ArithmeticError, RuntimeError,
          SystemError, BufferError, SyntaxError) as e:
    # Python's unpickler says "Ran out of input" (EOFError) or "pickle data was truncated",
    # depending on where the bytes stop.
    if isinstance(e, EOFError) or "truncated" in str(e):
      raise DatasetError(f"{where}: the pickle ends early (truncated or empty file); copy it "
                         "again from the dataset's download.") from e
    cause = _one_line(e) or "no detail"
    raise DatasetError(f"{where}: not a readable pickle ({type(e).__name__}: {cause}); copy it "
                       "again from the dataset's download.") from e


def load(path_or_file):
  """The object pickled in a file (a path or a binary file object), Python 2 or 3, any protocol.

  Raises:
    DatasetError: one line naming the file and the cause: a global outside :data:`ALLOWED`
      (refused before anything runs), a truncated file, or bytes that are not a pickle.
  """
  if hasattr(path_or_file, "read"):
    return _read(path_or_file, str(getattr(path_or_file, "name", "<pickle file>")))
  path = os.fspath(path_or_file)
  try:
    with open(path, "rb") as f:
      return _read(f, path)
  except OSError as e:
    raise DatasetError(f"{path}: cannot open it ({_one_line(e.strerror or e)}); check that the "
                       "file exists and is readable.") from e


def loads(data: bytes, name: str = "<pickle bytes>"):
  """:func:`load` on bytes already in memory; ``name`` is the file named in errors."""
  return _read(io.BytesIO(data), name)
