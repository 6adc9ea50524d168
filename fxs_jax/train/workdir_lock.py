"""One writer per workdir: a lock every run that writes to a workdir (train, eval, generate)
takes at its start and releases at its end.

The lock is ``fcntl.flock`` on ``<workdir>/workdir.lock``, which holds the holder's pid, host,
mode and start time and is removed when the run ends. The kernel drops a flock when its process
dies, however it dies, so a lock file left by a killed run is simply taken over (it still names
that run, and the new run says so).
A second run on a locked workdir stops before writing anything, with one line naming the
holder. With several processes (``jax.process_count() > 1``) process 0 takes the lock for the
job and tells the others whether it got it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from fxs_jax.errors import WorkdirError

LOCK_NAME = "workdir.lock"
_MAX_LOCK_BYTES = 4096


class WorkdirBusy(WorkdirError):
  """Another run holds the workdir's lock."""


def _holder(path: Path) -> tuple[str, str]:
  """``("pid 123 on host (train, since ...)", "stop it (kill 123)")`` from a lock file, or
  plain phrases if it names no process yet."""
  try:
    with path.open("rb") as f:
      info = json.loads(f.read(_MAX_LOCK_BYTES) or b"{}")
  except (OSError, ValueError, RecursionError):
    info = {}
  if not isinstance(info, dict) or "pid" not in info:
    return "another process (it has not written its pid yet)", "stop it"
  pid, host = info.get("pid"), info.get("host", "?")
  text = f"pid {pid} on {host} ({info.get('mode', '?')}, since {info.get('started', '?')})"
  return text, (f"stop it (kill {pid})" if host == socket.gethostname() else f"stop it on {host}")


class WorkdirLock:
  """The lock of one workdir; ``acquire`` raises ``WorkdirBusy`` if another run holds it."""

  def __init__(self, workdir: str | os.PathLike, mode: str = "train"):
    self.path = Path(workdir) / LOCK_NAME
    self.mode = mode
    self._fd: int | None = None
    self.took_over: str | None = None  # the holder a killed run left in the file, if any

  @property
  def held(self) -> bool:
    return self._fd is not None

  def acquire(self) -> None:
    while True:
      try:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      except OSError as e:
        raise WorkdirError(f"Cannot create the lock file {self.path} ({e.strerror or e}): pass "
                           "a writable --workdir.") from e
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
          holder, stop = _holder(self.path)
          raise WorkdirBusy(
              f"{self.path.parent} is in use by another run: {holder} holds {self.path}. Wait "
              f"for it to finish or {stop}, or pass another --workdir.") from e
        # A filesystem without locks (some network mounts): run, but say what is not checked.
        print(f"Warning: cannot lock {self.path} ({e.strerror or e}); a second run on this "
              "workdir would not be detected.", file=sys.stderr, flush=True)
        return
      if self._still_the_file(fd):
        break
      os.close(fd)  # its holder removed it between our open and lock: lock the new one
    left = os.pread(fd, _MAX_LOCK_BYTES, 0)
    if left.strip():  # a run that ended without releasing: killed; the kernel dropped its lock
      self.took_over = _holder(self.path)[0]
    info = {"pid": os.getpid(), "host": socket.gethostname(), "mode": self.mode,
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    self._fd = fd

  def _still_the_file(self, fd: int) -> bool:
    """Whether ``self.path`` still names the file open as ``fd`` (a releasing holder removes
    it; a lock on the removed file would lock nothing)."""
    try:
      on_disk, opened = os.stat(self.path), os.fstat(fd)
    except FileNotFoundError:
      return False
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)

  def release(self) -> None:
    """Removes the file (a clean end leaves none) and drops the lock; a no-op if not held."""
    if self._fd is None:
      return
    fd, self._fd = self._fd, None
    try:
      self.path.unlink()  # while still locked: a waiting opener then sees a new file
    except OSError:
      with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)  # cannot remove it (read-only now): at least mark the end clean
    finally:
      fcntl.flock(fd, fcntl.LOCK_UN)
      os.close(fd)


@contextlib.contextmanager
def hold(workdir: str | os.PathLike, mode: str = "train") -> Iterator[WorkdirLock]:
  """Holds ``workdir``'s lock for the ``with`` block (released on exceptions too). Several
  processes: process 0 holds it for the job; every process raises if it could not."""
  lock = WorkdirLock(workdir, mode)
  error = None
  if jax.process_index() == 0:
    try:
      lock.acquire()
    except WorkdirError as e:
      error = e
  if jax.process_count() > 1:
    failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if int(failed) and error is None:
      raise WorkdirBusy(f"Process 0 could not lock {lock.path} (see its error): another run "
                        "uses this workdir.")
  if error is not None:
    raise error
  if lock.took_over:
    print(f"Took over {lock.path}: its holder, {lock.took_over}, ended without releasing it.",
          flush=True)
  try:
    yield lock
  finally:
    lock.release()
