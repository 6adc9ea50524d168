"""What every image-editing recipe shares (GANimation, LGP-GAN, the cGAN transfer, the
baselines), and what the class-conditioned editors share (LGP-GAN, StarGAN, AttGAN).

An editor's ``sample`` returns tiles ``(rows, cols, H, W, 3)`` in [-1, 1], drawn as one grid;
its ``edit`` prediction takes images (+ landmarks) and a target; ``--mode=generate``
(``fxs_jax.generate``) edits varied test faces towards ``generation_targets`` (one grid column
each), plus any ``generation_strips`` a recipe adds (GANimation's interpolation).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fxs_jax import facs
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.data import target_pairs
from fxs_jax.errors import UserError
from fxs_jax.nn.blocks import COLOURS
from fxs_jax.nn.blocks import UPSAMPLINGS
from fxs_jax.recipes.base import GANRecipe

# Targets shown in the training sample grids.
SAMPLE_EMOTIONS = ("happy", "surprised", "sad", "angry")


def changed_by_truth(batch):
  """(B, H, W, 1): 1 on the pixels a paired batch's true target changes (the evaluators' rule)."""
  return losses.changed_pixels(batch["image"], batch["target_image"])


class EditingRecipe(GANRecipe):
  """A recipe whose generator edits face images towards a target condition.

  With ``model.lambda_truth > 0`` (a SynthFaces addition; the papers train unpaired) the train
  split is read as same-identity pairs (``fxs_jax.data.target_pairs``): the recipe edits each
  example towards its partner's expression and ``truth_term`` adds an L1 to the partner's image,
  the exact truth of that edit.
  """

  fields = augment.Fields(images=("image", "frames", "target_image"),
                          landmarks=("landmarks", "target_landmarks"))

  # Recipes with truth terms read model.lambda_truth and changed_truth_weight from their configs;
  # those with a colour head (GANimation's colour mask) also model.colour. The others train
  # without them.
  truth_terms = False
  colour_head = False

  def __init__(self, config):
    super().__init__(config)
    self.upsample = config.model.upsample
    if self.upsample not in UPSAMPLINGS:
      raise UserError(f"model.upsample must be one of {UPSAMPLINGS}, got {self.upsample!r}.")
    self.colour, self.lambda_truth, self.changed_truth_weight = "absolute", 0.0, 0.0
    if self.colour_head:
      self.colour = config.model.colour
      if self.colour not in COLOURS:
        raise UserError(f"model.colour must be one of {COLOURS}, got {self.colour!r}.")
    if self.truth_terms:
      self.lambda_truth = self.truth_weight("lambda_truth")
      self.changed_truth_weight = self.truth_weight("changed_truth_weight")

  def examples(self, source, split: str):
    """The train split as same-identity target pairs when ``model.lambda_truth > 0``."""
    if self.lambda_truth > 0 and split == self.config.data.train_split:
      return target_pairs.SameIdentityTargets(source)
    return source

  def truth_weight(self, key: str) -> float:
    """``config.model.<key>``: the weight of one part's own truth term, checked."""
    value = float(self.config.model[key])
    if not 0 <= value < math.inf:  # NaN and inf fail too
      raise UserError(f"model.{key} must be >= 0 and finite, got {value}.")
    return value

  def truth_term(self, output, batch, name: str = "gen/truth", weight: float = 1.0,
                 window=None, where=None) -> dict:
    """``{name: weight * lambda_truth * L1(output, window(target_image))}`` on paired batches
    (``model.lambda_truth`` > 0, the partner's image in the batch) with ``weight`` > 0, else {}.

    ``window`` maps the true image to what ``output`` stands for (default: all of it), so that
    a part of the generator (a crop, a colour mask) can have its own pixel target; ``where``
    maps the batch to a (B, H, W, 1) mask, and the L1 is then the mean over its pixels only."""
    if not (self.lambda_truth > 0 and weight > 0 and "target_image" in batch):
      return {}
    truth = batch["target_image"] if window is None else window(batch["target_image"])
    l1 = (losses.l1_loss(output, truth) if where is None
          else losses.masked_l1_loss(output, truth, where(batch)))
    return {name: weight * self.lambda_truth * l1}

  def edit_truth_terms(self, edit, batch) -> dict:
    """The final edit's truth terms: ``gen/truth``, the L1 over the image, and with
    ``model.changed_truth_weight`` w > 0 ``gen/changed_truth``, w * lambda_truth * the L1's mean
    over the pixels the truth changes only. The image mean dilutes a small edit (a squint, a lip
    corner) by the share of the face it covers; this term is the edited region's own target."""
    return {**self.truth_term(edit, batch),
            **self.truth_term(edit, batch, "gen/changed_truth", self.changed_truth_weight,
                              where=changed_by_truth)}

  def render_samples(self, outputs, batch):
    del batch
    return {"samples": viz.tile_grid(outputs)}

  def generation_targets(self) -> list[tuple[str, dict]]:
    """``(column name, edit arguments)`` of ``--mode=generate``'s edits grid."""
    raise UserError(f"{self.config.model_name} declares no generation targets.")

  def generation_strips(self, batch: dict) -> list[tuple[str, list[dict], str]]:
    """More ``--mode=generate`` grids of the faces in ``batch``: ``(name, edit arguments of each
    column after the input, description)``; default none."""
    del batch
    return []


def classification_loss(logits_BxK: jax.Array, labels_B: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of integer ``labels`` (StarGAN's ``F.cross_entropy``)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B))


class ClassEditingRecipe(EditingRecipe):
  """An editor conditioned on a target expression class (``model.num_classes``, SynthFaces' and
  RaFD's eight): targets drawn per batch, the ``edit`` arguments, the generate-mode columns.

  Batches hold ``emotion`` (B,) and ``target_emotion`` (B,) int32 (+ ``landmarks`` where the data
  have them); the generator is conditioned on ``condition(batch)``, (B, num_classes): the
  target's one-hot, or a blend of two one-hots (``target_condition``, from ``edit``'s
  ``intensity``).
  """

  # Whether ``edit`` needs the faces' 68 landmarks (LGP-GAN's crops); the others accept them.
  needs_landmarks = False

  def __init__(self, config):
    super().__init__(config)
    self.num_classes = int(config.model.num_classes)
    self.targets = self.generation_targets()  # a bad name fails before any work

  def prepare_batch(self, batch, rng):
    """Target class per example: uniform over the classes other than its own, or, on
    same-identity pairs (``model.lambda_truth``), the partner's class and its image."""
    k = self.num_classes
    label = np.asarray(batch["emotion"]).astype(np.int32)
    prepared = {"image": batch["image"], "emotion": label}
    if "landmarks" in batch:
      prepared["landmarks"] = np.asarray(batch["landmarks"], np.float32)
    if "target_emotion" in batch:
      return {**prepared, "target_emotion": np.asarray(batch["target_emotion"], np.int32),
              "target_image": batch["target_image"]}
    target = (label + rng.integers(1, k, size=label.shape)) % k
    return {**prepared, "target_emotion": target.astype(np.int32)}

  def one_hot(self, labels_B: jax.Array) -> jax.Array:
    return jax.nn.one_hot(labels_B, self.num_classes, dtype=jnp.float32)

  def condition(self, batch) -> jax.Array:
    """(B, num_classes): the batch's ``target_condition`` (a class blend) or its target's one-hot."""
    if "target_condition" in batch:
      return batch["target_condition"]
    return self.one_hot(batch["target_emotion"])

  def sample_labels(self, n: int) -> jax.Array:
    """(t * n,) the classes of ``SAMPLE_EMOTIONS``, target-major: one batched pass for a grid."""
    return jnp.repeat(jnp.asarray([facs.EMOTIONS.index(e) for e in SAMPLE_EMOTIONS],
                                  jnp.int32), n)

  def class_grid(self, edit, batch):
    """Tiles (rows, cols, H, W, 3) in [-1, 1] of a one-pass class editor: input | its own class |
    each of ``SAMPLE_EMOTIONS``, all targets in one batched call ``edit(images, labels)``."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    image = batch["image"][:n]
    labels = jnp.concatenate([jnp.asarray(batch["emotion"][:n], jnp.int32),
                              self.sample_labels(n)])
    out = edit(jnp.tile(image, (len(labels) // n, 1, 1, 1)), labels)
    columns = out.reshape(-1, n, *image.shape[1:])  # target-major
    return jnp.concatenate([image[:, None], jnp.moveaxis(columns, 0, 1)], axis=1)

  @staticmethod
  def class_accuracies(critic, fake, real, labels, target) -> dict:
    """The critic's class-head accuracy on edits (vs the target) and on real images (vs the true
    class): ``acc_fake``, ``acc_real``."""
    return {"acc_fake": jnp.mean(jnp.argmax(critic(fake).logits_BxK, -1) == target),
            "acc_real": jnp.mean(jnp.argmax(critic(real).logits_BxK, -1) == labels)}

  def edit_inputs(self, images, emotion=None, landmarks=None, intensity=1.0,
                  start="neutral") -> dict:
    """Edit ``images`` ((B, H, W, 3) or one face, uint8 or [-1, 1]) towards the expression class
    ``emotion`` (a name or index, once or per image); ``landmarks`` ((B, 68, 2) pixel (x, y) in
    the images) are needed by the editors that place crops with them and ignored by the others.

    ``intensity`` (0-1, once or per image) blends the class condition from ``start`` (a name
    or index, default neutral) to ``emotion``: ``(1 - intensity) * onehot(start) + intensity *
    onehot(emotion)`` (the papers train on one-hots only; blends are an interpolation between
    two classes the generator has seen)."""
    image = inputs.check_images(images, self.config.model.image_size)
    n = len(image)
    if emotion is None:
      raise UserError(f"{self.title}.edit needs a target: emotion=name or index "
                      f"({', '.join(facs.EMOTIONS)}).")
    batch = {"image": image}
    if self.needs_landmarks:
      if landmarks is None:
        raise UserError(f"{self.title}.edit needs the faces' 68 landmarks (landmarks=, (B, 68, "
                        "2) pixel x, y) to place its eye and mouth crops.")
      batch["landmarks"] = inputs.check_landmarks(landmarks, n)
    labels = inputs.emotion_labels(emotion, n)
    scale = inputs.per_example(inputs.check_intensities(
        intensity, 1.0, f"{self.title}'s intensity (a blend of two expression classes)"), n,
                                "intensity")
    if np.all(scale == 1.0):
      return {**batch, "target_emotion": labels}
    eye = np.eye(self.num_classes, dtype=np.float32)
    origin = eye[inputs.emotion_labels(start, n, "start")]
    return {**batch, "target_condition": origin + scale[:, None] * (eye[labels] - origin)}

  def generation_targets(self) -> list[tuple[str, dict]]:
    """(column name, edit arguments) for ``config.generate.emotions``."""
    return [(name, {"emotion": name})
            for name in inputs.emotion_names(self.config.generate.emotions)]
