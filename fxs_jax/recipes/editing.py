"""What every image-editing recipe shares (GANimation, LGP-GAN; the cGAN transfer next).

An editor's ``sample`` returns tiles ``(rows, cols, H, W, 3)`` in [-1, 1], drawn as one grid;
its ``edit`` prediction takes images (+ landmarks) and a target; ``--mode=generate``
(``fxs_jax.generate``) edits varied test faces towards ``generation_targets`` (one grid column
each), plus any ``generation_strips`` a recipe adds (GANimation's interpolation).
"""

from __future__ import annotations

import math

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

  # The papers whose generators have a colour head and truth terms (model.colour, lambda_truth,
  # changed_truth_weight in their configs); the others render directly and train without them.
  truth_terms = False

  def __init__(self, config):
    super().__init__(config)
    self.upsample = config.model.upsample
    if self.upsample not in UPSAMPLINGS:
      raise UserError(f"model.upsample must be one of {UPSAMPLINGS}, got {self.upsample!r}.")
    self.colour, self.lambda_truth, self.changed_truth_weight = "absolute", 0.0, 0.0
    if self.truth_terms:
      self.colour = config.model.colour
      if self.colour not in COLOURS:
        raise UserError(f"model.colour must be one of {COLOURS}, got {self.colour!r}.")
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
