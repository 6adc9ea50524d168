"""fxs_jax.data.safe_pickle: Python 2 label pickles load with their bytes intact, Python 3 ones
at every protocol, and a pickle asking for code is refused in one line before anything runs."""

import collections
import pickle
import pickletools
import shlex

import numpy as np
import pytest

from fxs_jax.data import safe_pickle
from fxs_jax.errors import DatasetError
from tests.fixtures.py2_pickle import dumps_py2
from tests.fixtures.py2_pickle import dumps_py2_malicious

# np.zeros(3) pickled at protocol 2 in a Python 2 session with numpy 1.x (cPickle), as printed in
# a public doctest: an oracle for the fixture's opcodes that does not come from the fixture.
PY2_SESSION_ZEROS = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b"
    b"\x87Rq\x03(K\x01K\x03\x85cnumpy\ndtype\nq\x04U\x02f8K\x00K\x01\x87Rq\x05(K\x03U\x01<NNNJ"
    b"\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x18" + bytes(24) + b"tb.")
_MEMO_OPCODES = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}


def _opcodes(data: bytes) -> list:
  """(name, argument) of each opcode, memo writes left out (Python 2's pickle and cPickle differ
  only in which objects they memoise)."""
  return [(op.name, arg) for op, arg, _ in pickletools.genops(data) if op.name not in _MEMO_OPCODES]


def _aus_table():
  rng = np.random.default_rng(0)
  # 17 AUs as GANimation stores them; a 40-value array crosses 256 bytes (BINSTRING); a UTF-8 name.
  return {"N_0000000000": rng.uniform(0, 5, 17), "N_0000000001": rng.uniform(0, 5, 17),
          "Ñ_0000000002": rng.uniform(0, 5, 17), "long": rng.uniform(0, 5, 40)}


def test_python2_pickle_loads_with_exact_values():
  table = _aus_table()
  data = dumps_py2(table)
  names = {op.name for op, _, _ in pickletools.genops(data)}
  assert {"SHORT_BINSTRING", "BINSTRING", "GLOBAL", "BUILD", "SETITEMS"} <= names
  assert not names & {"BINUNICODE", "SHORT_BINUNICODE", "SHORT_BINBYTES", "STACK_GLOBAL"}
  loaded = safe_pickle.loads(data)
  # Python 2 str keys come out as str, one character per byte (latin-1): ASCII names unchanged.
  assert all(type(k) is str for k in loaded)
  assert list(loaded) == ["N_0000000000", "N_0000000001",
                          "Ñ_0000000002".encode().decode("latin1"), "long"]
  for (name, values), result in zip(table.items(), loaded.values()):
    assert result.dtype == np.float64 and result.shape == values.shape, name
    np.testing.assert_array_equal(result, values)  # the raw bytes came through intact
    np.testing.assert_array_equal(np.asarray(result, np.float32), values.astype(np.float32))


def test_fixture_writes_what_python2_wrote():
  np.testing.assert_array_equal(safe_pickle.loads(PY2_SESSION_ZEROS), np.zeros(3))
  ops = _opcodes(dumps_py2({"k": np.zeros(3)}))
  # PROTO, EMPTY_DICT, key ... SETITEM, STOP around the array's opcodes.
  assert ops[3:-2] == _opcodes(PY2_SESSION_ZEROS)[1:-1]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_pickles_load(protocol):
  table = {"a": np.arange(17, dtype=np.float64) / 3, b"bytes key": np.float32([1.5, 2.5]),
           "scalar": np.float64(0.25), "ordered": collections.OrderedDict(x=[1, 2.0, "y"])}
  loaded = safe_pickle.loads(pickle.dumps(table, protocol=protocol))
  assert list(loaded) == list(table)
  np.testing.assert_array_equal(loaded["a"], table["a"])
  np.testing.assert_array_equal(loaded[b"bytes key"], table[b"bytes key"])
  assert loaded[b"bytes key"].dtype == np.float32 and loaded["scalar"] == 0.25
  assert loaded["ordered"] == table["ordered"]


@pytest.mark.parametrize("target", ["posix.system", "os.system", "__builtin__.eval",
                                    "builtins.eval", "subprocess.Popen"])
def test_code_is_refused_and_never_run(tmp_path, target):
  marker = tmp_path / "ran"
  payload = dumps_py2_malicious(f"touch {shlex.quote(str(marker))}", target)
  if target == "posix.system":  # the payload is live: plain pickle runs it
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
  path = tmp_path / "aus_openface.pkl"
  path.write_bytes(payload)
  with pytest.raises(DatasetError) as info:
    safe_pickle.load(path)
  message = str(info.value)
  assert f"{path}: refused: it asks for {target}," in message and "\n" not in message
  assert "only names and numbers or numpy arrays" in message
  assert not marker.exists()


@pytest.mark.parametrize("data,cause", [
    (dumps_py2(_aus_table())[:300], "the pickle ends early (truncated or empty file)"),
    (dumps_py2(_aus_table())[:-1], "the pickle ends early (truncated or empty file)"),
    (b"", "the pickle ends early (truncated or empty file)"),
    (b"\xff\xd8\xff\xe0 a JPEG", "not a readable pickle (UnpicklingError: invalid load key"),
    # How Python 3 pickles bytes, with a codec other than latin-1.
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.",
     "not a readable pickle (UnpicklingError: refusing _codecs.encode with 'zlib'"),
])
def test_unreadable_files_are_one_line(tmp_path, data, cause):
  path = tmp_path / "aus_openface.pkl"
  path.write_bytes(data)
  with pytest.raises(DatasetError) as info:
    safe_pickle.load(path)
  assert str(info.value).startswith(f"{path}: {cause}") and "\n" not in str(info.value)
  with open(path, "rb") as f:  # a file object: named by its name
    with pytest.raises(DatasetError, match=f"^{path}: "):
      safe_pickle.load(f)


def test_a_missing_file_is_one_line(tmp_path):
  with pytest.raises(DatasetError, match="nothing.pkl: cannot open it \\(No such file"):
    safe_pickle.load(tmp_path / "nothing.pkl")
