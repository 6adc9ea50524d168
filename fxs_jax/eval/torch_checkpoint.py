"""Reading a PyTorch ``state_dict`` file without PyTorch (zip format and the pre-1.6 format).

A restricted unpickler rebuilds float/long tensors from their storages and refuses every other
global, so a checkpoint cannot run code. Used for published weights such as pytorch-fid's
InceptionV3; ``.npz`` files with the same names are read too.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable

import numpy as np

from fxs_jax.errors import UserError

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch.serialization.MAGIC_NUMBER (pre-1.6 format)
_STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}  # int64: BN counters


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
    view = np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size, [s * data.itemsize for s in self.stride])
    return np.array(view, dtype=data.dtype.newbyteorder("="))


class _StateDictUnpickler(pickle.Unpickler):
  """Rebuilds only OrderedDicts of tensors on float32 (or int64: BN counters) storages; every
  other global is refused, so a hostile pickle cannot run code."""

  def __init__(self, file, read_storage: Callable[[str, _Storage], None] | None):
    super().__init__(file)
    self.storages: dict[str, _Storage] = {}
    self.read_storage = read_storage

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
      if self.read_storage is not None:
        self.read_storage(key, self.storages[key])
    return self.storages[key]


def _read_torch_zip(archive: zipfile.ZipFile) -> dict:
  pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
  prefix = pickles[0][:-len("data.pkl")]
  byteorder = "little"
  if prefix + "byteorder" in archive.namelist():
    byteorder = archive.read(prefix + "byteorder").decode().strip()

  def read_storage(key, storage):
    dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
    storage.data = np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype)

  return _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), read_storage).load()


def _read_torch_legacy(file) -> dict:
  """torch < 1.6: pickles of magic, version, sys_info, the object, the storage keys; then raw
  storages, each an int64 element count and the elements."""
  if _StateDictUnpickler(file, None).load() != _LEGACY_MAGIC:
    raise ValueError("bad magic number")
  _StateDictUnpickler(file, None).load()  # protocol version
  sys_info = _StateDictUnpickler(file, None).load()
  little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
  unpickler = _StateDictUnpickler(file, None)
  result = unpickler.load()
  for key in _StateDictUnpickler(file, None).load():
    storage = unpickler.storages[str(key)]
    (numel,) = struct.unpack("<q" if little else ">q", file.read(8))
    dtype = storage.dtype.newbyteorder("<" if little else ">")
    raw = file.read(numel * dtype.itemsize)
    if numel != storage.numel or len(raw) != numel * dtype.itemsize:
      raise ValueError(f"storage {key} is truncated")
    storage.data = np.frombuffer(raw, dtype)
  return result


def _is_legacy_torch(path: str) -> bool:
  with open(path, "rb") as f:
    return f.read(64).startswith(pickle.dumps(_LEGACY_MAGIC, protocol=2)[:-1])


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """A ``torch.save``d state_dict (zip or legacy) or an ``.npz`` as ``{name: float32 array}``."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f"Inception weights file not found: {path}")
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if any(n.endswith("data.pkl") for n in names):
          obj = _read_torch_zip(archive)
        elif names and all(n.endswith(".npy") for n in names):
          with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
        else:
          raise UserError(f"{path}: a zip with neither data.pkl (torch.save) nor only .npy "
                          "entries (.npz); expected an Inception state_dict")
    elif _is_legacy_torch(path):
      with open(path, "rb") as f:
        obj = _read_torch_legacy(f)
    else:
      raise UserError(f"{path}: not a PyTorch checkpoint (.pth) or an .npz file")
  except (pickle.UnpicklingError, ValueError, EOFError, KeyError, IndexError, TypeError,
          AttributeError, struct.error, zipfile.BadZipFile) as e:
    raise UserError(f"{path}: cannot read the weights file: {e}") from e
  if not isinstance(obj, dict) or not all(isinstance(v, _Tensor) for v in obj.values()):
    raise UserError(f"{path}: the checkpoint is not a state_dict of tensors")
  try:
    return {str(k): v.to_numpy() for k, v in obj.items()}
  except ValueError as e:
    raise UserError(f"{path}: {e}") from e
