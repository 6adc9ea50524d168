"""What the editor keeps between requests, by id, in one memory budget.

Photos (uploads and samples), results and thumbnails share one least-recently-used order and
one byte budget (``limits.Limits.memory_mb``): what an item holds is counted from the arrays and
bytes it really keeps (its ``buffers()``), each buffer once however many items share it (an edit's
result holds its photo's array: counted with the photo while the photo is kept, with the result
after). Items grow after they are added (a preview, a face crop at another size, an encoded
download), so :meth:`KeptStore.settle` recounts after every request and drops the least
recently used items until the rest fit, the most recent one always kept; then it hands the
memory freed back to the system (glibc's ``malloc_trim``).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import functools
import re
import secrets
import threading
from typing import Callable

import numpy as np

from fxs_jax.serve import sessions
from fxs_jax.serve.sessions import ServeError

SAMPLE_ID = re.compile(r"sample-(\d{1,4})", re.ASCII)


@functools.cache
def _malloc_trim():
  try:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
  except (OSError, AttributeError):  # not glibc: its allocator returns memory by itself
    return None


def give_back_freed_memory() -> None:
  """Hands freed memory back to the system now (dropped items, a request's decoded copies):
  glibc keeps freed blocks of up to 32 MB in its heaps for reuse, so without this the resident
  set stays near its peak. Quick when there is little to give back."""
  trim = _malloc_trim()
  if trim is not None:
    trim(0)


def _buffers(item):
  if isinstance(item, (bytes, bytearray)):
    return [item]
  return item.buffers()


def _owner(buffer) -> tuple[int, int]:
  """``(id, bytes)`` of the memory ``buffer`` (an array or bytes) keeps alive: an array's base
  array or bytes, so that views and shared arrays count once."""
  while isinstance(buffer, np.ndarray) and buffer.base is not None:
    if not isinstance(buffer.base, (np.ndarray, bytes, bytearray)):
      break
    buffer = buffer.base
  size = buffer.nbytes if isinstance(buffer, np.ndarray) else len(buffer)
  return id(buffer), size


def kept_bytes(items) -> int:
  """Bytes of the arrays and bytes ``items`` keep, each buffer counted once."""
  owners = dict(_owner(b) for item in items for b in _buffers(item) if b is not None)
  return sum(owners.values())


class KeptStore:
  """Items by ``(kind, id)``, least recently used dropped beyond ``max_items[kind]`` items of a
  kind or ``budget`` bytes in all (items are bytes, or have ``buffers()``); thread-safe."""

  def __init__(self, budget: int, max_items: dict[str, int], again: dict[str, str]):
    self.budget, self.max_items, self.again = int(budget), dict(max_items), dict(again)
    self._items: collections.OrderedDict = collections.OrderedDict()
    self._lock = threading.Lock()
    self.nbytes = 0  # as counted by the last settle()

  def add(self, kind: str, item, key: str | None = None) -> str:
    """Keeps ``item`` under a new random id (or ``key``); returns the id."""
    key = key or secrets.token_urlsafe(9)
    with self._lock:
      self._items[kind, key] = item
      self._items.move_to_end((kind, key))
      same = [k for k in self._items if k[0] == kind]
      for old in same[:max(0, len(same) - self.max_items[kind])]:
        del self._items[old]
      self._settle()
    return key

  def get(self, kind: str, key: str):
    """The item (now the most recently used); 404 when it is not kept (any longer)."""
    with self._lock:
      if (kind, key) not in self._items:
        raise ServeError(404, f"This {kind} is no longer on the server (it keeps the "
                         f"{self.max_items[kind]} most recent {kind}s, within "
                         f"{self.budget / 2**20:g} MB in all); {self.again[kind]}")
      self._items.move_to_end((kind, key))
      return self._items[kind, key]

  def get_or_make(self, kind: str, key: str, make: Callable[[], object]):
    """The item, made with ``make()`` and kept when it is not (samples, thumbnails)."""
    try:
      return self.get(kind, key)
    except ServeError:
      item = make()
      self.add(kind, item, key)
      return item

  def settle(self) -> int:
    """Recounts what the items keep (they may have grown), drops the least recently used until
    the rest fit the budget and hands freed memory back to the system (the editor calls this
    after every request); returns the bytes kept."""
    with self._lock:
      kept = self._settle()
    give_back_freed_memory()
    return kept

  def _settle(self) -> int:
    while True:
      self.nbytes = kept_bytes(self._items.values())
      if self.nbytes <= self.budget or len(self._items) <= 1:
        return self.nbytes
      self._items.popitem(last=False)

  def items(self) -> list[tuple[str, str, object]]:
    """``(kind, id, item)`` of every item kept, the least recently used first."""
    with self._lock:
      return [(kind, key, item) for (kind, key), item in self._items.items()]

  def counts(self) -> dict[str, int]:
    with self._lock:
      return dict(collections.Counter(kind for kind, _ in self._items))


def get_photo(store: KeptStore, key: str) -> sessions.Photo:
  """A kept photo, or sample ``sample-<k>`` (made again when it has been dropped)."""
  if key.startswith("sample-"):
    match = SAMPLE_ID.fullmatch(key)
    if not match:
      raise ServeError(404, f"No sample face {sessions.short_json(key[7:])}: the samples are "
                       f"sample-0 to sample-{len(sessions.SAMPLE_IDENTITIES) - 1}.")
    index = int(match.group(1))
    return store.get_or_make("photo", key, lambda: sessions.sample_photo(index))
  return store.get("photo", key)
