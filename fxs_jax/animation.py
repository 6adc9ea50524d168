"""Expression videos: an :class:`Animation` and its writer (GIF, MP4), made by

* ``interpolate``: an editor (GANimation, LGP-GAN) on one face crop, its condition moved from a
  start to a target in k frames (AU space for GANimation, class blends for LGP-GAN);
  ``fxs_jax.photos.animate_photo`` does the same on every face of a photo and pastes the frames
  back into it;
* ``animate``: one neutral face, a MotionGAN run's landmark motion, rendered frame by frame by a
  TextureGAN run (the survey's cWGAN-P3 pipeline).

    texture = fxs_jax.load("runs/texturegan")     # its config.video.motion names the motion run
    video = texture.animate(face_uint8, emotion="happy", frames=30, neutral_landmarks=lms)
    video.save("happy")                           # happy.gif, happy.mp4, happy_landmarks.gif

The motion is sampled for the requested class (``seed`` fixes it), put on the face's own
landmarks (``L_t = L_0 + scale * curve_t`` in normalised units, ``fxs_jax.recipes.motiongan``),
resampled in time to ``frames`` and handed with the neutral face to ``render_frames``. Without
``neutral_landmarks`` they are found with dlib (the ``faces`` extra).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np

from fxs_jax import facs
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.errors import UserError
from fxs_jax.recipes import editing
from fxs_jax.recipes import motiongan as motion_lib

NEUTRAL_GREY = (90, 90, 90)
VIDEO_FORMATS = ("gif", "mp4")
INTERPOLATION_FRAMES = 12
INTERPOLATION_FPS = 12.0


@dataclasses.dataclass(frozen=True)
class Animation:
  """One expression video: ``frames`` (T, H, W, 3) uint8, the ``landmarks`` (T, 68, 2) pixel
  (x, y) they were rendered from (None when the frames were not rendered from landmarks: an
  editor's interpolation, frames of a photo), the ``emotion`` (or target) name and the ``fps`` to
  play them at."""

  frames: np.ndarray
  landmarks: np.ndarray | None
  emotion: str
  fps: float
  skipped: tuple = ()  # a photo's faces left out (fxs_jax.faces.search.SkippedFace)

  def __len__(self) -> int:
    return len(self.frames)

  def landmark_frames(self, min_side: int = 256) -> np.ndarray:
    """The landmark-only animation: each frame's landmarks (iBUG group colours) over the neutral
    ones (grey) on black, at the video's size upscaled to >= ``min_side``."""
    size = self.frames.shape[1:3]
    factor = max(1, -(-int(min_side) // min(size)))
    to_px = lambda p: (p + 0.5) * factor - 0.5  # pixel centres at integers, before and after
    canvas = np.zeros((size[0] * factor, size[1] * factor, 3), np.uint8)
    canvas = viz.draw_landmarks(canvas, to_px(self.landmarks[0]), radius=1.5, color=NEUTRAL_GREY)
    return np.stack([viz.draw_landmarks(canvas, to_px(lms), radius=1.5)
                     for lms in self.landmarks])

  def save(self, path: str | Path, min_side: int = 256, formats=VIDEO_FORMATS) -> list[Path]:
    """Writes ``<path>.gif`` and / or ``<path>.mp4`` (``formats``; frames upscaled by nearest
    neighbour to >= ``min_side`` px) and, with landmarks and a GIF, ``<path>_landmarks.gif``;
    returns their paths."""
    unknown = set(formats) - set(VIDEO_FORMATS)
    if unknown or not formats:
      raise UserError(f"Animation formats must be some of {VIDEO_FORMATS}, got {tuple(formats)}.")
    path = Path(path)
    path = path.with_suffix("") if path.suffix in (".gif", ".mp4") else path
    big = viz.upscale(self.frames, min_side)
    paths = []
    if "gif" in formats:
      paths.append(viz.save_gif(path.with_name(path.name + ".gif"), big, self.fps))
    if "mp4" in formats:
      paths.append(viz.save_mp4(path.with_name(path.name + ".mp4"), big, self.fps))
    if "gif" in formats and self.landmarks is not None:
      paths.append(viz.save_gif(path.with_name(path.name + "_landmarks.gif"),
                                self.landmark_frames(min_side), self.fps))
    return paths


def resample_in_time(landmarks_TxKx2: np.ndarray, frames: int) -> np.ndarray:
  """(frames, K, 2): the sequence linearly interpolated at ``frames`` evenly spaced times from
  its first frame to its last (both kept)."""
  lms = np.asarray(landmarks_TxKx2, np.float32)
  if frames == len(lms):
    return lms
  pos = np.linspace(0.0, len(lms) - 1.0, frames)
  lo = np.clip(np.floor(pos).astype(int), 0, len(lms) - 2)
  w = (pos - lo)[:, None, None].astype(np.float32)
  return (1.0 - w) * lms[lo] + w * lms[lo + 1]


def motion_model(texture_model, motion=None):
  """The MotionGAN ``TrainedModel`` to animate with: ``motion`` (a loaded model, a workdir or an
  export), else the texture run's ``config.video.motion``; loaded once per path."""
  if motion is None:
    motion = texture_model.config.get("video", {}).get("motion", "")
    if not motion:
      raise UserError("No MotionGAN run to take the motion from: pass motion=<MotionGAN workdir "
                      "or export> or set --config.video.motion=<it> on the TextureGAN run.")
  if not isinstance(motion, (str, Path)):
    loaded = motion
  else:
    cache = texture_model.__dict__.setdefault("_motion_models", {})
    if str(motion) not in cache:
      from fxs_jax import inference  # pylint: disable=import-outside-toplevel  (imports us)
      cache[str(motion)] = inference.load(motion)
    loaded = cache[str(motion)]
  if "sample_motion" not in getattr(loaded, "predictions", ()):
    raise UserError(f"The motion model must be a MotionGAN run; {motion} is "
                    f"{getattr(getattr(loaded, 'config', None), 'model_name', type(loaded))!r}.")
  return loaded


def find_landmarks(image_HxWx3: np.ndarray, what: str = "neutral_landmarks") -> np.ndarray:
  """(68, 2) pixel landmarks of the largest face dlib finds in a uint8 image, else a UserError
  that names the argument (``what``) to pass instead."""
  from fxs_jax.eval import identity  # pylint: disable=import-outside-toplevel  (dlib, optional)
  try:
    found = identity.FaceEmbedder().detect(image_HxWx3)
  except UserError as e:
    raise UserError(f"Without {what} the face's 68 landmarks are found with dlib, which "
                    f"is not usable here ({e}); or pass {what}=(68, 2) pixel (x, y).") from e
  if not len(found):
    raise UserError(f"dlib finds no face in the image: pass {what}=(68, 2) pixel (x, y), or a "
                    "larger, frontal face crop.")
  return found[0]


def animate(texture_model, neutral_image, emotion, frames: int | None = None,
            neutral_landmarks=None, motion=None, seed: int = 0, scale: float | None = None,
            fps: float | None = None) -> Animation:
  """An ``Animation`` of ``neutral_image`` (one face, (H, W, 3) uint8 or [-1, 1], the texture
  model's size) from neutral to ``emotion`` (happy .. contemptuous, or its index 1-7).

  ``frames``: the video's length (default the motion model's ``num_frames``);
  ``neutral_landmarks``: (68, 2) pixel (x, y) of the face (default: found with dlib);
  ``motion``: the MotionGAN run (default the texture run's ``config.video.motion``);
  ``seed``: which sample of the motion distribution; ``scale``: the motion's amplitude
  (default the motion run's ``model.motion_scale``); ``fps``: default ``config.video.fps``.
  """
  size = texture_model.config.model.image_size
  image = editing.check_images(neutral_image, size, "neutral_image")
  if len(image) != 1:
    raise UserError(f"animate takes one neutral face (H, W, 3); got {len(image)} images: call it "
                    "once per face.")
  # From [-1, 1] exactly (viz.to_uint8 would read a bright face, all >= 0, as [0, 1]).
  image_uint8 = augment.to_uint8(image[0])
  lms = find_landmarks(image_uint8) if neutral_landmarks is None else neutral_landmarks
  lms = motion_lib.check_neutral_landmarks(lms)
  if len(lms) != 1:
    raise UserError(f"neutral_landmarks must be one face's 68 points (68, 2), got {len(lms)} "
                    "faces.")
  if lms.min() < -0.5 or lms.max() > size - 0.5:
    raise UserError(f"neutral_landmarks lie outside the {size}x{size} image (range "
                    f"{lms.min():.2f} .. {lms.max():.2f}): pass them in the image's pixels.")
  motion = motion_model(texture_model, motion)
  if frames is not None and (int(frames) != frames or frames < 2):
    raise UserError(f"frames must be an integer >= 2 (neutral and apex at least), got {frames!r}.")
  label = motion_lib.motion_labels(emotion, 1)
  out = motion.predict("sample_motion", motion.recipe.sample_motion_inputs(label, 1, seed=seed))
  scale = motion.config.model.motion_scale if scale is None else float(scale)
  landmarks = np.asarray(motion_lib.animate(lms, out["curve"], scale))[0]
  landmarks = resample_in_time(landmarks, int(frames or len(landmarks)))
  rendered = texture_model.render_frames(image_uint8, landmarks)
  video = texture_model.config.get("video", {})
  return Animation(frames=rendered, landmarks=landmarks, emotion=facs.EMOTIONS[int(label[0])],
                   fps=float(fps or video.get("fps", 15.0)))


def video_emotions(names: str) -> list[str]:
  """The ``config.video.emotions`` list ("" = all seven), each checked (one-line errors)."""
  wanted = [n.strip() for n in names.split(",") if n.strip()] or list(motion_lib.MOTION_EMOTIONS)
  return [facs.EMOTIONS[int(label)] for label in motion_lib.motion_labels(wanted, len(wanted))]


def generate_videos(model, config, faces: list[tuple[str, np.ndarray, np.ndarray | None]],
                    out_dir: Path) -> tuple[list[Path], list[str]]:
  """``--mode=generate``'s videos: for each ``(name, uint8 image, landmarks or None)`` face and
  each of ``config.video.emotions``, ``<name>_<emotion>.{gif,mp4}`` and ``..._landmarks.gif``;
  with several, ``videos.{gif,mp4}``: one row per face, one column per emotion. Returns the paths
  and a line per file for targets.txt. ``config``: the run's (``--config`` overrides apply)."""
  v, seed = config.video, config.seed
  emotions = video_emotions(v.emotions)
  rows, paths = [], []
  for name, image, landmarks in faces:
    row = []
    for emotion in emotions:
      video = animate(model, image, emotion, frames=v.frames or None,
                      neutral_landmarks=landmarks, motion=v.motion, seed=seed, fps=v.fps)
      paths += video.save(out_dir / f"{name}_{emotion}", v.min_side)
      row.append(video.frames)
    rows.append(row)
  lines = [f"{name}_<emotion>.gif / .mp4: {name} from neutral to each of {', '.join(emotions)} "
           f"({v.fps:g} fps); _landmarks.gif: the landmarks rendered" for name, _, _ in faces]
  if len(rows) * len(emotions) > 1:
    grid = [viz.make_grid([video[t] for row in rows for video in row], len(emotions))
            for t in range(len(rows[0][0]))]
    big = viz.upscale(np.stack(grid), v.min_side)
    paths += [viz.save_gif(out_dir / "videos.gif", big, v.fps),
              viz.save_mp4(out_dir / "videos.mp4", big, v.fps)]
    lines.append(f"videos.gif / .mp4: rows {', '.join(n for n, _, _ in faces)}; columns "
                 f"{', '.join(emotions)}")
  return paths, lines


def check_frames(frames) -> int:
  """``frames`` as an int >= 2 (start and end at least), else a one-line error."""
  if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2:
    raise UserError(f"frames must be an integer >= 2 (start and end at least), got {frames!r}.")
  return int(frames)


def target_name(emotion=None, aus=None) -> str:
  """A short name of an edit's target, for file names and ``Animation.emotion``."""
  if emotion is not None:
    return str(emotion if isinstance(emotion, str) else facs.EMOTIONS[int(emotion)])
  return "aus" if aus is not None else "edit"


def target_arguments(model, **given) -> dict:
  """The edit arguments in ``given`` that are not None, checked against what ``model.edit``
  accepts (GANimation: aus / emotion / start; LGP-GAN: emotion / start): one-line errors."""
  if "edit" not in model.predictions:
    raise UserError(f"{model.config.model_name} does not edit faces (its predictions: "
                    f"{', '.join(model.predictions) or 'none'}).")
  accepted = inspect.signature(model.recipe.predictors()["edit"].inputs).parameters
  arguments = {k: v for k, v in given.items() if v is not None}
  for key in arguments:
    if key not in accepted:
      raise UserError(f"{model.config.model_name} takes no {key}=: it edits towards "
                      + " / ".join(f"{k}=" for k in ("emotion", "aus") if k in accepted) + ".")
  return arguments


def interpolate(model, face, emotion=None, aus=None, frames: int = INTERPOLATION_FRAMES,
                intensity: float = 1.0, start=None, landmarks=None,
                fps: float = INTERPOLATION_FPS) -> Animation:
  """An ``Animation`` of an editor's edits of one face crop ((H, W, 3) uint8 or [-1, 1], the
  model's size) on the way from ``start`` to the target, in ``frames`` frames.

  Frame t is ``model.edit(face, ..., intensity=intensity * t / (frames - 1), start=start)``:
  for GANimation the AU vector ``start + a * (target - start)`` (``start`` default all AUs 0, or
  the face's own AUs / an emotion), for LGP-GAN the class blend ``(1 - a) * onehot(start) + a *
  onehot(emotion)`` (``start`` default neutral). Every frame, the first included, is the
  generator's output (no jump from the input's pixels to the generator's).
  ``landmarks`` ((68, 2) crop pixels): needed by LGP-GAN, found with dlib when not given.
  """
  arguments = target_arguments(model, emotion=emotion, aus=aus, start=start)
  frames = check_frames(frames)
  size = model.config.model.image_size
  image = editing.check_images(face, size, "face")
  if len(image) != 1:
    raise UserError(f"interpolate takes one face (H, W, 3); got {len(image)} images: call it "
                    "once per face.")
  face_uint8 = augment.to_uint8(image[0])
  if landmarks is None and model.recipe.needs_landmarks:
    landmarks = find_landmarks(face_uint8, "landmarks")
  if landmarks is not None:
    landmarks = np.broadcast_to(np.asarray(landmarks, np.float32).reshape(1, 68, 2),
                                (frames, 68, 2))
  alphas = np.linspace(0.0, 1.0, frames, dtype=np.float32) * float(intensity)
  edited = model.edit(np.repeat(face_uint8[None], frames, axis=0),
                      landmarks=landmarks, intensity=alphas, **arguments)
  return Animation(frames=edited, landmarks=None, emotion=target_name(emotion, aus),
                   fps=float(fps))
