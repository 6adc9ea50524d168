"""The device mesh, moving host batches onto it, and multi-process start-up (jit + Mesh; runs on
1 CPU, many GPUs or a pod)."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fxs_jax.errors import UserError

DATA_AXIS = "data"


def make_mesh() -> Mesh:
  """A 1-D mesh over all devices of all processes: batches split on 'data', state replicated.

  Auto axis: the compiler propagates shardings through the model (explicit-sharding mode would
  ask every reshape in the networks to name its output sharding).
  """
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def per_process_batch_size(global_batch_size: int) -> int:
  """This process's share of the global batch; the global batch must split evenly over devices."""
  devices, processes = jax.device_count(), jax.process_count()
  if global_batch_size % devices:
    raise UserError(
        f"data.batch_size={global_batch_size} does not split over {devices} devices: set "
        f"--config.data.batch_size to a multiple of {devices} (e.g. "
        f"{max(devices, global_batch_size // devices * devices)}).")
  return global_batch_size // processes


def process_rows(mesh: Mesh, global_batch_size: int) -> np.ndarray:
  """Rows of each global batch that this process's devices hold, in the order
  ``make_array_from_process_local_data`` reads them from the local batch (its addressable slices,
  ascending). One process: all rows."""
  index_map = batch_sharding(mesh).addressable_devices_indices_map((global_batch_size,))
  rows = {r for (rows_slice,) in index_map.values()
          for r in range(*rows_slice.indices(global_batch_size))}
  return np.array(sorted(rows), np.int64)


def local_rows(batch: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
  """This process's share (``rows``, see ``process_rows``) of a host copy of a global batch."""
  if jax.process_count() == 1:
    return batch
  return {k: np.asarray(v)[rows] for k, v in batch.items()}


def to_device(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles each process's local batch into global arrays sharded over 'data'."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def local_copy(tree):
  """``tree`` with every replicated global array replaced by this process's own copy (numpy),
  for work one process does alone (eval metrics, generation) after a multi-process restore."""
  def one(leaf):
    if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
      return leaf
    if not leaf.is_fully_replicated:
      raise ValueError(f"local_copy needs replicated arrays; got one sharded as {leaf.sharding}.")
    return np.asarray(leaf.addressable_data(0))
  return jax.tree.map(one, tree)


# ---- several processes ---------------------------------------------------------------------

def _cluster_in_environment() -> str | None:
  """The launcher whose variables say this is one of several processes, or None."""

  def count(name: str) -> int:
    try:
      return int(os.environ.get(name, "1"))
    except ValueError:
      return 1

  if os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return "JAX_COORDINATOR_ADDRESS"
  if count("SLURM_NTASKS") > 1 and "SLURM_STEP_NODELIST" in os.environ:  # inside srun
    return "SLURM"
  if count("OMPI_COMM_WORLD_SIZE") > 1:
    return "Open MPI"
  if "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""):
    return "TPU pod"
  return None


def initialize_processes(coordinator_address: str | None = None,
                         num_processes: int | None = None, process_id: int | None = None,
                         mode: str = "auto") -> bool:
  """Joins a multi-process job (``jax.distributed.initialize``) before JAX touches a device.

  ``mode``: "off" never connects; "on" always does (JAX's cluster detection fills whatever the
  arguments leave out); "auto" connects when the arguments are given or the environment is a
  multi-process launch (SLURM ``srun``, Open MPI, a TPU pod, ``JAX_COORDINATOR_ADDRESS``), so a
  plain single-process run never tries to reach a coordinator. Returns whether it connected.
  Raises ``UserError`` (one line naming the fix) on inconsistent arguments.
  """
  given = {"--coordinator_address": coordinator_address, "--num_processes": num_processes,
           "--process_id": process_id}
  named = [name for name, value in given.items() if value is not None]
  if mode not in ("auto", "on", "off"):
    raise UserError(f"--distributed must be auto, on or off, got {mode!r}.")
  if mode == "off":
    if named:
      raise UserError(f"--distributed=off contradicts {', '.join(named)}: drop one or the other.")
    return False
  if named and len(named) < 3:
    missing = [name for name in given if name not in named]
    raise UserError(
        f"{', '.join(named)} needs {' and '.join(missing)} too: pass all three on every process "
        "(--coordinator_address=HOST:PORT of process 0, --num_processes=N, --process_id=0..N-1), "
        "or none of them under a launcher JAX detects (SLURM, Open MPI, TPU pod).")
  if named:
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit():
      raise UserError(f"--coordinator_address={coordinator_address!r} is not HOST:PORT: pass "
                      "e.g. --coordinator_address=10.0.0.1:1234 (process 0's host, a free port).")
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise UserError(f"--process_id={process_id} is not in 0..{num_processes - 1} "
                      f"(--num_processes={num_processes}): number the processes from 0.")
  elif mode == "auto" and _cluster_in_environment() is None:
    return False
  # CPU processes exchange data through gloo (harmless where the devices are GPUs or TPUs).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
  return True


def apply_in_chunks(fn, batch, chunk: int, multiple: int = 1):
  """``fn(batch)`` computed over chunks of at most ``chunk`` rows (the first axis of every leaf of
  the pytree ``batch``), the results' rows concatenated back (numpy).

  Each chunk is zero-padded to a power of two (then to a multiple of ``multiple``, e.g. the
  device count), so that a jitted ``fn`` compiles for a handful of shapes whatever the batch.
  """
  leaves = jax.tree.leaves(batch)
  if not leaves:
    raise ValueError("apply_in_chunks needs a batch with at least one array.")
  total = len(leaves[0])
  chunk = max(chunk // multiple, 1) * multiple
  outputs = []
  for start in range(0, total, chunk):
    part = jax.tree.map(lambda x: np.asarray(x)[start:start + chunk], batch)
    rows = len(jax.tree.leaves(part)[0])
    padded = min(max(multiple, 1 << (rows - 1).bit_length()), chunk)
    padded = -(-padded // multiple) * multiple
    part = jax.tree.map(
        lambda x: np.concatenate([x, np.zeros((padded - rows,) + x.shape[1:], x.dtype)]), part)
    outputs.append(jax.tree.map(lambda y: np.asarray(jax.device_get(y))[:rows], fn(part)))
  return jax.tree.map(lambda *ys: np.concatenate(ys), *outputs)
