"""What every image-editing recipe shares (GANimation, LGP-GAN; the cGAN transfer next).

An editor's ``sample`` returns tiles ``(rows, cols, H, W, 3)`` in [-1, 1], drawn as one grid;
its ``edit`` prediction takes images (+ landmarks) and a target; ``--mode=generate`` edits
varied test faces towards ``generation_targets`` (one grid column each, the targets listed in
``targets.txt``), plus any ``extra_strips`` a recipe adds (GANimation's interpolation).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fxs_jax import errors
from fxs_jax import facs
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


def tile_grid(tiles) -> np.ndarray:
  """Tiles (rows, cols, H, W, 3) in [-1, 1] as one uint8 grid image."""
  tiles = np.asarray(tiles)
  rows, cols = tiles.shape[:2]
  return viz.make_grid(augment.to_uint8(tiles.reshape(rows * cols, *tiles.shape[2:])), cols)


def check_images(images, image_size: int, what: str = "images") -> np.ndarray:
  """``images`` (B, H, W, 3) or one (H, W, 3), uint8 0-255 or float in [-1, 1], as float32
  (B, H, W, 3) in [-1, 1]; a one-line error if the size or layout is not the model's."""
  arr = np.asarray(images)
  if arr.ndim == 3:
    arr = arr[None]
  if arr.ndim != 4 or arr.shape[-1] != 3:
    raise UserError(f"{what} must be (B, H, W, 3) or (H, W, 3) RGB arrays, got shape "
                    f"{np.shape(images)}.")
  if arr.shape[1:3] != (image_size, image_size):
    raise UserError(f"{what} are {arr.shape[1]}x{arr.shape[2]} px; this model edits "
                    f"{image_size}x{image_size} aligned face crops (config.model.image_size).")
  if arr.dtype == np.uint8:
    return augment.to_signed_unit(arr)
  if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
    raise UserError(f"{what} must be uint8 0-255 or float in [-1, 1], got {arr.dtype}.")
  arr = arr.astype(np.float32)
  if arr.size and not np.all(np.isfinite(arr)):
    raise UserError(f"float {what} hold non-finite values (nan or inf): pass values in [-1, 1] "
                    "(or uint8 0-255).")
  if arr.size and (arr.min() < -1.001 or arr.max() > 1.001):
    raise UserError(f"float {what} must lie in [-1, 1] (or pass uint8 0-255), got values in "
                    f"[{arr.min():.3g}, {arr.max():.3g}].")
  return arr


def check_landmarks(landmarks, count: int, what: str = "landmarks") -> np.ndarray:
  """(count, 68, 2) float32 finite pixel (x, y) of ``count`` faces, else a one-line error."""
  try:
    lms = np.asarray(landmarks, np.float32)
  except (TypeError, ValueError):
    lms = np.zeros((0,), np.float32)
  if lms.size != count * 68 * 2:
    raise UserError(f"{what} must be (B, 68, 2) pixel (x, y) for {count} images, got shape "
                    f"{np.shape(landmarks)}.")
  if not np.all(np.isfinite(lms)):
    raise UserError(f"{what} hold non-finite values (no face found?): pass 68 finite (x, y) "
                    "points per face.")
  return lms.reshape(count, 68, 2)


def check_intensities(intensity, high: float, meaning: str = "the edit's strength"
                      ) -> np.ndarray:
  """``intensity`` (one, or one per image) as finite numbers in [0, ``high``], else a one-line
  error (:func:`fxs_jax.errors.check_numbers`)."""
  return errors.check_numbers(intensity, "intensity", low=0.0, high=high, meaning=meaning,
                              fix="0 is the start, 1 the target; pass e.g. intensity=1")


def per_example(values, count: int, what: str, item_ndim: int = 0, dtype=np.float32
                ) -> np.ndarray:
  """``values`` given once (``item_ndim`` dims) or once per example (one more, ``count`` long),
  as an array with ``count`` rows; a one-line error otherwise."""
  try:
    arr = np.asarray(values, dtype)
  except (TypeError, ValueError):
    raise UserError(f"{what} must be numbers, given once or once per image ({count}); got "
                    f"{str(values)[:40]!r}.") from None
  if arr.ndim == item_ndim:
    return np.broadcast_to(arr, (count,) + arr.shape).copy()
  if arr.ndim == item_ndim + 1 and len(arr) == count:
    return arr
  raise UserError(f"{what} must be given once or once per image ({count}), got shape "
                  f"{np.shape(values)}.")


def emotion_labels(emotion, count: int, what: str = "emotion") -> np.ndarray:
  """(count,) int32 class indices from emotion names or indices (one, or one per example)."""
  values = per_example(np.asarray(emotion, object), count, what, dtype=object)
  labels = []
  for value in values:
    if isinstance(value, str):
      labels.append(facs.emotion_index(value, what))
    else:
      labels.append(errors.check_number(
          value, what, low=0, high=facs.NUM_EMOTIONS - 1, integer=True,
          meaning="an emotion's index", fix=f"or pass a name ({', '.join(facs.EMOTIONS)})"))
  return np.asarray(labels, np.int32)


def emotion_names(text: str, what: str = "config.generate.emotions") -> list[str]:
  """The comma-separated emotion names in ``text``, each checked."""
  names = [e.strip() for e in text.split(",") if e.strip()]
  for name in names:
    facs.emotion_index(name, what)
  return names


class EditingRecipe(GANRecipe):
  """A recipe whose generator edits face images towards a target condition.

  With ``model.lambda_truth > 0`` (a SynthFaces addition; the papers train unpaired) the train
  split is read as same-identity pairs (``fxs_jax.data.target_pairs``): the recipe edits each
  example towards its partner's expression and ``truth_term`` adds an L1 to the partner's image,
  the exact truth of that edit.
  """

  fields = augment.Fields(images=("image", "frames", "target_image"),
                          landmarks=("landmarks", "target_landmarks"))
  # Whether ``edit`` needs the faces' 68 landmarks (LGP-GAN places its eye and mouth crops).
  needs_landmarks = False

  def __init__(self, config):
    super().__init__(config)
    self.lambda_truth = self.truth_weight("lambda_truth")  # absent in older configs: 0
    # Configs saved before the switches have no model.upsample: theirs was a transposed conv.
    self.upsample = config.model.get("upsample", "transpose")
    if self.upsample not in UPSAMPLINGS:
      raise UserError(f"model.upsample must be one of {UPSAMPLINGS}, got {self.upsample!r}.")
    self.colour = config.model.get("colour", "absolute")  # the same for model.colour
    if self.colour not in COLOURS:
      raise UserError(f"model.colour must be one of {COLOURS}, got {self.colour!r}.")
    self.changed_truth_weight = self.truth_weight("changed_truth_weight")

  def examples(self, source, split: str):
    """The train split as same-identity target pairs when ``model.lambda_truth > 0``."""
    if self.lambda_truth > 0 and split == self.config.data.train_split:
      return target_pairs.SameIdentityTargets(source)
    return source

  def truth_weight(self, key: str) -> float:
    """``config.model.<key>``: the weight of one part's own truth term (0 when an older config
    has no such key)."""
    value = float(self.config.model.get(key, 0.0))
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
    return {"samples": tile_grid(outputs)}

  def generation_targets(self) -> list[tuple[str, dict]]:
    """``(column name, edit arguments)`` of ``--mode=generate``'s edits grid."""
    raise UserError(f"{self.config.model_name} declares no generation targets.")

  def extra_strips(self, model, batch: dict) -> list[tuple[str, list, str]]:
    """More grids for ``--mode=generate``: ``(name, columns, description)``; default none."""
    del model, batch
    return []

  def generate(self, model, source, out_dir: Path) -> list[Path]:
    """``edits.png``: rows = varied test faces, columns = input + each generation target; then
    the recipe's extra strips; ``targets.txt`` says what the columns are."""
    targets = self.generation_targets()
    if not targets:
      raise UserError("Nothing to generate: set --config.generate.emotions (e.g. happy,sad)"
                      + (" and/or --config.generate.aus" if "aus" in self.config.generate else "")
                      + ".")
    count = min(self.config.generate.num_images, len(source))
    examples = [self.preprocess(source[int(i)], None) for i in self.sample_indices(source, count)]
    batch = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
    landmarks = batch.get("landmarks")
    columns = [batch["image"]] + [model.edit(batch["image"], landmarks=landmarks, **arguments)
                                  for _, arguments in targets]
    strips = [("edits", columns,
               "input, " + ", ".join(name for name, _ in targets))]
    strips += self.extra_strips(model, batch)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, lines = [], []
    for name, cols, description in strips:
      path = out_dir / f"{name}.png"
      viz.save_png(path, tile_grid(np.stack(cols, axis=1)))
      paths.append(path)
      lines.append(f"{name}.png columns: {description}")
    (out_dir / "targets.txt").write_text("\n".join(lines) + "\n")
    return paths
