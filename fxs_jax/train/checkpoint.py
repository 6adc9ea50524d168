"""Orbax checkpoints of the train state and the data iterator, with the config beside them."""

from __future__ import annotations

from pathlib import Path

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves every N steps (and on demand), keeps the last K, resumes from the latest.

  Each checkpoint holds the state (replicated arrays), the grain iterator position (so a resumed
  run sees exactly the batches an uninterrupted one would) and the config as JSON.

  With several processes every one of them must call ``save``/``restore`` for the same steps
  (Orbax coordinates them; process 0 writes the replicated arrays and the config, each process
  its own iterator position) and the directory must be shared by all hosts.
  """

  def __init__(self, directory: Path, config: ml_collections.ConfigDict):
    self.config = config
    options = ocp.CheckpointManagerOptions(max_to_keep=config.checkpoint.keep, create=True)
    self.manager = ocp.CheckpointManager(Path(directory).absolute(), options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, data_iter) -> None:
    args = {"state": ocp.args.StandardSave(state),
            "config": ocp.args.JsonSave(self.config.to_dict())}
    if data_iter is not None:
      args["data"] = grain.checkpoint.CheckpointSave(data_iter)
    self.manager.save(step, args=ocp.args.Composite(**args), force=True)

  def restore(self, step: int, abstract_state, data_iter=None):
    """The state saved at ``step`` (placed like ``abstract_state``); advances ``data_iter``."""
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), abstract_state)
    args = {"state": ocp.args.StandardRestore(abstract)}
    if data_iter is not None:
      args["data"] = grain.checkpoint.CheckpointRestore(data_iter)
    restored = self.manager.restore(step, args=ocp.args.Composite(**args))
    return restored["state"]

  def restore_or_init(self, abstract_state, data_iter, init_fn, what: str = "run"):
    """``(state, start_step)``: the newest checkpoint (also advancing ``data_iter``) or, if
    there is none, ``init_fn()`` at step 0."""
    start = self.latest_step() or 0
    if not start:
      return init_fn(), 0
    state = self.restore(start, abstract_state, data_iter)
    if jax.process_index() == 0:
      print(f"Resumed the {what} from its checkpoint at step {start}.", flush=True)
    return state, start

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
