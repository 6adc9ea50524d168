"""Mixed precision: float32 master parameters and optimiser state, bfloat16 compute.

``config.compute.dtype = "bfloat16"`` makes the trainer's jitted steps run the networks in
bfloat16 (the MXU / tensor-core type of TPUs and recent GPUs): inside each loss function the
float parameters and the input images are cast to bfloat16 before the forward pass. The cast is
differentiable, so ``jax.grad`` of the loss with respect to the float32 parameters is float32 and
Adam updates float32 weights: checkpoints are the same whatever the compute type.

What stays in float32, because bfloat16's 8-bit mantissa would bias it: instance-norm statistics
(``fxs_jax.nn.layers.InstanceNorm``), the gradient-penalty norm (``losses.gradient_penalty``),
every reduction's accumulator (``jnp.mean`` / ``jnp.sum`` accumulate bfloat16 in float32), and
the losses and metrics the steps return, and batch norm's running statistics (the trainer
leaves them out of the cast). Other non-parameter state (e.g. spectral-norm vectors) is computed
in the compute type and stored back in its own type.

``"float32"`` (the default) changes nothing: every cast below is then the identity.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from fxs_jax.errors import UserError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(name: str) -> jnp.dtype:
  """The dtype named by ``config.compute.dtype``, or a one-line error naming the choices."""
  if name not in DTYPES:
    raise UserError(f"config.compute.dtype must be one of {', '.join(DTYPES)}, got {name!r}.")
  return jnp.dtype(DTYPES[name])


def _is_float(x: Any) -> bool:
  return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)


def cast_floats(tree: Any, dtype: jnp.dtype) -> Any:
  """``tree`` with every floating-point leaf cast to ``dtype`` (integer leaves unchanged)."""
  return jax.tree.map(lambda x: x.astype(dtype) if _is_float(x) and x.dtype != dtype else x, tree)


class Policy:
  """Where the trainer casts: ``compute`` before a forward pass, ``float32`` after it."""

  def __init__(self, dtype_name: str = "float32"):
    self.dtype = compute_dtype(dtype_name)
    self.mixed = self.dtype != jnp.float32

  def compute(self, tree: Any) -> Any:
    """Float leaves (parameters, non-parameter state) in the compute dtype."""
    return cast_floats(tree, self.dtype) if self.mixed else tree

  def batch(self, batch: dict, keys: tuple[str, ...]) -> dict:
    """The batch with its entries named in ``keys`` (the recipe's ``compute_dtype_inputs``, e.g.
    images) in the compute dtype. Every other entry keeps its type: landmark coordinates locate
    crops, AU vectors and SRVFs are small, and none of them is guessed from its rank."""
    if not self.mixed:
      return batch
    return {k: v.astype(self.dtype) if k in keys and _is_float(v) else v
            for k, v in batch.items()}

  def float32(self, tree: Any) -> Any:
    """Float leaves (losses, metrics, sample images) back in float32."""
    return cast_floats(tree, jnp.float32) if self.mixed else tree

  def like(self, tree: Any, reference: Any) -> Any:
    """``tree`` with each leaf cast to the dtype of the matching leaf of ``reference`` (state
    computed in bfloat16, stored in its original type)."""
    if not self.mixed:
      return tree
    return jax.tree.map(lambda x, ref: x.astype(ref.dtype) if _is_float(x) else x, tree, reference)

