"""One worker thread per model: predictions queue, run batched through the model's jitted
prediction at a fixed set of batch sizes, and can be abandoned by a request that timed out.

Why batch sizes are fixed: ``TrainedModel.predict`` compiles once per input shape. Every call
here is padded to one of :data:`BUCKETS` rows (1 for a lone edit, 4 otherwise; larger requests
run in chunks of 4), so a model compiles exactly ``len(BUCKETS)`` times per image size, all at
start-up (:meth:`ModelRunner.warm_up`), never on a slider move. Edits that wait in the queue at
the same time (several clients, several faces) are merged into one call of up to 4 rows.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from typing import Any, Callable

import numpy as np

BUCKETS = (1, 4)
MAX_QUEUE = 64  # waiting jobs per model; beyond, requests get "busy, try again"

log = logging.getLogger(__name__)


class QueueFull(Exception):
  """The model's queue holds ``MAX_QUEUE`` jobs already."""


@dataclasses.dataclass
class _Job:
  future: concurrent.futures.Future
  enqueued: float
  task: Callable[[], Any] | None = None  # a whole task (a video, the warm-up) ...
  prediction: str = ""  # ... or rows of a batched prediction
  batch: dict | None = None

  @property
  def rows(self) -> int:
    return len(next(iter(self.batch.values()))) if self.batch else 0

  def mergeable_with(self, other: "_Job") -> bool:
    return (self.task is None and other.task is None and self.prediction == other.prediction
            and self.batch.keys() == other.batch.keys())


class ModelRunner:
  """Runs one ``TrainedModel``'s predictions on its own thread, in submission order.

  ``predict(name, batch)`` and ``submit(task)`` return a ``concurrent.futures.Future``; a
  prediction's result is ``(outputs, timing)`` (outputs: numpy arrays with the batch's rows;
  timing: ``queue_ms``, ``model_ms``, ``rows`` of the call it ran in). Cancelling the future of
  a job that has not started drops it.
  """

  def __init__(self, model, name: str = "model", buckets=BUCKETS, max_queue: int = MAX_QUEUE):
    self.model, self.name = model, name
    self.buckets = tuple(sorted(int(b) for b in buckets))
    self.max_queue = int(max_queue)
    self.calls = 0  # jitted calls made (concurrent edits share calls)
    self.ready = threading.Event()  # set when the warm-up has run
    self._queue: queue.Queue = queue.Queue()
    self._thread = threading.Thread(target=self._loop, daemon=True, name=f"fxs-serve {name}")
    self._thread.start()

  # ---- submitting ----------------------------------------------------------------------------
  def predict(self, prediction: str, batch: dict) -> concurrent.futures.Future:
    """Rows of ``model.predict(prediction, batch)``, batched with other waiting rows."""
    batch = {k: np.asarray(v) for k, v in batch.items()}
    return self._put(_Job(concurrent.futures.Future(), time.perf_counter(),
                          prediction=prediction, batch=batch))

  def submit(self, task: Callable[[], Any]) -> concurrent.futures.Future:
    """``task()`` on the model's thread (it may use the model freely): its return value."""
    return self._put(_Job(concurrent.futures.Future(), time.perf_counter(), task=task))

  def warm_up(self, prediction: str = "", example_batch: dict | None = None,
              then: Callable[[], Any] | None = None) -> concurrent.futures.Future:
    """Compiles ``prediction`` at every bucket size from one example row, and/or runs ``then``
    (e.g. a first video); sets :attr:`ready` when done, even on failure."""
    row = {k: np.asarray(v)[:1] for k, v in (example_batch or {}).items()}

    def task():
      try:
        start = time.perf_counter()
        for size in self.buckets if prediction else ():
          self.model.predict(prediction, {k: np.repeat(v, size, 0) for k, v in row.items()})
        if then is not None:
          then()
        log.info("%s: compiled for batches of %s in %.1f s", self.name, self.buckets,
                 time.perf_counter() - start)
      finally:
        self.ready.set()
    return self.submit(task)

  def _put(self, job: _Job) -> concurrent.futures.Future:
    if self._queue.qsize() >= self.max_queue:
      raise QueueFull(f"{self.name} has {self.max_queue} requests waiting; try again in a moment.")
    self._queue.put(job)
    return job.future

  @property
  def queued(self) -> int:
    """Jobs waiting (not counting the one running)."""
    return self._queue.qsize()

  def close(self, timeout: float | None = 120.0) -> None:
    """Drops the waiting jobs, lets the running one finish (a compile cannot be interrupted)
    and stops the thread; waits up to ``timeout`` s for it (a thread left inside XLA when the
    interpreter exits aborts the process)."""
    while True:
      try:
        job = self._queue.get_nowait()
      except queue.Empty:
        break
      if job is not None:
        job.future.cancel()
    self._queue.put(None)
    if threading.current_thread() is not self._thread:
      self._thread.join(timeout)

  # ---- the worker ----------------------------------------------------------------------------
  def _loop(self) -> None:
    held: collections.deque = collections.deque()  # taken from the queue but not merged
    while True:
      job = held.popleft() if held else self._queue.get()
      if job is None:
        return
      if not job.future.set_running_or_notify_cancel():
        continue  # its request timed out while it waited
      if job.task is not None:
        self._run_task(job)
        continue
      group, rows = [job], job.rows
      while not held and rows < self.buckets[-1]:
        try:
          other = self._queue.get_nowait()
        except queue.Empty:
          break
        fits = other is not None and rows + other.rows <= self.buckets[-1]
        if fits and job.mergeable_with(other):
          if other.future.set_running_or_notify_cancel():
            group.append(other)
            rows += other.rows
        else:
          held.append(other)  # runs next, in order
      self._run_group(group)

  def _run_task(self, job: _Job) -> None:
    try:
      job.future.set_result(job.task())
    except BaseException as e:  # pylint: disable=broad-except  (reported to the request)
      job.future.set_exception(e)

  def _run_group(self, group: list[_Job]) -> None:
    start = time.perf_counter()
    try:
      batch = {k: np.concatenate([j.batch[k] for j in group]) for k in group[0].batch}
      outputs = self._padded(group[0].prediction, batch)
    except BaseException as e:  # pylint: disable=broad-except
      for job in group:
        job.future.set_exception(e)
      return
    model_ms = 1e3 * (time.perf_counter() - start)
    offset = 0
    for job in group:
      rows = slice(offset, offset + job.rows)
      offset += job.rows
      timing = {"queue_ms": 1e3 * (start - job.enqueued), "model_ms": model_ms,
                "rows": len(batch[next(iter(batch))])}
      job.future.set_result(({k: v[rows] for k, v in outputs.items()}, timing))

  def _padded(self, prediction: str, batch: dict) -> dict:
    """``model.predict`` over chunks of the largest bucket, each padded (repeating its first
    row) to the smallest bucket that holds it, so that only bucket shapes are ever compiled."""
    total = len(next(iter(batch.values())))
    largest, parts = self.buckets[-1], []
    for begin in range(0, total, largest):
      part = {k: v[begin:begin + largest] for k, v in batch.items()}
      rows = len(next(iter(part.values())))
      size = next(b for b in self.buckets if b >= rows)
      part = {k: np.concatenate([v, np.repeat(v[:1], size - rows, 0)]) for k, v in part.items()}
      out = self.model.predict(prediction, part)
      out = out if isinstance(out, dict) else {"image": out}  # a prediction of the image alone
      self.calls += 1
      parts.append({k: np.asarray(v)[:rows] for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
