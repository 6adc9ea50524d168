"""Orbax checkpoints of named state items and the data iterator, with the config beside them.

A checkpoint step holds one Orbax item per named part of the state (the GAN trainer saves the
generator apart from the training-only rest, so a trained model loads without its critic and
optimiser state), the grain iterator position (a resumed run sees exactly the batches an
uninterrupted one would) and the config as JSON. ``write_config`` writes the workdir's
``config.json`` for every trainer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from fxs_jax.errors import UserError
from fxs_jax.errors import WorkdirError
from fxs_jax.train import saved_files

UNREADABLE_DIR = "unreadable_checkpoints"  # beside checkpoints/: steps set aside, never deleted


# What every saved config (a checkpoint's, an export's config.json) holds at least: the keys that
# name the model and the sections the networks and the batched predictions are built from.
CONFIG_SCHEMA = {"model_name": str, "model": dict, "data": dict, "eval": {"batch_size": int}}


class CheckpointMismatch(UserError):
  """A checkpoint's arrays do not fit the networks the config builds."""


class UnreadableCheckpoint(UserError):
  """A checkpoint's files cannot be read (truncated, half-synced, corrupt)."""


def path_name(path) -> str:
  """``a/b/0/kernel``: a pytree key path as plain names (the same for nnx.State and Orbax's
  metadata trees, whose key types differ)."""
  parts = []
  for key in path:
    for attr in ("key", "idx", "name"):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return "/".join(parts)


def shapes_by_path(tree) -> dict[str, tuple]:
  """``{path_name: shape}`` of every array leaf of ``tree`` (arrays or their metadata)."""
  return {path_name(p).removesuffix("/value"): tuple(leaf.shape)
          for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0] if hasattr(leaf, "shape")}


def check_same_shapes(expected: dict[str, tuple], found: dict[str, tuple], what: str) -> None:
  """Raises ``CheckpointMismatch`` naming the first parameter path whose shape differs (or that
  only one side has) between the networks the config builds and what ``what`` holds."""
  for name in sorted(set(expected) | set(found)):
    want, have = expected.get(name), found.get(name)
    if want != have:
      want_text = "absent" if want is None else f"shape {want}"
      have_text = "absent" if have is None else f"shape {have}"
      raise CheckpointMismatch(
          f"{what} does not fit the networks this config builds: first difference at {name!r} "
          f"(config: {want_text}; saved: {have_text}). Load it with the config it was trained "
          "with (the default) or train a new run.")


def write_config(workdir: Path, config: ml_collections.ConfigDict) -> Path:
  """Writes ``workdir/config.json``; a different one already there is kept as
  ``config.prev-N.json``, never overwritten. One writer: process 0."""
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  saved = Path(workdir) / "config.json"
  if jax.process_index() != 0:
    return saved
  if saved.exists() and saved.read_text() != text:
    n = 1
    while (saved.parent / f"config.prev-{n}.json").exists():
      n += 1
    saved.rename(saved.parent / f"config.prev-{n}.json")
  saved.write_text(text)
  return saved


# What tensorstore's reader threads print when they finish after a failed restore has closed
# Orbax's event loop: noise once the failure itself is reported in one line.
_CLOSED_LOOP_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\):\n(?:[ \t].*\n)*RuntimeError: Event loop is closed\n?")


@contextlib.contextmanager
def _stderr_without_closed_loop_noise(settle_seconds: float = 1.0, limit_seconds: float = 5.0):
  """Captures file descriptor 2 during a restore; if it fails, waits until the reads still in
  flight have settled, then writes back what was printed without the closed-event-loop
  tracebacks they leave (everything else is kept)."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    failed = False
    try:
      yield
    except BaseException:
      failed = True
      raise
    finally:
      if failed:  # let the reader threads finish writing their noise while it is captured
        start, size, stable_since = time.monotonic(), -1, time.monotonic()
        while time.monotonic() - start < limit_seconds:
          now_size = os.fstat(capture.fileno()).st_size
          if now_size != size:
            size, stable_since = now_size, time.monotonic()
          elif time.monotonic() - stable_since >= settle_seconds:
            break
          time.sleep(0.1)
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      text = capture.read().decode(errors="replace")
      if failed:
        text = _CLOSED_LOOP_TRACEBACK.sub("", text)
      if text:
        sys.stderr.write(text)
        sys.stderr.flush()


def _first_line(error: BaseException) -> str:
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def check_saved(directory: Path, step: int | None = None, steps: list[int] | None = None
                ) -> None:
  """Raises a one-line ``UserError`` unless ``directory`` holds a complete checkpoint (of
  ``step``, if given). ``steps``: the saved steps if known, else the step folders Orbax has
  completed (named by their number). Reads only: eval and generate check before writing."""
  directory = Path(directory)
  if steps is None:
    steps = sorted(int(p.name) for p in directory.iterdir()
                   if p.name.isdigit() and p.is_dir()) if directory.is_dir() else []
  if not steps:
    raise UserError(f"No checkpoint in {directory}: train first (--mode=train) or point at a "
                    "trained run's workdir.")
  if step is not None and step not in steps:
    raise UserError(f"No checkpoint at step {step} in {directory}; saved steps: "
                    f"{', '.join(map(str, steps))}.")


class Checkpointer:
  """Saves every N steps (and on demand), keeps the last K, resumes from the newest readable.

  With several processes every one of them must call ``save``/``restore`` for the same steps
  (Orbax coordinates them; process 0 writes the replicated arrays and the config, each process
  its own iterator position) and the directory must be shared by all hosts.
  """

  def __init__(self, directory: Path, config: ml_collections.ConfigDict | None = None,
               keep: int | None = None, create: bool = True):
    self.config = config
    self.directory = Path(directory).absolute()
    keep = keep if keep is not None else (config.checkpoint.keep if config else None)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
    try:
      self.manager = ocp.CheckpointManager(self.directory, options=options)
    except OSError as e:
      raise WorkdirError(f"Cannot use {self.directory} for checkpoints ({e.strerror or e}): make "
                         "it a writable folder or pass another --workdir.") from e

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def items(self, step: int) -> set[str]:
    """The names of the items saved at ``step``."""
    return {p.name for p in (self.directory / str(step)).iterdir() if p.is_dir()}

  def save(self, step: int, items: dict[str, Any], data_iter=None) -> None:
    """Starts saving ``step`` (written in the background; the previous save is finished
    first). A folder that cannot be written (read-only, a file in its place, the disk full)
    raises ``WorkdirError`` in one line, before Orbax starts (it would wait minutes for a step
    folder it could not create); the checkpoints already saved are left as they are."""
    args = {name: ocp.args.StandardSave(tree) for name, tree in items.items()}
    args["config"] = ocp.args.JsonSave(self.config.to_dict())
    if data_iter is not None:
      args["data"] = grain.checkpoint.CheckpointSave(data_iter)
    try:
      self.manager.wait_until_finished()  # a failure of the previous save surfaces here
      self._check_writable()
      # The arrays as they are (Orbax does not compress them) + metadata, with a margin.
      needed = sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(items)) * 1.05 + 2**20
      free = shutil.disk_usage(self.directory).free
      if free < needed:
        raise WorkdirError(
            f"Cannot save the checkpoint at step {step} in {self.directory}: it needs about "
            f"{needed / 2**20:.1f} MiB and the disk has {free / 2**20:.1f} MiB free. Free disk "
            f"space or lower --config.checkpoint.keep{self._kept_text()}.")
      self.manager.save(step, args=ocp.args.Composite(**args), force=True)
    except WorkdirError:
      raise
    except Exception as e:  # pylint: disable=broad-except  # Orbax/tensorstore/OS
      error = self._save_error(step, e)
      if error is e:
        raise
      raise error from e

  def _check_writable(self) -> None:
    """Creates, fills and removes a small probe folder: what a step's save does first."""
    probe = self.directory / f".write_probe.{os.uname().nodename}.{os.getpid()}"
    try:
      probe.mkdir(exist_ok=True)
      (probe / "probe").write_bytes(bytes(1 << 16))
    finally:
      shutil.rmtree(probe, ignore_errors=True)

  def _save_error(self, step: int | None, error: Exception) -> Exception:
    """``WorkdirError`` for a save (of ``step``; None: the one in flight) that failed because
    the folder cannot be written (or on an OS error); any other failure as it was."""
    try:
      self._check_writable()
      cause = error if isinstance(error, OSError) else None
    except OSError as e:
      cause = e
    if cause is None:
      return error
    what = f"the checkpoint at step {step}" if step is not None else "a checkpoint"
    return WorkdirError(
        f"Cannot save {what} in {self.directory} ({cause.strerror or _first_line(cause)}): make "
        f"it a writable folder or free disk space{self._kept_text()}.")

  def _kept_text(self) -> str:
    """``; the checkpoint at step N is kept: ...`` for a save that failed."""
    if not self.directory.is_dir():
      return ""
    # Orbax writes a step into a temporary folder and renames it to the number when complete.
    saved = sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())
    return (f"; the checkpoint at step {saved[-1]} is kept: run the same command again to "
            "resume from it" if saved else "; no checkpoint was saved before")

  def close_after_failure(self) -> None:
    """Closes the manager after an error is already being raised: waits for (or gives up on)
    the save in flight and never raises, so that the first error is the one reported."""
    try:
      self.close()
    except Exception:  # pylint: disable=broad-except
      pass

  def saved_shapes(self, step: int, item: str) -> dict[str, tuple]:
    """``{path: shape}`` of the arrays of ``item`` at ``step``, from its metadata alone."""
    metadata = ocp.StandardCheckpointHandler().metadata(self.directory / str(step) / item)
    return shapes_by_path(metadata)

  def restore(self, step: int, abstract_items: dict[str, Any], data_iter=None) -> dict[str, Any]:
    """The items saved at ``step``, placed like ``abstract_items`` (trees of
    ``jax.ShapeDtypeStruct`` with shardings); advances ``data_iter`` to the saved position.

    Raises ``CheckpointMismatch`` if the arrays do not fit, ``UnreadableCheckpoint`` (one line:
    the step, the directory and the reason) if the files cannot be read.
    """
    where = f"The checkpoint at step {step} in {self.directory}"
    try:
      for name, tree in abstract_items.items():
        check_same_shapes(shapes_by_path(tree), self.saved_shapes(step, name), where)
      args = {name: ocp.args.StandardRestore(tree) for name, tree in abstract_items.items()}
      if data_iter is not None:
        args["data"] = grain.checkpoint.CheckpointRestore(data_iter)
      with _stderr_without_closed_loop_noise():
        return dict(self.manager.restore(step, args=ocp.args.Composite(**args)))
    except CheckpointMismatch:
      raise
    except Exception as e:  # pylint: disable=broad-except  # Orbax/tensorstore/json/asyncio
      raise UnreadableCheckpoint(f"{where} cannot be read ({_first_line(e)}).") from e

  def restore_config(self, step: int) -> ml_collections.ConfigDict:
    """The config saved with ``step`` (the one that trained it), checked against
    ``CONFIG_SCHEMA``."""
    where = f"The config of the checkpoint at step {step} in {self.directory}"
    try:
      text = (self.directory / str(step) / "config" / "metadata").read_text()
      document = json.loads(text)
    except (OSError, ValueError, RecursionError) as e:
      raise UnreadableCheckpoint(f"{where} cannot be read ({_first_line(e)}).") from e
    problem = saved_files.schema_problem(document, CONFIG_SCHEMA)
    if problem:
      raise UnreadableCheckpoint(f"{where} is not an fxs_jax config ({problem}).")
    return ml_collections.ConfigDict(document)

  def restore_newest_readable(self, abstract_items_for, data_iter=None, what: str = "run"
                              ) -> tuple[dict[str, Any] | None, int]:
    """``(items, step)`` of the newest checkpoint that can be read, or ``(None, 0)``.

    ``abstract_items_for(step)`` gives the abstract items to restore at ``step``. An unreadable
    checkpoint is reported in one line and moved to ``<workdir>/unreadable_checkpoints/`` (so
    the next saves of those step numbers do not collide with it); it is never deleted.
    """
    for step in reversed(self.all_steps()):
      try:
        items = self.restore(step, abstract_items_for(step), data_iter)
      except UnreadableCheckpoint as e:
        aside = self._set_aside(step)
        if jax.process_index() == 0:
          print(f"Warning: skipped the checkpoint at step {step}: {e} Moved it to {aside}; "
                "trying the next older one.", flush=True)
        continue
      if jax.process_index() == 0:
        print(f"Resumed the {what} from its checkpoint at step {step}.", flush=True)
      return items, step
    return None, 0

  @classmethod
  def load(cls, directory: Path, step: int | None, abstract_items_for) -> tuple[dict, int]:
    """``(items, step)`` of checkpoint ``step`` (None: the newest) in ``directory``, read-only,
    for eval, generate and ``fxs_jax.load``. ``abstract_items_for(ckpt, step)`` gives the
    abstract items to restore from ``step`` (``ckpt.items(step)`` names what it holds,
    ``ckpt.restore_config(step)`` is the config that trained it). A missing or unreadable
    checkpoint stops with a one-line error naming it and the way out; nothing is moved."""
    directory = Path(directory)
    check_saved(directory, step)
    ckpt = cls(directory, keep=None, create=False)
    try:
      steps = ckpt.all_steps()
      check_saved(directory, step, steps)
      step = steps[-1] if step is None else step
      try:
        return ckpt.restore(step, abstract_items_for(ckpt, step)), step
      except UnreadableCheckpoint as e:
        older = [s for s in steps if s < step]
        way_out = (f"load an older one with step={older[-1]} (command line: --step={older[-1]}; "
                   f"saved: {', '.join(map(str, older))})" if older else
                   "no older checkpoint is saved")
        raise UnreadableCheckpoint(f"{e} It is left as it is; {way_out}.") from None
    finally:
      ckpt.close()

  def _set_aside(self, step: int) -> Path:
    aside = self.directory.parent / UNREADABLE_DIR / str(step)
    if jax.process_index() == 0:
      n = 1
      while aside.exists():
        aside, n = aside.with_name(f"{step}.{n}"), n + 1
      aside.parent.mkdir(parents=True, exist_ok=True)
      shutil.move(str(self.directory / str(step)), str(aside))
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"fxs_jax set aside checkpoint {step}")
    self.manager.reload()
    return aside

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the save in flight; a failure of it raises ``WorkdirError`` if the folder
    cannot be written (see ``save``)."""
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except  # Orbax/tensorstore/OS
      error = self._save_error(None, e)
      try:
        self.manager.close()
      except Exception:  # pylint: disable=broad-except
        pass
      if error is e:
        raise
      raise error from e
    self.manager.close()
