"""What a paper supplies to the generic GAN trainer (`fxs_jax.train`), and nothing more.

A recipe's whole public surface is declared here. Three parts run in three places:

* **data** (host, in the input pipeline): ``examples`` turns a dataset split into the recipe's own
  random-access examples (pairing, sequence slicing, host-side geometry), ``preprocess`` maps one
  example (flip, scaling), ``prepare_batch`` one global batch (e.g. sampling target conditions);
  ``compute_dtype_inputs`` names the batch entries the networks compute on in bfloat16 under
  ``config.compute.dtype = "bfloat16"`` (nothing is guessed from an array's rank);
* **training** (inside the trainer's jitted steps): ``build_generator`` / ``build_critic``, the two
  losses, ``eval_metrics``, ``sample``;
* **use** (host): ``render_samples`` draws what ``sample`` returned; ``predictors`` are the named,
  pure predict functions (``edit``, ``transfer``, ``sample_motion``) that ``fxs_jax.load`` exposes as
  jitted, batched methods and that ``config.evals`` evaluates; ``generate`` writes
  ``--mode=generate``'s files.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax.data import augment
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Predictor:
  """A named prediction of a trained generator.

  ``compute(gen, batch) -> pytree`` is pure (jitted by the caller; every leaf of ``batch`` and of
  the result has the batch on its first axis). ``inputs(**kwargs) -> batch`` builds that batch on
  the host from a user's arguments (``images=``, ``aus=``, ``emotion=``, ...), validating them with
  one-line errors.
  """

  compute: Callable[[nnx.Module, Batch], Any]
  inputs: Callable[..., dict[str, np.ndarray]]
  doc: str = ""
  # The argument of ``inputs`` whose images decide the output's type: uint8 in, uint8 out; with
  # ``one_in_one_out``, one image (H, W, 3) in gives one image out (no batch axis).
  image_arg: str = "images"
  one_in_one_out: bool = True


class GANRecipe(abc.ABC):
  """One paper: its two networks, its two losses, its data, its samples and its predictions.

  The loss, metric and sample methods run inside jitted functions on models rebuilt with
  ``nnx.merge``, so they must be pure (randomness only from ``key``). Everything else runs on the
  host.
  """

  # Image-like entries (uint8 HxWxC or TxHxWxC) and landmark entries ((..., 68, 2) pixels) of an
  # example: what the default ``preprocess`` scales and mirrors, all with one flip decision.
  fields = augment.Fields()
  # Batch entries the networks take in the compute dtype (bf16 runs); all others stay float32.
  compute_dtype_inputs: tuple[str, ...] = ("image",)

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  # ---- networks ----------------------------------------------------------------------------
  @abc.abstractmethod
  def build_generator(self, rngs: nnx.Rngs) -> nnx.Module:
    """The generator (everything ``fxs_jax.load`` restores), freshly initialised."""

  @abc.abstractmethod
  def build_critic(self, rngs: nnx.Rngs) -> nnx.Module:
    """The critic (training only), freshly initialised."""

  def build(self, rngs: nnx.Rngs) -> tuple[nnx.Module, nnx.Module]:
    """The (generator, critic) pair, in that order from one ``rngs``."""
    return self.build_generator(rngs), self.build_critic(rngs)

  # ---- data (host) -------------------------------------------------------------------------
  def examples(self, source, split: str):
    """This recipe's random-access examples (``len`` and ``[i]``) built from a dataset split;
    default: the split's own examples. Pairing, sequence slicing or host-side geometry go here,
    so the pipeline's shuffling, sharding and checkpointing apply to them unchanged."""
    del split
    return source

  def preprocess(self, example: dict, rng: np.random.Generator | None) -> dict:
    """One example, ready to batch. ``rng`` is None for evaluation (no augmentation).

    Default (stills): images to float32 in [-1, 1]; with ``config.data.flip`` and an ``rng``, a
    mirror of half of the examples, applied to every entry in ``fields`` at once.
    """
    flip = rng is not None and self.config.data.flip and rng.random() < 0.5
    return augment.preprocess(example, self.fields, flip)

  def prepare_batch(self, batch: dict[str, np.ndarray], rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """Host-side preparation of one global batch (e.g. sampling target conditions); default:
    unchanged. Every process prepares the same global batch with the same ``rng``."""
    del rng
    return batch

  def sample_indices(self, source, count: int) -> np.ndarray:
    """Which examples of the eval split the sample grids show; default: varied identities and
    expressions where the data have them (``pipeline.varied_indices``)."""
    return pipeline.varied_indices(source, count)

  # ---- training (jitted) -------------------------------------------------------------------
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

  def eval_metrics(self, gen: nnx.Module, critic: nnx.Module, batch: Batch, key: jax.Array
                   ) -> Metrics:
    """Per-batch held-out metrics (averaged over the eval set by the trainer); default: none."""
    del gen, critic, batch, key
    return {}

  @abc.abstractmethod
  def sample(self, gen: nnx.Module, batch: Batch) -> Any:
    """Any pytree showing what the generator does on ``batch`` (jitted; drawn by
    ``render_samples`` on the host)."""

  @abc.abstractmethod
  def render_samples(self, outputs: Any, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``sample``'s outputs (as numpy) drawn as named uint8 HxWx3 images."""

  # ---- use (host) --------------------------------------------------------------------------
  def predictors(self) -> dict[str, Predictor]:
    """The named predictions ``fxs_jax.load`` exposes and ``config.evals`` can evaluate."""
    return {}

  def methods(self) -> dict[str, Callable[..., Any]]:
    """Host-side uses of a trained model beyond one jitted prediction, as ``fn(model, *args,
    **kwargs)``; ``fxs_jax.load`` exposes each as ``model.<name>(*args, **kwargs)`` (e.g.
    TextureGAN's ``animate``, which chains a MotionGAN run and ``render_frames``).

    Default: the uses on real photos that the predictions allow (``fxs_jax.photos.methods_for``:
    ``edit_photo`` / ``interpolate`` / ``animate_photo`` for an ``edit``, ``transfer_photo`` for
    a ``transfer``, ``animate_photo`` for ``render_frames``); an override adds to them."""
    from fxs_jax import photos  # pylint: disable=import-outside-toplevel  (photos imports recipes)
    return photos.methods_for(self)

  def generate(self, model, source, out_dir: Path) -> list[Path]:
    """``--mode=generate``: files made with ``model`` (a ``fxs_jax.inference.TrainedModel``) from
    the eval split ``source`` into ``out_dir``; returns their paths."""
    del model, source, out_dir
    raise UserError(f"{self.config.model_name} has no --mode=generate; use train or eval.")
