"""The device mesh and moving host batches onto it (jit + Mesh; runs on 1 CPU or a pod)."""

from __future__ import annotations

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


def to_device(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles each process's local batch into global arrays sharded over 'data'."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}
