"""Reading a PyTorch ``state_dict`` file without PyTorch (zip format and the pre-1.6 format).

A restricted unpickler rebuilds float/long tensors from their storages and refuses every other
global, so a checkpoint cannot run code. Entry names and every storage's declared size (against
the element count the pickle gives it) are checked before anything is inflated, and all tensors
together are at most ``MAX_STATE_DICT_BYTES``: a zip bomb or a lying header fails in one line, in
bounded memory. Used for published weights such as pytorch-fid's InceptionV3 and GANimation
generators; ``.npz`` files with the same names are read too.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from fxs_jax.errors import UserError
from fxs_jax.train import saved_files

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch.serialization.MAGIC_NUMBER (pre-1.6 format)
_STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}  # int64: BN counters
# Bounds checked before anything is inflated: published weights hold far less (InceptionV3 for
# FID: 91 MiB; a 128 px GANimation generator: 33 MiB).
MAX_STATE_DICT_BYTES = 1 << 30
MAX_PICKLE_BYTES = 32 << 20
_CHUNK_BYTES = 16 << 20


class _StorageType:
  def __init__(self, name: str):
    self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _Storage:
  def __init__(self, dtype: np.dtype, numel: int):
    self.dtype, self.numel, self.data = dtype, numel, None


class _Tensor:
  """A tensor whose storage bytes may arrive after the pickle (legacy format)."""

  def __init__(self, storage, offset, size, stride, *unused):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), stride

  def to_numpy(self) -> np.ndarray:
    data = self.storage.data
    if data is None:
      raise ValueError("a tensor's storage is missing from the file")
    if 0 in self.size:
      return np.zeros(self.size, data.dtype.newbyteorder("="))
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if self.offset < 0 or min(self.stride, default=0) < 0 or last >= len(data):
      raise ValueError(f"a tensor of size {self.size} runs past its storage")
    native = data.dtype.newbyteorder("=")
    contiguous = [int(np.prod(self.size[i + 1:])) for i in range(len(self.size))]
    if self.offset == 0 and int(np.prod(self.size)) == len(data) and (
        [s for n, s in zip(self.size, self.stride) if n > 1]
        == [c for n, c in zip(self.size, contiguous) if n > 1]):
      return data.reshape(self.size).astype(native, copy=False)  # the whole storage: no copy
    view = np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size, [s * data.itemsize for s in self.stride])
    return np.array(view, dtype=native)


class _StateDictUnpickler(pickle.Unpickler):
  """Rebuilds only OrderedDicts of tensors on float32 (or int64: BN counters) storages; every
  other global is refused, so a hostile pickle cannot run code."""

  def __init__(self, file):
    super().__init__(file)
    self.storages: dict[str, _Storage] = {}  # their bytes are read once all sizes are checked

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),  # torch >= 0.4
                          ("torch._utils", "_rebuild_tensor")):  # torch 0.3 (4 arguments)
      return _Tensor
    if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only a state_dict of "
                                 "float32 tensors is accepted)")

  def persistent_load(self, pid):
    kind = pid[0].decode() if isinstance(pid[0], bytes) else pid[0]
    if kind != "storage" or not isinstance(pid[1], _StorageType):
      raise pickle.UnpicklingError(f"refusing persistent object {kind!r}")
    key, numel = str(pid[2]), int(pid[4])
    if len(pid) > 5 and pid[5] is not None:
      raise pickle.UnpicklingError("storage views (torch < 0.4 files) are not supported")
    if key not in self.storages:
      self.storages[key] = _Storage(pid[1].dtype, numel)
    return self.storages[key]


def _entry_problem(name: str) -> str | None:
  """Why a zip entry name is refused (an absolute path, ``..``, backslashes, control bytes)."""
  parts = name.split("/")
  if name.startswith("/") or "\\" in name or ".." in parts or any(ord(c) < 32 for c in name):
    return f"entry name {name!r} is not a plain relative path"
  return None


def _read_torch_zip(archive: zipfile.ZipFile) -> dict:
  """The state_dict of a ``torch.save`` zip: every entry name, the pickle's size and each
  storage's declared size (against the element count the pickle gives it) are checked before
  anything is inflated, and all storages together are at most ``MAX_STATE_DICT_BYTES``."""
  infos = {info.filename: info for info in archive.infolist()}
  if len(infos) != len(archive.infolist()):
    raise ValueError("an entry name appears twice in the zip")
  for name in infos:
    problem = _entry_problem(name)
    if problem:
      raise ValueError(problem)
  pickles = [n for n in infos if n.rsplit("/", 1)[-1] == "data.pkl"]
  if len(pickles) != 1 or pickles[0].count("/") > 1:
    raise ValueError(f"expected one data.pkl at the top of the archive, found {pickles}")
  prefix = pickles[0][:-len("data.pkl")]
  outside = [n for n in infos if not n.startswith(prefix)]
  if outside:
    raise ValueError(f"entry {outside[0]!r} is outside the archive's folder {prefix!r}")
  if infos[pickles[0]].file_size > MAX_PICKLE_BYTES:
    raise ValueError(f"data.pkl declares {infos[pickles[0]].file_size} bytes, more than the "
                     f"{MAX_PICKLE_BYTES >> 20} MiB a state_dict's pickle may have")
  byteorder = "little"
  if prefix + "byteorder" in infos:
    if infos[prefix + "byteorder"].file_size > 16:
      raise ValueError("the byteorder entry is not 'little' or 'big'")
    byteorder = archive.read(prefix + "byteorder").decode().strip()
    if byteorder not in ("little", "big"):
      raise ValueError(f"byteorder {byteorder[:20]!r} is not 'little' or 'big'")
  unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])))
  result = unpickler.load()
  total = 0
  for key, storage in unpickler.storages.items():
    name = f"{prefix}data/{key}"
    if "/" in key or name not in infos:
      raise ValueError(f"the pickle names storage {key!r} but the archive has no {name!r}")
    nbytes, declared = storage.numel * storage.dtype.itemsize, infos[name].file_size
    if storage.numel < 0 or declared < nbytes:
      raise ValueError(f"entry {name!r} holds {declared} bytes: the pickle's tensor of "
                       f"{storage.numel} x {storage.dtype.itemsize} bytes runs past its storage")
    if declared > nbytes:
      raise ValueError(f"entry {name!r} declares {declared} bytes, but the pickle says it holds "
                       f"{storage.numel} x {storage.dtype.itemsize} = {nbytes}")
    total += nbytes
    if total > MAX_STATE_DICT_BYTES:
      raise ValueError(f"its tensors declare more than {MAX_STATE_DICT_BYTES >> 20} MiB, more "
                       "than a state_dict read here may hold")
  for key, storage in unpickler.storages.items():  # sizes checked: inflate, in chunks
    dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
    with archive.open(f"{prefix}data/{key}") as entry:
      storage.data = _read_exactly(entry, storage.numel, dtype)
  return result


def _read_exactly(file, numel: int, dtype: np.dtype) -> np.ndarray:
  """``numel`` elements of ``dtype`` read from ``file`` into one preallocated array, in chunks
  (so a stream that is shorter fails without ever holding more than the array)."""
  data = np.empty(numel, dtype)
  view, done = memoryview(data).cast("B"), 0
  while done < len(view):
    chunk = file.read(min(_CHUNK_BYTES, len(view) - done))
    if not chunk:
      raise ValueError(f"a storage ends after {done} of its {len(view)} bytes")
    view[done:done + len(chunk)] = chunk
    done += len(chunk)
  return data


def _read_torch_legacy(file) -> dict:
  """torch < 1.6: pickles of magic, version, sys_info, the object, the storage keys; then raw
  storages, each an int64 element count and the elements. Each count is checked against the
  pickle's and against what is left of the file before its storage is read."""
  if _StateDictUnpickler(file).load() != _LEGACY_MAGIC:
    raise ValueError("bad magic number")
  _StateDictUnpickler(file).load()  # protocol version
  sys_info = _StateDictUnpickler(file).load()
  little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
  unpickler = _StateDictUnpickler(file)
  result = unpickler.load()
  keys = _StateDictUnpickler(file).load()
  if not isinstance(keys, list):
    raise ValueError("the list of storage keys is missing")
  file_size, total = os.fstat(file.fileno()).st_size, 0
  for key in keys:
    storage = unpickler.storages[str(key)]
    (numel,) = struct.unpack("<q" if little else ">q", file.read(8))
    dtype = storage.dtype.newbyteorder("<" if little else ">")
    left = file_size - file.tell()
    if numel != storage.numel or not 0 <= numel * dtype.itemsize <= left:
      raise ValueError(f"storage {key} declares {numel} elements (the pickle: {storage.numel}), "
                       f"but {left} bytes are left in the file: it is truncated or damaged")
    total += numel * dtype.itemsize
    if total > MAX_STATE_DICT_BYTES:
      raise ValueError(f"its tensors declare more than {MAX_STATE_DICT_BYTES >> 20} MiB, more "
                       "than a state_dict read here may hold")
    storage.data = _read_exactly(file, numel, dtype)
  return result


def _is_legacy_torch(path: str) -> bool:
  with open(path, "rb") as f:
    return f.read(64).startswith(pickle.dumps(_LEGACY_MAGIC, protocol=2)[:-1])


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """A ``torch.save``d state_dict (zip or legacy) or an ``.npz`` as ``{name: float32 array}``.

  Sizes are checked before anything is inflated (see ``_read_torch_zip``); a file that is not
  such a state_dict, is damaged or declares more than ``MAX_STATE_DICT_BYTES`` raises a one-line
  ``UserError`` naming it."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f"Weights file not found: {path}: pass the path of a .pth state_dict or an "
                    ".npz of its arrays.")
  fix = "pass the file as torch.save wrote it (download it again if it was cut short)"
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if any(n.rsplit("/", 1)[-1] == "data.pkl" for n in names):
          obj = _read_torch_zip(archive)
        elif names and all(n.endswith(".npy") for n in names):
          return saved_files.read_npz(path, fix, MAX_STATE_DICT_BYTES)
        else:
          raise UserError(f"{path}: a zip with neither data.pkl (torch.save) nor only .npy "
                          "entries (.npz); expected a state_dict")
    elif _is_legacy_torch(path):
      with open(path, "rb") as f:
        obj = _read_torch_legacy(f)
    else:
      raise UserError(f"{path}: not a PyTorch checkpoint (.pth) or an .npz file")
  except (pickle.UnpicklingError, TypeError, AttributeError, MemoryError,
          *saved_files.READ_ERRORS) as e:
    raise UserError(f"{path}: cannot read the weights file ({saved_files.brief(e)}): "
                    f"{fix}.") from e
  if not isinstance(obj, dict) or not all(isinstance(v, _Tensor) for v in obj.values()):
    raise UserError(f"{path}: the checkpoint is not a state_dict of tensors")
  try:
    return {str(k): v.to_numpy() for k, v in obj.items()}
  except ValueError as e:
    raise UserError(f"{path}: {saved_files.brief(e)}: {fix}.") from e
