"""Trained models on real photos: find and align every face exactly as the dataset builders crop
their photos (``fxs_jax.faces``), run the model on the crops, paste the results back into the
full-resolution photo through a soft face mask.

    model = fxs_jax.load("runs/ganimation_demo")
    edit = model.edit_photo("me.jpg", emotion="happy", intensity=0.8)     # a PhotoEdit
    edit.save("me_happy.jpg")                                             # same size as me.jpg
    video = model.animate_photo("me.jpg", emotion="surprised", frames=12)  # an Animation
    video.save("me_surprised")                                             # .gif and .mp4

``fxs_jax.load`` exposes these as methods where the model's predictions declare what they need
(``fxs_jax.face_model``): an editor (an ``edit``: GANimation, LGP-GAN) gets ``edit_photo``,
``interpolate`` (one crop) and ``animate_photo``; a ``transfer`` (the cGAN transfer) gets
``transfer_photo``; ``render_frames`` (TextureGAN) gets ``animate_photo`` (its MotionGAN +
TextureGAN video of each face, pasted back).

* **Faces**: dlib's frontal detector and 68 landmarks, the Umeyama eye alignment at the model's
  ``config.model.image_size``; ``faces="all"`` edits every face found, ``"largest"`` the largest.
  Photos whose longer side exceeds ``faces.search.DETECT_MAX_SIDE`` are searched on an integer box-
  downscaled copy (faster; faces narrower than ~80 px at that scale are missed); photos over
  ``MAX_MEGAPIXELS`` are refused.
* **Paste-back**: ``fxs_jax.faces.face_mask`` (1 on the landmarks' convex hull, a smoothstep
  to 0 over a tenth of the crop around it) times ``paste_back``'s feathered square, so hair,
  background and other faces keep their pixels exactly. With ``keep_detail`` (default) only
  the model's change (edited crop - input crop) is warped back and added: the photo keeps its
  own detail finer than the crop (a 64 px crop of a 400 px face), the change comes at the crop's
  resolution.
* **What the input had** (``fxs_jax.photo_io``): an edit keeps the photo's alpha channel
  bit for bit, a grey photo comes back grey, and ``PhotoEdit.save`` writes the file's ICC profile
  and EXIF data back (orientation 1: the photo is edited upright). Animation frames are RGB.
* **Errors**: an unreadable file, a photo with no face, a too large photo: one line naming the
  file and the reason (``fxs_jax.errors.UserError``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from fxs_jax import animation
from fxs_jax import errors
from fxs_jax import photo_io
from fxs_jax.errors import UserError
from fxs_jax.faces import alignment
from fxs_jax.faces import masks
from fxs_jax.faces import search as face_search
from fxs_jax.photo_io import save_photo  # photos.save_photo: the public name

MAX_MEGAPIXELS = 40.0  # a 7,700 x 5,200 photo; beyond, edit a downscaled copy
ANIMATION_MAX_SIDE = animation.PHOTO_VIDEO_SIDE  # animate_photo's frames: this longer side
FACE_CHOICES = face_search.FACE_CHOICES
# What an edit's change is measured from (edit_photo's ``relative_to``).
RELATIVE_TO = ("start", "input")


@dataclasses.dataclass
class PhotoEdit:
  """A photo with its faces edited.

  Attributes:
    photo: uint8, the edited photo at the input's full resolution, in the input's layout: an
      RGB photo gives (H, W, 3); an RGBA one (H, W, 4) with the input's alpha, bit for bit; a
      grey one (H, W) (an array's own (H, W, 1)), the edit as luminance; a grey + alpha file
      (H, W, 2). A file's photo is upright (its EXIF orientation applied); 16-bit grey comes
      back 8-bit.
    faces: the ``fxs_jax.faces.AlignedFace`` of each edited face (the model's input crop,
      its landmarks and the photo -> crop transform), the largest first.
    edited: (F, S, S, 3) uint8, the model's output crop of each face.
    name: the photo's file path, or "photo" for an array.
    skipped: the faces (or possible faces) left out, each with its box and reason.
    icc_profile: the input file's ICC colour profile (bytes), or None; ``save`` writes it.
    exif: the input file's EXIF data with orientation 1, or None; ``save`` writes it.
  """

  photo: np.ndarray
  faces: list[alignment.AlignedFace]
  edited: np.ndarray
  name: str = "photo"
  skipped: list[face_search.SkippedFace] = dataclasses.field(default_factory=list)
  icc_profile: bytes | None = None
  exif: bytes | None = None

  def summary(self) -> str:
    """One line: how many faces were edited and which were skipped, why."""
    return faces_summary(len(self.faces), self.skipped)

  @property
  def boxes(self) -> np.ndarray:
    """(F, 4) int (x0, y0, x1, y1): each face's landmark box in the photo's pixels."""
    boxes = []
    for face in self.faces:
      points = alignment.apply_affine(alignment.invert_affine(face.transform), face.landmarks)
      boxes.append(np.concatenate([np.floor(points.min(0)), np.ceil(points.max(0))]))
    return np.asarray(boxes, np.int64).reshape(-1, 4)

  def __array__(self, dtype=None, copy=None):
    del copy
    return self.photo if dtype is None else self.photo.astype(dtype)

  def save(self, path: str | os.PathLike) -> Path:
    """Writes the edited photo (format from the suffix: .jpg at quality 95, .png, ...) with the
    input's ICC profile and EXIF where the format holds them (PNG, JPEG, WebP, TIFF). A format
    without alpha (JPEG) gets an RGBA photo composited over white: save as .png to keep it."""
    return save_photo(path, self.photo, icc_profile=self.icc_profile, exif=self.exif)


def _check_size(width: int, height: int, name: str) -> None:
  megapixels = width * height / 1e6
  if megapixels > MAX_MEGAPIXELS:
    raise UserError(f"{name}: {width}x{height} px ({megapixels:.1f} MP) is over the "
                    f"{MAX_MEGAPIXELS:g} MP limit for photo editing; downscale it first (the "
                    "faces are edited at the model's crop size anyway).")


def read_photo(photo, what: str = "photo") -> tuple[np.ndarray, str]:
  """``photo`` (a file path, or a uint8 (H, W) / (H, W, 1-4) array) as (H, W, 3) uint8 RGB (EXIF
  orientation applied, transparency over white), and the name errors use: the path, or ``what``
  for arrays. One-line errors for a missing, unreadable or too large file."""
  image, name, _ = _read_keeping(photo, what)
  return image, name


def _read_keeping(photo, what: str = "photo") -> tuple[np.ndarray, str, photo_io.Kept]:
  """``read_photo`` and what an edit puts back (``fxs_jax.photo_io.read``)."""
  return photo_io.read(photo, what, _check_size)


def _edit_result(image, kept: photo_io.Kept, pasted: np.ndarray, *fields) -> PhotoEdit:
  """The ``PhotoEdit`` of ``pasted`` (the edit of ``image``) in the input's layout."""
  return PhotoEdit(photo_io.restore(pasted, image, kept), *fields,
                   icc_profile=kept.icc_profile, exif=kept.exif)


def find_faces(image: np.ndarray, size: int, faces="all", name: str = "photo"
               ) -> list[alignment.AlignedFace]:
  """The aligned ``size`` px crop of every face dlib finds in ``image`` (``faces="all"``, the
  largest first), the largest one (``"largest"``) or the chosen ones (a list of indices); a
  one-line error naming the photo if there is none (``search_faces`` also says which faces
  were left out)."""
  return face_search.search_faces(image, size, faces, name).faces


def faces_summary(edited: int, skipped: list) -> str:
  """``"2 faces edited"``, then each skipped face's box and reason."""
  text = f"{edited} face{'s' * (edited != 1)} edited"
  for face in skipped:
    x0, y0, x1, y1 = face.box
    text += f"; skipped the face at x {x0}-{x1}, y {y0}-{y1}: {face.reason}"
  return text


def paste_faces(image: np.ndarray, faces: list[alignment.AlignedFace], crops,
                keep_detail: bool = True, references=None) -> np.ndarray:
  """``image`` with each crop pasted back into its face's place through the face's soft mask.

  With ``keep_detail`` only a change is added: ``crop - reference``, where ``references`` are
  the model's renderings of each face at its own condition (see ``edit_photo``), or, when
  None, the faces' input crops (the whole difference between the model's output and the face).
  A crop equal to its reference leaves the photo exactly as it was. Without ``keep_detail`` the
  crops themselves are pasted.
  """
  out = image
  references = [face.image for face in faces] if references is None else references
  for face, crop, reference in zip(faces, crops, references):
    mask = masks.face_mask(face.landmarks, face.image.shape[0])
    out = alignment.paste_back(out, face, np.asarray(crop), mask=mask,
                               change_from=np.asarray(reference) if keep_detail else None)
  return out


def _stack_faces(faces: list[alignment.AlignedFace], repeat: int = 1):
  """The crops (F * repeat, S, S, 3) and landmarks (F * repeat, 68, 2), face-major."""
  return (np.repeat(np.stack([f.image for f in faces]), repeat, axis=0),
          np.repeat(np.stack([f.landmarks for f in faces]), repeat, axis=0))


def _check_relative_to(relative_to: str) -> None:
  if relative_to not in RELATIVE_TO:
    raise UserError(f"relative_to must be one of {RELATIVE_TO}, got {relative_to!r}.")


def edit_photo(model, photo, emotion=None, aus=None, intensity: float = 1.0,
               faces="all", start=None, keep_detail: bool = True,
               relative_to: str = "start", thorough: bool = False) -> PhotoEdit:
  """Every face (``faces="all"``) or the largest face of ``photo`` (a path or a uint8 array)
  edited towards ``emotion`` (GANimation, LGP-GAN) or ``aus`` (GANimation: 17 intensities 0-5).

  ``intensity`` and ``start`` are ``model.edit``'s: GANimation sends ``start + intensity *
  (target - start)`` (``start`` default all AUs 0: a photo's own AUs are unknown, no AU detector
  ships with fxs_jax), LGP-GAN the class blend ``(1 - intensity) * onehot(start) + intensity *
  onehot(emotion)`` (``start`` default neutral): ``start`` stands for the face's own condition.

  ``relative_to="start"`` (default) adds to the photo only the model's change between the target
  and ``start``: ``G(face, target) - G(face, start)``. What the model cannot render of a face it
  has never seen (a real face's colours and texture) cancels, so an edit to ``start``, or at
  intensity 0, returns the photo bit for bit. ``"input"`` adds ``G(face, target) - face``: the
  model's whole rendering, its shortfalls included (what a model trained on the photo's own kind
  of faces may want). Without ``keep_detail`` the edited crop itself is pasted.
  ``faces`` and ``thorough``: which faces, and how hard to look (``faces.search.search_faces``).
  Returns a ``PhotoEdit`` (``.photo`` full resolution, ``.save(path)``, ``.skipped``: the
  faces left out and why).
  """
  _check_relative_to(relative_to)
  errors.check_numbers(intensity, "intensity", low=0.0, high=errors.MAX_INTENSITY,
                       meaning="the edit's strength", fix="0 is the start, 1 the target")
  arguments = animation.target_arguments(model, emotion=emotion, aus=aus, start=start)
  image, name, kept = _read_keeping(photo)
  search = face_search.search_faces(image, model.config.model.image_size, faces, name, thorough)
  found = search.faces
  crops, landmarks = _stack_faces(found)
  edited = model.edit(crops, landmarks=landmarks, intensity=intensity, **arguments)
  references = None
  if relative_to == "start":  # the same call at intensity 0: G(face, start), the same shapes
    references = model.edit(crops, landmarks=landmarks, intensity=0.0, **arguments)
  return _edit_result(image, kept, paste_faces(image, found, edited, keep_detail, references),
                      found, edited, name, search.skipped)


def transfer_photo(model, source_photo, target_photo, faces="all",
                   keep_detail: bool = True, relative_to: str = "start",
                   thorough: bool = False) -> PhotoEdit:
  """The expression of the largest face in ``source_photo`` put on every face (or the largest)
  of ``target_photo`` by a cGAN transfer (or pix2pix) model, pasted back into the target
  photo. Photos are paths or uint8 arrays.

  ``relative_to="start"`` (default) adds the model's change between the source's expression and
  the target face's own (each target face transferred onto itself): a photo given as its own
  source comes back bit for bit; ``"input"``: the change from the target face (see
  ``edit_photo``)."""
  _check_relative_to(relative_to)
  if "transfer" not in model.predictions:
    raise UserError(f"{model.config.model_name} does not transfer expressions; transfer_photo "
                    "needs a cGAN transfer run (configs/cgan_transfer.py).")
  size = model.config.model.image_size
  source_image, source_name = read_photo(source_photo, "source_photo")
  target_image, target_name, kept = _read_keeping(target_photo, "target_photo")
  source = find_faces(source_image, size, "largest", source_name)
  search = face_search.search_faces(target_image, size, faces, target_name, thorough)
  targets = search.faces
  source_crops, source_landmarks = _stack_faces(source, len(targets))
  target_crops, target_landmarks = _stack_faces(targets)
  edited = model.transfer(source_crops, target_crops, source_landmarks, target_landmarks)
  references = None
  if relative_to == "start":  # each target face's own expression, rendered by the model
    references = model.transfer(target_crops, target_crops, target_landmarks, target_landmarks)
  return _edit_result(target_image, kept,
                      paste_faces(target_image, targets, edited, keep_detail, references),
                      targets, edited, target_name, search.skipped)


def fit_within(image: np.ndarray, max_side: int | None) -> np.ndarray:
  """``image`` downscaled (Lanczos) so that its longer side is at most ``max_side`` (None or 0:
  unchanged)."""
  height, width = animation.fitted_size(image.shape[:2], max_side)
  if (height, width) == image.shape[:2]:
    return image
  return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def animate_photo(model, photo, emotion=None, aus=None,
                  frames: int = animation.INTERPOLATION_FRAMES, intensity: float = 1.0,
                  faces="all", start=None, fps: float | None = None,
                  max_side: int | None = ANIMATION_MAX_SIDE, keep_detail: bool = True,
                  relative_to: str = "start", thorough: bool = False,
                  **motion) -> animation.Animation:
  """An ``fxs_jax.animation.Animation`` of the whole photo: each face (all, or the
  largest) animated and pasted back, frame by frame.

  Editors (GANimation, LGP-GAN): ``interpolate``'s frames, from ``start`` to the target at
  ``intensity``, every frame the generator's output. TextureGAN: ``animate``'s video from the
  face (taken as neutral) to ``emotion``; ``motion`` passes ``motion=``, ``seed=``, ``scale=``.
  Frames are ``max_side`` px on the longer side (None: the photo's size; a video of a 12 MP
  photo holds 36 MB per frame): faces are found and cropped in the full photo, then pasted into
  its downscaled copy (``fit_within``); ``fps`` defaults to 12 (editors) or the video's.
  ``relative_to="start"`` (default): each frame adds the model's change from its first frame
  (the start, or TextureGAN's neutral face), so frame 0 is the (downscaled) photo bit for bit;
  ``"input"``: the change from the face (see ``edit_photo``).
  """
  _check_relative_to(relative_to)
  frames = animation.check_frames(frames)
  intensity = animation.check_intensity(intensity)
  fps = animation.check_fps(fps)
  max_side = animation.check_max_side(max_side)
  image, name = read_photo(photo)
  animation.check_video_size(name, image.shape[:2], frames, max_side)  # before any face is searched
  size = model.config.model.image_size
  if "edit" in model.predictions:
    if motion:
      raise UserError(f"{model.config.model_name}.animate_photo got unexpected arguments "
                      f"{', '.join(motion)}.")
    arguments = animation.target_arguments(model, emotion=emotion, aus=aus, start=start)
    search = face_search.search_faces(image, size, faces, name, thorough)
    found = search.faces
    animation.check_video_size(name, image.shape[:2], frames, max_side, len(found), size)
    crops, landmarks = _stack_faces(found, frames)
    alphas = np.linspace(0.0, 1.0, frames, dtype=np.float32) * np.float32(intensity)
    edited = animation.edit_frames(model, crops, landmarks, np.tile(alphas, len(found)),
                                   arguments).reshape(len(found), frames, size, size, 3)
    fps = fps or animation.INTERPOLATION_FPS
  elif "render_frames" in model.predictions:
    if aus is not None or start is not None or intensity != 1.0 or emotion is None:
      raise UserError("A TextureGAN run animates a face from neutral to emotion=name; it takes "
                      "no aus=, start= or intensity=.")
    search = face_search.search_faces(image, size, faces, name, thorough)
    found = search.faces
    animation.check_video_size(name, image.shape[:2], frames, max_side, len(found), size)
    # Landmarks of a long face can leave the crop at the chin; the motion needs them inside.
    videos = [model.animate(face.image, emotion, frames=frames, fps=fps,
                            neutral_landmarks=np.clip(face.landmarks, -0.5, size - 0.5), **motion)
              for face in found]
    edited, fps = np.stack([v.frames for v in videos]), videos[0].fps
  else:
    raise UserError(f"{model.config.model_name} does not make face videos; animate_photo needs an "
                    "editor (GANimation, LGP-GAN) or a TextureGAN run.")
  references = edited[:, 0] if relative_to == "start" else None  # frame 0: the start
  # Paste at the output size, not into the full photo then shrink: a 24 MP photo has ~70x the
  # pixels of a 720 px frame to copy, warp and shrink, per frame. The crops stay the full
  # photo's (sharper than crops of the small copy). Frames go straight into one array.
  canvas = fit_within(image, max_side)
  canvas_faces = [alignment.rescaled(face, canvas.shape[:2]) for face in found]
  video = np.empty((frames,) + canvas.shape, np.uint8)
  for t in range(frames):
    video[t] = paste_faces(canvas, canvas_faces, edited[:, t], keep_detail, references)
  return animation.Animation(frames=video, landmarks=None,
                             emotion=animation.target_name(emotion, aus), fps=float(fps),
                             skipped=tuple(search.skipped))
