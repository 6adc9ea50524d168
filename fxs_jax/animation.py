"""Expression videos: an ``Animation`` and its writer (GIF, MP4), made by

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
from pathlib import Path

import numpy as np

from fxs_jax import errors
from fxs_jax import facs
from fxs_jax import geometry
from fxs_jax import inference
from fxs_jax import inputs
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.errors import UserError
from fxs_jax.faces import detect

NEUTRAL_GREY = (90, 90, 90)
VIDEO_FORMATS = ("gif", "mp4")
INTERPOLATION_FRAMES = 12
INTERPOLATION_FPS = 12.0
PHOTO_VIDEO_SIDE = 720  # the longer side fxs_jax.photos.animate_photo's frames are downscaled to


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
    returns their paths. Each file is written under a temporary name, then renamed (never
    half-written); where none can be written, a one-line error before any is."""
    unknown = set(formats) - set(VIDEO_FORMATS)
    if unknown or not formats:
      raise UserError(f"Animation formats must be some of {VIDEO_FORMATS}, got {tuple(formats)}.")
    min_side = errors.check_number(min_side, "min_side", low=0, high=errors.MAX_VIDEO_SIDE,
                                   integer=True, meaning="the shorter side videos are upscaled to",
                                   fix="0 keeps the frames' size; pass e.g. min_side=256")
    path = Path(path)
    path = path.with_suffix("") if path.suffix in (".gif", ".mp4") else path
    writes = [(path.with_name(f"{path.name}.{f}"), getattr(viz, f"save_{f}"), None)
              for f in VIDEO_FORMATS if f in formats]
    if "gif" in formats and self.landmarks is not None:
      writes.append((path.with_name(path.name + "_landmarks.gif"), viz.save_gif, "landmarks"))
    for target, _, _ in writes:
      errors.check_output_path(target)
    big = viz.upscale(self.frames, min_side)
    for target, write, what in writes:
      try:
        write(target, self.landmark_frames(min_side) if what else big, self.fps)
      except OSError as e:
        raise errors.write_error(target, e) from e
    return [target for target, _, _ in writes]


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
    motion = texture_model.config.video.motion
    if not motion:
      raise UserError("No MotionGAN run to take the motion from: pass motion=<MotionGAN workdir "
                      "or export> or set --config.video.motion=<it> on the TextureGAN run.")
  if not isinstance(motion, (str, Path)):
    loaded = motion
  else:
    cache = texture_model.__dict__.setdefault("_motion_models", {})
    if str(motion) not in cache:
      cache[str(motion)] = inference.load(motion)
    loaded = cache[str(motion)]
  if "sample_motion" not in getattr(loaded, "predictions", ()):
    raise UserError(f"The motion model must be a MotionGAN run; {motion} is "
                    f"{getattr(getattr(loaded, 'config', None), 'model_name', type(loaded))!r}.")
  return loaded


def find_landmarks(image_HxWx3: np.ndarray, what: str = "neutral_landmarks") -> np.ndarray:
  """(68, 2) pixel landmarks of the largest face dlib finds in a uint8 image, else a UserError
  that names the argument (``what``) to pass instead."""
  try:
    # As the identity evaluator finds faces: 64 px crops upscaled to 256 px, dlib's own threshold.
    found = detect.FaceDetector(min_side=256, threshold=0.0).detect(image_HxWx3)
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
  frames = None if frames is None else check_frames(frames)
  fps = check_fps(fps)
  seed = errors.check_number(seed, "seed", low=0, high=2**63 - 1, integer=True,
                             meaning="the motion sample's seed", fix="pass e.g. seed=0")
  if scale is not None:
    scale = errors.check_number(scale, "scale", low=0.0, high=1.0,
                                meaning="the motion's amplitude (normalised units)",
                                fix="the runs use 0.05-0.14; omit it for the motion run's own")
  image = inputs.check_images(neutral_image, size, "neutral_image")
  if len(image) != 1:
    raise UserError(f"animate takes one neutral face (H, W, 3); got {len(image)} images: call it "
                    "once per face.")
  # From [-1, 1] exactly (viz.to_uint8 would read a bright face, all >= 0, as [0, 1]).
  image_uint8 = augment.to_uint8(image[0])
  lms = find_landmarks(image_uint8) if neutral_landmarks is None else neutral_landmarks
  lms = inputs.check_neutral_landmarks(lms)
  if len(lms) != 1:
    raise UserError(f"neutral_landmarks must be one face's 68 points (68, 2), got {len(lms)} "
                    "faces.")
  if lms.min() < -0.5 or lms.max() > size - 0.5:
    raise UserError(f"neutral_landmarks lie outside the {size}x{size} image (range "
                    f"{lms.min():.2f} .. {lms.max():.2f}): pass them in the image's pixels.")
  motion = motion_model(texture_model, motion)
  label = inputs.motion_labels(emotion, 1)
  out = motion.predict("sample_motion", motion.recipe.sample_motion_inputs(label, 1, seed=seed))
  scale = motion.config.model.motion_scale if scale is None else scale
  landmarks = np.asarray(geometry.motion_on_face(lms, out["curve"], scale))[0]
  landmarks = resample_in_time(landmarks, frames or len(landmarks))
  rendered = texture_model.render_frames(image_uint8, landmarks)
  return Animation(frames=rendered, landmarks=landmarks, emotion=facs.EMOTIONS[int(label[0])],
                   fps=fps or check_fps(texture_model.config.video.fps, "config.video.fps"))


def video_emotions(names: str) -> list[str]:
  """The ``config.video.emotions`` list ("" = all seven), each checked (one-line errors)."""
  wanted = [n.strip() for n in names.split(",") if n.strip()] or list(inputs.MOTION_EMOTIONS)
  return [facs.EMOTIONS[int(label)] for label in inputs.motion_labels(wanted, len(wanted))]


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


def check_frames(frames, what: str = "frames") -> int:
  """``frames`` as an int in [2, ``fxs_jax.errors.MAX_FRAMES``] (start and end at least;
  more would hold more memory than a call may), else a one-line error naming ``what``."""
  return errors.check_number(frames, what, low=2, high=errors.MAX_FRAMES, integer=True,
                             meaning="the number of frames",
                             fix=f"at least the start and the end, at most what fits in "
                                 f"memory; pass e.g. {what}={INTERPOLATION_FRAMES}")


def check_fps(fps, what: str = "fps") -> float | None:
  """``fps`` (None: the default) as a float in [``fxs_jax.errors.MIN_FPS``,
  ``fxs_jax.errors.MAX_FPS``], else a one-line error naming ``what``."""
  if fps is None:
    return None
  return errors.check_number(fps, what, low=errors.MIN_FPS, high=errors.MAX_FPS,
                             meaning="frames per second",
                             fix=f"pass e.g. {what}={INTERPOLATION_FPS:g}")


def check_intensity(intensity, what: str = "intensity") -> float:
  """A scalar ``intensity`` as a finite float in [0, ``fxs_jax.errors.MAX_INTENSITY``]
  (the model's own ``edit`` narrows it: LGP-GAN's is at most 1)."""
  return errors.check_number(intensity, what, low=0.0, high=errors.MAX_INTENSITY,
                             meaning="the edit's strength",
                             fix=f"0 is the start, 1 the target; pass e.g. {what}=1")


def edit_frames(model, crops, landmarks, alphas, arguments) -> np.ndarray:
  """``model.edit`` of uint8 ``crops`` (N, S, S, 3), row i at ``intensity=alphas[i]``, in chunks
  of ``config.eval.batch_size`` rows, each turned to uint8 before the next: a video holds one
  chunk's float outputs at a time, not every frame's (the same chunks ``predict`` runs, so the
  same pixels). ``arguments``: the target, given once."""
  out = np.empty_like(crops)
  chunk = max(1, int(model.config.eval.batch_size))
  for start in range(0, len(crops), chunk):
    rows = slice(start, start + chunk)
    out[rows] = model.edit(crops[rows], landmarks=None if landmarks is None else landmarks[rows],
                           intensity=alphas[rows], **arguments)
  return out


def fitted_size(photo_hw, max_side: int | None) -> tuple[int, int]:
  """(height, width) of a ``photo_hw`` (height, width) photo downscaled so that its longer side
  is at most ``max_side`` (None or 0: unchanged)."""
  height, width = photo_hw
  scale = max_side / max(height, width) if max_side else 1.0
  if scale >= 1.0:
    return height, width
  return max(1, round(height * scale)), max(1, round(width * scale))


def check_max_side(max_side, what: str = "max_side") -> int | None:
  """A video's ``max_side``: None or 0 (the photo's own size), or an int in
  [``fxs_jax.errors.MIN_VIDEO_SIDE``, ``fxs_jax.errors.MAX_VIDEO_SIDE``]."""
  if max_side is None or (not isinstance(max_side, bool) and max_side == 0):
    return None
  return errors.check_number(max_side, what, low=errors.MIN_VIDEO_SIDE,
                             high=errors.MAX_VIDEO_SIDE, integer=True,
                             meaning="the longer side of a video's frames in pixels",
                             fix=f"0 keeps the photo's own size; pass e.g. "
                                 f"{what}={PHOTO_VIDEO_SIDE}")


def check_video_size(name: str, photo_hw, frames: int, max_side: int | None, faces: int = 0,
                     crop: int = 0) -> tuple[int, int]:
  """The (height, width) of the frames of a ``frames``-frame video of a ``photo_hw`` photo at
  ``max_side``, or a one-line error (naming the photo ``name`` first) when the frames would be
  larger than ``fxs_jax.errors.MAX_VIDEO_SIDE`` or the video, with ``faces`` edited
  ``crop`` px faces, would hold more than ``fxs_jax.errors.MAX_VIDEO_MEGAPIXELS``."""
  height, width = fitted_size(photo_hw, max_side)
  if max(height, width) > errors.MAX_VIDEO_SIDE:
    raise UserError(f"{name}: {photo_hw[1]}x{photo_hw[0]} px at its own size is over the "
                    f"{errors.MAX_VIDEO_SIDE} px a video frame's longer side may have; pass a "
                    f"max_side (--max_side) from {errors.MIN_VIDEO_SIDE} to "
                    f"{errors.MAX_VIDEO_SIDE}, e.g. {PHOTO_VIDEO_SIDE}.")
  per_frame = height * width + faces * crop * crop
  if frames * per_frame > errors.MAX_VIDEO_MEGAPIXELS * 1e6:
    most = int(errors.MAX_VIDEO_MEGAPIXELS * 1e6 // per_frame)
    held = f"{width}x{height} px" + (f" and {faces} faces of {crop} px" if faces else "")
    raise UserError(f"{name}: {frames} frames of {held} are {frames * per_frame / 1e6:.0f} MP "
                    f"of video, over the {errors.MAX_VIDEO_MEGAPIXELS:g} MP that keeps memory "
                    f"near 2 GB; make at most {most} frames here"
                    + (", or use a smaller max_side or fewer faces" if faces else
                       " (a few fewer once its faces are counted), or use a smaller max_side")
                    + ".")
  return height, width


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
  accepted = set(model.declaration("edit").conditions) | {"start"}
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
  intensity = check_intensity(intensity)
  fps = check_fps(fps)
  size = model.config.model.image_size
  image = inputs.check_images(face, size, "face")
  if len(image) != 1:
    raise UserError(f"interpolate takes one face (H, W, 3); got {len(image)} images: call it "
                    "once per face.")
  face_uint8 = augment.to_uint8(image[0])
  if landmarks is None and model.declaration("edit").needs_landmarks:
    landmarks = find_landmarks(face_uint8, "landmarks")
  if landmarks is not None:
    landmarks = np.broadcast_to(np.asarray(landmarks, np.float32).reshape(1, 68, 2),
                                (frames, 68, 2))
  alphas = np.linspace(0.0, 1.0, frames, dtype=np.float32) * np.float32(intensity)
  edited = edit_frames(model, np.repeat(face_uint8[None], frames, axis=0), landmarks, alphas,
                       arguments)
  return Animation(frames=edited, landmarks=None, emotion=target_name(emotion, aus),
                   fps=fps or INTERPOLATION_FPS)
