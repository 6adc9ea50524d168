"""What ``fxs_jax.load`` returns: a ``fxs_jax.inference.TrainedModel`` with its uses on faces,
photos and videos, each available where the model's predictions declare it:

- ``edit_photo`` needs an ``edit`` (GANimation, LGP-GAN): every face of a photo edited;
- ``interpolate`` needs an ``edit``: one face crop from its start to the target, as a video;
- ``animate_photo`` needs an ``edit`` or ``render_frames`` (TextureGAN): a video of the photo;
- ``transfer_photo`` needs a ``transfer`` (cGAN transfer, pix2pix): one photo's expression on
  another;
- ``animate`` needs ``render_frames``: a MotionGAN run's motion rendered on a neutral face.

``model.uses`` lists the ones this model has; the others raise a one-line error saying what
they need. A new paper gets them by declaring its predictions (``fxs_jax.recipes.base``).
"""

from __future__ import annotations

from pathlib import Path

from fxs_jax import animation
from fxs_jax import inference
from fxs_jax import photos
from fxs_jax.errors import UserError

# Each use and the predictions that allow it (any one of them).
USES = {"edit_photo": ("edit",), "interpolate": ("edit",),
        "animate_photo": ("edit", "render_frames"), "transfer_photo": ("transfer",),
        "animate": ("render_frames",)}


class FaceModel(inference.TrainedModel):
  """A trained model with the uses on photos and videos its predictions declare."""

  @classmethod
  def of(cls, model: inference.TrainedModel) -> FaceModel:
    """``model`` (its recipe, generator and params, not copied) as a ``FaceModel``; a
    ``FaceModel`` is returned as it is (its compiled predictions kept)."""
    if isinstance(model, cls):
      return model
    return cls(model.recipe, model.graphdef, model.params, model.rest, model.step, model.source)

  @property
  def uses(self) -> tuple[str, ...]:
    """The photo and video methods this model's predictions allow."""
    return tuple(use for use, needs in USES.items()
                 if any(task in self.predictions for task in needs))

  def _check_use(self, use: str) -> None:
    if use not in self.uses:
      needs = " or ".join(f"a {task!r} prediction" for task in USES[use])
      raise UserError(f"{self.config.model_name} has no {use}: it needs {needs}; this model's "
                      f"predictions are {', '.join(self.predictions) or 'none'}.")

  def edit_photo(self, photo, *args, **options) -> photos.PhotoEdit:
    """``fxs_jax.photos.edit_photo`` with this model."""
    self._check_use("edit_photo")
    return photos.edit_photo(self, photo, *args, **options)

  def transfer_photo(self, source_photo, target_photo, *args, **options) -> photos.PhotoEdit:
    """``fxs_jax.photos.transfer_photo`` with this model."""
    self._check_use("transfer_photo")
    return photos.transfer_photo(self, source_photo, target_photo, *args, **options)

  def animate_photo(self, photo, *args, **options) -> animation.Animation:
    """``fxs_jax.photos.animate_photo`` with this model."""
    self._check_use("animate_photo")
    return photos.animate_photo(self, photo, *args, **options)

  def interpolate(self, face, *args, **options) -> animation.Animation:
    """``fxs_jax.animation.interpolate`` with this model."""
    self._check_use("interpolate")
    return animation.interpolate(self, face, *args, **options)

  def animate(self, neutral_image, emotion, *args, **options) -> animation.Animation:
    """``fxs_jax.animation.animate`` with this model (a TextureGAN run)."""
    self._check_use("animate")
    return animation.animate(self, neutral_image, emotion, *args, **options)

  def __repr__(self) -> str:
    return f"{super().__repr__()[:-1]}, uses: {', '.join(self.uses) or 'none'})"


def load(path: str | Path, step: int | None = None) -> FaceModel:
  """``fxs_jax.inference.load`` as a ``FaceModel``."""
  return FaceModel.of(inference.load(path, step))
