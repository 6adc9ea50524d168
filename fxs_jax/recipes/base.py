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
  pure predict functions (one per task of ``TASKS``), each declaring what it is conditioned
  on and what it returns (``Predictor``). ``fxs_jax.load`` exposes them as jitted, batched
  methods, ``config.evals`` evaluates them, and the applications (photos, videos, the editor,
  ``--mode=generate``) learn from the declarations alone what a model can do.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax.data import augment
from fxs_jax.data import pipeline

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


# The tasks a prediction can perform (its name in ``predictors``):
#   edit           face image(s) -> the face with another expression (``conditions``: aus, emotion)
#   transfer       a source face's expression onto target face(s)
#   sample_motion  an expression class -> landmark motions
#   render_frames  a neutral face + a landmark sequence -> video frames
#   sample_video   an expression class -> video frames from noise alone (no input face)
#   animate_face   a neutral face + an expression class -> video frames starting from it
TASKS = ("edit", "transfer", "sample_motion", "render_frames", "sample_video", "animate_face")
# What a prediction can be conditioned on, besides the face it is given.
CONDITIONS = ("aus", "emotion", "source_face", "motion_class", "landmark_sequence")
# What it returns: face images, a video's frames, or landmark motions.
RETURNS = ("image", "frames", "motion")


@dataclasses.dataclass(frozen=True)
class Predictor:
  """A named prediction of a trained generator, with what it needs and gives.

  ``compute(gen, batch) -> pytree`` is pure (jitted by the caller; every leaf of ``batch`` and of
  the result has the batch on its first axis). ``inputs(**kwargs) -> batch`` builds that batch on
  the host from a user's arguments (``images=``, ``aus=``, ``emotion=``, ...), validating them with
  one-line errors.

  The declaration: ``conditions`` (some of ``CONDITIONS``: e.g. GANimation's edit takes
  ``("aus", "emotion")``, LGP-GAN's ``("emotion",)``), ``returns`` (one of ``RETURNS``) and
  ``needs_landmarks`` (whether the faces' 68 landmarks must be given). Applications dispatch on
  these, never on a paper's name or a function's signature.
  """

  compute: Callable[[nnx.Module, Batch], Any]
  inputs: Callable[..., dict[str, np.ndarray]]
  conditions: tuple[str, ...] = ()
  returns: str = "image"
  needs_landmarks: bool = False
  doc: str = ""
  # The argument of ``inputs`` whose images decide the output's type: uint8 in, uint8 out; with
  # ``one_in_one_out``, one image (H, W, 3) in gives one image out (no batch axis).
  image_arg: str = "images"
  one_in_one_out: bool = True

  def __post_init__(self):
    unknown = set(self.conditions) - set(CONDITIONS)
    if unknown or self.returns not in RETURNS:
      raise ValueError(f"A Predictor declares conditions from {CONDITIONS} and returns one of "
                       f"{RETURNS}; got conditions {self.conditions}, returns {self.returns!r}.")


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
  # The paper's name, as applications show it (the editor's headings).
  title: str = ""
  # A constraint on the critic kept by projection: ``critic_projection(params, rest) -> params``
  # (pure; ``rest`` the critic's non-parameter state), applied by the critic's optimiser after
  # every ``critic_projection_every``-th critic update (``fxs_jax.train.state.projected``). None:
  # no projection, the optimiser unchanged (every recipe but TGAN, whose singular value clipping
  # it is).
  critic_projection: Callable[[Any, Any], Any] | None = None
  critic_projection_every: int = 1

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.title = self.title or config.model_name

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

  def eval_batches(self, source, split: str, batch_size: int, seed: int,
                   limit: int | None = None):
    """Prepared host copies of the global batches of one ordered pass over this recipe's
    examples of ``source`` (no augmentation; a partial last batch is dropped), deterministic in
    ``seed``."""
    host = pipeline.eval_dataset(self.examples(source, split), batch_size, num_threads=1,
                                 rows=np.arange(batch_size), limit=limit,
                                 preprocess=self.preprocess)
    for i, batch in enumerate(host):
      yield self.prepare_batch(batch, np.random.default_rng([seed, 7, i]))

  def sample_batch(self, source, split: str, count: int, seed: int) -> dict[str, np.ndarray]:
    """The prepared global batch of ``count`` examples the sample grids show (``sample_indices``
    of this recipe's examples of ``source``)."""
    examples = self.examples(source, split)
    chosen = [self.preprocess(examples[int(i)], None)
              for i in self.sample_indices(examples, count)]
    batch = {k: np.stack([e[k] for e in chosen]) for k in chosen[0]}
    return self.prepare_batch(batch, np.random.default_rng([seed, 8]))

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
    """The named predictions (keys from ``TASKS``) ``fxs_jax.load`` exposes and
    ``config.evals`` can evaluate, each with its declaration."""
    return {}
