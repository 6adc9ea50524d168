"""What the editor asks of each kind of model, as batches for :class:`~.runner.ModelRunner`.

Kinds: ``aus`` (GANimation: 17 AU sliders), ``emotion`` (LGP-GAN: emotion buttons + blend),
``transfer`` (cGAN transfer / pix2pix: a second face gives the expression), ``motion``
(TextureGAN with its MotionGAN run: a video from the face taken as neutral). The batches are the
recipes' own (``Predictor.inputs``), so every argument is checked where the model defines it.
"""

from __future__ import annotations

import numpy as np

from fxs_jax import animation
from fxs_jax import facs
from fxs_jax import inputs
from fxs_jax.data import augment
from fxs_jax.errors import UserError

# What each kind of control does, after the paper's name (``GANRecipe.title``).
KIND_TASKS = {"aus": "action units", "emotion": "emotions",
              "transfer": "another face's expression", "motion": "expression videos"}
EDITOR_FRAMES = animation.INTERPOLATION_FRAMES  # an editor's "play": start -> target
VIDEO_FRAMES = 16  # a TextureGAN video (fixed: render_frames compiles for one length)


def kind_of(model) -> str:
  """The editor's name for what ``model`` does, from its predictions' declarations: an ``edit``
  conditioned on AUs gets AU sliders, one conditioned on an emotion emotion buttons; a one-line
  error for a model it cannot serve."""
  predictions = model.predictions
  if "edit" in predictions:
    conditions = model.declaration("edit").conditions
    if "aus" in conditions or "emotion" in conditions:
      return "aus" if "aus" in conditions else "emotion"
  if "transfer" in predictions:
    return "transfer"
  if "render_frames" in predictions:
    return "motion"
  hint = (" (serve its TextureGAN run: that run's config.video.motion names it)"
          if "sample_motion" in predictions else "")
  raise UserError(f"The editor cannot serve a {model.config.model_name} model{hint}; it serves "
                  "models that edit faces towards AUs or emotions, transfer expressions, or "
                  "render frames (GANimation, LGP-GAN, cGAN transfer and TextureGAN runs).")


def title(model, kind: str) -> str:
  """The heading of a model's controls: its paper and what the controls do."""
  return f"{model.recipe.title}: {KIND_TASKS[kind]}"


def prediction_of(kind: str) -> str:
  """The batched prediction the editor runs for ``kind`` ("" for videos: whole tasks)."""
  return {"aus": "edit", "emotion": "edit", "transfer": "transfer"}.get(kind, "")


def describe(name: str, model, kind: str) -> dict:
  """What the page needs to draw the model's controls."""
  emotions = inputs.MOTION_EMOTIONS if kind == "motion" else facs.EMOTIONS
  return {"name": name, "kind": kind, "title": title(model, kind),
          "model": model.config.model_name, "size": int(model.config.model.image_size),
          "step": int(model.step), "emotions": list(emotions), "masks": kind in ("aus", "emotion"),
          "animates": kind != "transfer"}


def _target(kind: str, body: dict) -> dict:
  """The edit's target arguments from the request's checked fields (``payload.fields``):
  ``aus`` + ``intensity`` (GANimation) or ``emotion`` + ``intensity`` (LGP-GAN)."""
  if kind == "aus":
    return {"aus": np.asarray(body["aus"], np.float32), "intensity": float(body["intensity"])}
  return {"emotion": body["emotion"], "intensity": float(body["intensity"])}


def _stack(faces, repeat: int = 1):
  crops = np.repeat(np.stack([f.image for f in faces]), repeat, axis=0)
  landmarks = np.repeat(np.stack([f.landmarks for f in faces]), repeat, axis=0)
  return crops, landmarks


def _edit_inputs(model, crops, landmarks, target: dict) -> dict:
  batch = model.declaration("edit").inputs(crops, landmarks=landmarks, **target)
  if "target_emotion" in batch:  # LGP-GAN at intensity 1: the same one-hot as a blend, so that
    eye = np.eye(model.config.model.num_classes, dtype=np.float32)  # one batch layout compiles
    batch = {"image": batch["image"], "landmarks": batch["landmarks"],
             "target_condition": eye[batch.pop("target_emotion")]}
  return batch


def edit_batch(model, kind: str, faces, body: dict) -> dict:
  """The ``edit`` batch of every face towards the request's target."""
  crops, landmarks = _stack(faces)
  return _edit_inputs(model, crops, landmarks, _target(kind, body))


def play_batch(model, kind: str, faces, body: dict, frames: int = EDITOR_FRAMES) -> dict:
  """An editor's animation as one ``edit`` batch: each face ``frames`` times, from the start
  (intensity 0) to the request's target (as ``fxs_jax.photos.animate_photo``), face-major."""
  target = _target(kind, body)
  alphas = np.linspace(0.0, 1.0, frames, dtype=np.float32) * target.pop("intensity")
  crops, landmarks = _stack(faces, frames)
  return _edit_inputs(model, crops, landmarks,
                      {**target, "intensity": np.tile(alphas, len(faces))})


def transfer_batch(model, source_face, faces) -> dict:
  """The ``transfer`` batch: ``source_face``'s expression onto each of ``faces``."""
  source_crops, source_landmarks = _stack([source_face], len(faces))
  crops, landmarks = _stack(faces)
  return model.declaration("transfer").inputs(source_crops, crops, source_landmarks, landmarks)


def start_batch(model, kind: str, faces, body: dict) -> dict:
  """The ``edit`` batch of every face at its start (intensity 0): what an edit's change is
  measured from (``fxs_jax.photos.edit_photo``'s ``relative_to="start"``)."""
  return edit_batch(model, kind, faces, {**body, "intensity": 0.0})


def self_transfer_batch(model, faces) -> dict:
  """The ``transfer`` batch of each face's own expression onto itself: a transfer's start."""
  crops, landmarks = _stack(faces)
  return model.declaration("transfer").inputs(crops, crops, landmarks, landmarks)


def videos(model, faces, body: dict, frames: int = VIDEO_FRAMES) -> tuple[np.ndarray, float]:
  """TextureGAN: each face's video (F, T, S, S, 3) uint8 from neutral to the request's
  emotion (``seed``: which motion), and its fps. Runs on the model's thread."""
  emotion, seed = body["emotion"], int(body.get("seed", 0))
  size = model.config.model.image_size
  # As photos.animate_photo: a long face's chin landmarks can leave the crop; the motion needs
  # them inside.
  made = [model.animate(face.image, emotion, frames=frames, seed=seed,
                        neutral_landmarks=np.clip(face.landmarks, -0.5, size - 0.5))
          for face in faces]
  return np.stack([video.frames for video in made]), made[0].fps


def example_batch(model, kind: str, face) -> dict:
  """One face's batch of the model's batched prediction (editors, transfer), for the warm-up."""
  if kind == "transfer":
    return transfer_batch(model, face, [face])
  target = {"aus": np.zeros(facs.NUM_AUS, np.float32)} if kind == "aus" else {"emotion": "happy"}
  return edit_batch(model, kind, [face], {**target, "intensity": 0.5})


def to_uint8(images) -> np.ndarray:
  """A model's images in [-1, 1] as uint8."""
  return augment.to_uint8(np.asarray(images))
