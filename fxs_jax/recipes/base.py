"""What a paper supplies to the generic GAN trainer (`fxs_jax.train`)."""

from __future__ import annotations

import abc
import jax
import ml_collections
import numpy as np
from flax import nnx

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class GANRecipe(abc.ABC):
  """One paper: its two networks, its two losses, how to show samples and what to measure.

  The loss methods run inside the trainer's jitted steps on models rebuilt with ``nnx.merge``,
  so they must be pure (randomness only from ``key``). Everything else runs on the host.
  """

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  @abc.abstractmethod
  def build(self, rngs: nnx.Rngs) -> tuple[nnx.Module, nnx.Module]:
    """The (generator, critic) pair, freshly initialised."""

  def prepare_batch(self, batch: dict[str, np.ndarray], rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """Host-side per-batch preparation (e.g. sampling target conditions); default: unchanged."""
    del rng
    return batch

  def critic_phases(self) -> tuple[str, ...]:
    """Names of the critic's successive optimiser updates per iteration (default: one)."""
    return ("all",)

  @abc.abstractmethod
  def fakes_for_critic(self, gen: nnx.Module, batch: Batch, key: jax.Array) -> Batch:
    """What the generator produces for the critic to judge in this iteration (computed once per
    critic update, outside the critic's gradient)."""

  @abc.abstractmethod
  def critic_loss(self, critic: nnx.Module, batch: Batch, fakes: Batch, key: jax.Array,
                  phase: str = "all") -> tuple[jax.Array, Metrics]:
    """The loss the critic minimises in update ``phase`` (scalar) and metrics to log."""

  @abc.abstractmethod
  def generator_loss(self, gen: nnx.Module, critic: nnx.Module, batch: Batch, key: jax.Array
                     ) -> tuple[jax.Array, Metrics]:
    """The loss the generator minimises (scalar) and metrics to log."""

  @abc.abstractmethod
  def sample_tiles(self, gen: nnx.Module, batch: Batch) -> jax.Array:
    """Images (rows, cols, H, W, 3) in [-1, 1] showing what the generator does on ``batch``."""

  def eval_metrics(self, gen: nnx.Module, critic: nnx.Module, batch: Batch, key: jax.Array
                   ) -> Metrics:
    """Per-batch held-out metrics (averaged over the eval set by the trainer); default: none."""
    del gen, critic, batch, key
    return {}

