"""Singular value clipping (SVC, Saito et al., "Temporal Generative Adversarial Nets with Singular
Value Clipping", ICCV 2017): a projection of a critic's parameters onto 1-Lipschitz layers.

Pure functions of arrays and parameter pytrees (``nnx.State`` or nested dicts), applied by the
trainer's optimiser after the critic's updates (``fxs_jax.train.state.projected``):

* every weight with two or more axes (a linear ``(in, out)`` or conv ``(k..., in, out)``
  kernel) is read as the matrix ``(in * k..., out)`` (the transpose of the official
  ``(out, in * k...)`` with its columns permuted: the same singular values and vectors) and its
  singular values above ``limit`` (1) are set to it; those at or below are kept, and so are the
  singular vectors;
* a batch norm's ``scale`` whose module keeps a ``running_var`` statistic (in the non-parameter
  state ``rest``) is clipped to ``[low * sd, sd]`` with ``sd = sqrt(running_var)``, so that
  ``scale / sd`` (the layer's gain) is at most 1 (the paper's ``0 < gamma <= sigma``; the lower
  bound ``0.01 sd`` is the official code's, ``pfnet-research/tgan`` ``updaters/tgan_updater_wgan.py``).

Vectors (biases, batch-norm biases) are left alone: they do not change a layer's Lipschitz
constant.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

SCALE_NAME, RUNNING_VAR_NAME = "scale", "running_var"


def clip_singular_values(kernel: jax.Array, limit: float = 1.0) -> jax.Array:
  """``kernel`` (..., out) as the matrix (prod(...), out) with its singular values clipped to
  ``<= limit``; the same shape and dtype."""
  shape = kernel.shape
  matrix = kernel.reshape(-1, shape[-1]).astype(jnp.float32)
  u, s, vh = jnp.linalg.svd(matrix, full_matrices=False)
  return ((u * jnp.minimum(s, limit)) @ vh).reshape(shape).astype(kernel.dtype)


def clip_norm_scale(scale: jax.Array, running_var: jax.Array, low: float = 0.01) -> jax.Array:
  """A batch norm's scale clipped to ``[low * sd, sd]``, ``sd = sqrt(running_var)``."""
  sd = jnp.sqrt(running_var.astype(jnp.float32))
  return jnp.clip(scale.astype(jnp.float32), low * sd, sd).astype(scale.dtype)


def _key_name(entry) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  return str(entry)


def _path(path) -> tuple[str, ...]:
  """A leaf's names from the root; an ``nnx.Variable``'s own ``.value`` step left out."""
  if path and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "value":
    path = path[:-1]
  return tuple(_key_name(entry) for entry in path)


def singular_value_clipping(params, rest=None, *, limit: float = 1.0, low: float = 0.01):
  """``params`` with every weight of two or more axes SVC-clipped to ``limit`` and every
  batch-norm ``scale`` with a ``running_var`` beside it in ``rest`` clipped to
  ``[low * sd, sd]`` (module docstring); everything else unchanged."""
  variances = {}
  if rest is not None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(rest)[0]:
      names = _path(path)
      if names and names[-1] == RUNNING_VAR_NAME:
        variances[names[:-1]] = leaf

  def project(path, leaf):
    names = _path(path)
    if leaf.ndim >= 2:
      return clip_singular_values(leaf, limit)
    if names and names[-1] == SCALE_NAME and names[:-1] in variances:
      return clip_norm_scale(leaf, variances[names[:-1]], low)
    return leaf

  return jax.tree_util.tree_map_with_path(project, params)
