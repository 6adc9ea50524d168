"""One photo -> one aligned face crop, or a one-line reason why not.

Real photos are messy: unreadable files, no face, several faces, faces too small to crop without
heavy upsampling. :func:`preprocess` never raises for those; it returns a :class:`Skip` whose
``reason`` says which, so a folder of photos can be processed and reported on
(:mod:`fxs_jax.faces.prepare`). Mistakes in the call itself (wrong array type, bad option) raise
:class:`fxs_jax.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import struct

import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from fxs_jax.errors import UserError
from fxs_jax.faces.alignment import NUM_LANDMARKS
from fxs_jax.faces.alignment import AlignedFace
from fxs_jax.faces.alignment import align
from fxs_jax.faces import framing as framing_lib
from fxs_jax.faces.detect import FaceDetector

MULTIPLE_CHOICES = ("skip", "largest")
# SynthFaces' face (jaw corner 0 to jaw corner 16) spans 0.54 of the crop; a photo face narrower
# than 3/8 of the crop side is upsampled more than ~1.45x into it, visibly soft.
MIN_FACE_FRACTION = 0.375
TIGHT_CROP_MARGIN = 0.25  # face_crop photos are searched again with this border when dlib
                          # finds no face in them as they are
# The same limit for every framing: a crop may enlarge its photo at most this much.
MAX_UPSAMPLING = 0.54 / MIN_FACE_FRACTION


@dataclasses.dataclass
class Skip:
  """Why an image (or a label file) gave nothing usable: one line, e.g. ``"no face found"``;
  ``line`` / ``column``: where in a text file the problem is, when it is in one place."""
  reason: str
  line: int | None = None
  column: str | None = None


def unreadable_reason(error: BaseException, path: str | os.PathLike | None = None) -> str:
  """Why an image file could not be read, as a person would say it: the cause and the fix on one
  line, without exception class names or decoder byte counts. For any reader of user photos
  (:func:`load_image`, ``fxs_jax.photos``, the editor's uploads); ``path`` tells an empty file
  apart from one in a format Pillow does not know."""
  text = " ".join(str(error).split())
  if isinstance(error, Image.DecompressionBombError):
    sizes = re.search(r"\((\d+) pixels\) exceeds limit of (\d+) pixels", text)
    pixels, limit = (int(n) / 1e6 for n in sizes.groups()) if sizes else (0.0, 0.0)
    size = f"{pixels:.3g} MP is over the {limit:.3g} MP limit" if sizes else "it is over the size"
    return f"{size} Pillow opens (a guard against decompression bombs); downscale it first"
  if isinstance(error, UnidentifiedImageError):
    if path is not None and os.path.isfile(path) and os.path.getsize(path) == 0:
      return "the file is empty; copy it again"
    return "not an image file Pillow can read (jpg, png, webp, bmp, tiff, ...); pass a photo file"
  if isinstance(error, FileNotFoundError):
    return "no such file; check the path"
  if isinstance(error, IsADirectoryError):
    return "a folder, not an image file; pass the path of a photo file"
  if isinstance(error, PermissionError):
    return "permission denied; make the file readable (chmod) or copy it somewhere you can read"
  if isinstance(error, MemoryError):
    return "not enough memory to decode it; downscale it first"
  if isinstance(error, OSError) and error.errno is not None:  # the disk, not the image
    return f"the system cannot read it ({error.strerror or text}); check the disk or copy it again"
  # Pillow's decoders say "image file is truncated (59 bytes not processed)", "broken data stream
  # when reading image file", "broken PNG file", ... (OSError, SyntaxError, ValueError, EOFError).
  damaged = ("truncated", "broken", "corrupt", "damaged", "unrecognized data stream",
             "decoder error", "decoding error")
  if (isinstance(error, (SyntaxError, ValueError, EOFError, struct.error))
      or any(word in text.lower() for word in damaged)):
    return "the file is truncated or damaged; copy it again"
  detail = re.sub(r"\s*\(\d+ bytes not processed\)", "", text)
  return f"Pillow cannot decode it{f' ({detail})' if detail else ''}; re-save it as png or jpg"


def _to_rgb(image: Image.Image) -> Image.Image:
  """RGB; transparent images are composited over white (not left black where alpha is 0)."""
  if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
  return image.convert("RGB")


def load_image(path: str | os.PathLike) -> np.ndarray | Skip:
  """An image file as (H, W, 3) uint8 RGB, or ``Skip("unreadable: <file name>: <reason>")``
  (:func:`unreadable_reason`: the cause and the fix in plain words).

  Greyscale, palette and transparent images become RGB (transparency over white); 16-bit grey is
  scaled to 8 bits (value / 257); the EXIF orientation tag is applied (phone photos are often
  stored sideways). Never raises: missing, truncated or corrupt files give a :class:`Skip`.
  """
  name = os.path.basename(os.fspath(path))
  try:
    with Image.open(path) as image:
      image.load()
      upright = ImageOps.exif_transpose(image)
      if upright.mode == "I" or upright.mode.startswith("I;16"):  # Pillow's convert clips at 255
        upright = Image.fromarray(np.clip(np.rint(np.asarray(upright, np.float64) / 257), 0,
                                          255).astype(np.uint8))
      rgb = _to_rgb(upright)
    return np.asarray(rgb, np.uint8)
  except Exception as e:  # pylint: disable=broad-except
    # PIL reports bad files with many exception types (OSError, SyntaxError, ValueError, ...).
    return Skip(f"unreadable: {name}: {unreadable_reason(e, path)}")


def as_rgb_array(image) -> np.ndarray:
  """A uint8 (H, W, 3) RGB view of a uint8 grey, RGB or RGBA array (alpha dropped)."""
  image = np.asarray(image)
  if image.dtype == np.uint8 and image.ndim == 2:
    image = image[..., None]
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise UserError(f"image must be a path or a uint8 array of shape (H, W), (H, W, 3) or "
                    f"(H, W, 4), got {image.dtype} {image.shape}; convert it to uint8 RGB")
  if image.shape[-1] == 1:
    return np.repeat(image, 3, axis=-1)
  return np.ascontiguousarray(image[..., :3])  # an RGBA array: alpha dropped


@functools.cache
def shared_detector() -> FaceDetector:
  """One :class:`FaceDetector` with the default settings, shared by every caller."""
  return FaceDetector()


def default_min_face(size: int) -> int:
  """The smallest face width (px, jaw corner to jaw corner) kept for a ``size`` crop."""
  return round(MIN_FACE_FRACTION * size)


def face_width(landmarks_68x2: np.ndarray) -> float:
  """Face width in pixels: the distance between the jaw corners (landmarks 0 and 16), which does
  not change when the face is rotated in the image plane."""
  landmarks = np.asarray(landmarks_68x2, np.float64)
  return float(np.linalg.norm(landmarks[16] - landmarks[0]))


def box_overlap(a_Nx2: np.ndarray, b_Nx2: np.ndarray) -> float:
  """Intersection over union of the bounding boxes of two point sets."""
  lo, hi = np.maximum(a_Nx2.min(0), b_Nx2.min(0)), np.minimum(a_Nx2.max(0), b_Nx2.max(0))
  inter = float(np.prod(np.clip(hi - lo, 0, None)))
  areas = [float(np.prod(p.max(0) - p.min(0))) for p in (a_Nx2, b_Nx2)]
  union = sum(areas) - inter
  return inter / union if union > 0 else 0.0


def checked_landmarks(image_HxWx3: np.ndarray, landmarks_68x2, detector: FaceDetector | None = None
                      ) -> tuple[np.ndarray | None, str]:
  """A dataset's own landmarks for a photo, checked against the photo and against dlib.

  Returns ``(landmarks, "")`` when they sit on a face dlib finds (bounding boxes overlapping by
  half or more), or inside the photo where dlib finds no face (its detector misses faces a
  dataset's tracker did not); ``(dlib's landmarks, note)`` when they lie outside the photo or off
  the one face dlib finds; ``(None, reason)`` when they are wrong and dlib finds no single face.
  """
  points = np.asarray(landmarks_68x2, np.float64)
  h, w = image_HxWx3.shape[:2]
  # Jaw corners under a pixel apart (all zeros, one point repeated) frame no face: wrong, like
  # points off the photo, and never passed on (the crop would divide by their distance).
  degenerate = not (points.shape == (NUM_LANDMARKS, 2) and np.all(np.isfinite(points))
                    and face_width(points) >= 1.0)
  margin = 0.1 * max(face_width(points), 1.0) if not degenerate else 0.0
  off_photo = degenerate or bool(np.any(points < -margin) or np.any(points[:, 0] > w - 1 + margin)
                                 or np.any(points[:, 1] > h - 1 + margin))
  found = (detector or shared_detector()).detect(image_HxWx3)
  if not degenerate and (any(box_overlap(points, face) >= 0.5 for face in found)
                         or (not off_photo and not len(found))):
    return points, ""
  where = ("on no face (not 68 finite points with the jaw corners 1 px or more apart)"
           if degenerate else "outside the photo" if off_photo else "off the face dlib finds")
  if len(found) == 1:
    return np.asarray(found[0], np.float64), f"shipped landmarks lie {where}; re-detected with dlib"
  faces_found = "no face" if not len(found) else f"{len(found)} faces"
  return None, f"shipped landmarks lie {where}, and dlib finds {faces_found} to use instead"


def _detect_in_tight_crop(image_HxWx3: np.ndarray, detector: FaceDetector) -> np.ndarray:
  """Faces of a photo that is a tight face crop, found with a border added: dlib's detector
  wants some margin around a face (a tilted face filling the frame scores ~0.1, 0.9 with a
  quarter of the side added; the border repeats the edge pixels, which draw no second face)."""
  pad = round(TIGHT_CROP_MARGIN * min(image_HxWx3.shape[:2]))
  padded = np.pad(image_HxWx3, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
  return detector.detect(padded) - np.float32(pad)


def preprocess(image, size: int = 128, landmarks=None, detector: FaceDetector | None = None,
               min_face: int | None = None, multiple: str = "skip",
               framing: str = "synthfaces") -> AlignedFace | Skip:
  """The aligned face crop of one photo (see :func:`fxs_jax.faces.align`), or why not.

  Args:
    image: a file path, or a uint8 array (H, W, 3) RGB / (H, W) grey / (H, W, 4) RGBA.
    size: side of the square crop in pixels.
    landmarks: the face's (68, 2) (x, y) landmarks in photo pixels; detected when None.
    detector: a :class:`FaceDetector` to use (default: one shared by all calls).
    min_face: smallest face width kept, in photo pixels between the jaw corners (landmarks 0
      and 16); default: what the framing would enlarge more than :data:`MAX_UPSAMPLING` times
      (``3/8 * size``, 48 px for 128, with ``synthfaces``).
    multiple: with several faces, ``"skip"`` the photo or keep the ``"largest"`` face.
    framing: a preset of :mod:`fxs_jax.faces.framing` (e.g. ``"face_crop"`` for photos that
      already are face crops).

  Returns:
    An :class:`AlignedFace`, or a :class:`Skip` with one of the reasons ``"unreadable: <file>:
    <error>"``, ``"no face found"``, ``"N faces found (expected one)"``, ``"face too small (W px <
    M px)"``.
  """
  if multiple not in MULTIPLE_CHOICES:
    raise UserError(f"multiple must be one of {MULTIPLE_CHOICES}, got {multiple!r}")
  framing = framing_lib.get(framing) if isinstance(framing, str) else framing
  if isinstance(image, (str, os.PathLike)):
    image = load_image(image)
    if isinstance(image, Skip):
      return image
  image = as_rgb_array(image)
  if landmarks is None:
    faces = (detector or shared_detector()).detect(image)
    if not len(faces) and framing.kind == "whole_photo":
      faces = _detect_in_tight_crop(image, detector or shared_detector())
    if len(faces) == 0:
      return Skip("no face found")
    if len(faces) > 1 and multiple == "skip":
      return Skip(f"{len(faces)} faces found (expected one)")
    landmarks = faces[0]
  landmarks = np.asarray(landmarks, np.float64)
  if landmarks.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(landmarks)):
    raise UserError(f"landmarks must be finite with shape ({NUM_LANDMARKS}, 2), got shape "
                    f"{landmarks.shape}; pass one face's iBUG-68 landmarks or None to detect")
  width = face_width(landmarks)
  if min_face is None and framing.kind != "eyes":
    scale = np.sqrt(abs(np.linalg.det(
        framing_lib.crop_transform(framing, landmarks, image.shape, size)[:, :2])))
    if scale > MAX_UPSAMPLING:
      if framing.kind == "whole_photo":
        return Skip(f"photo too small ({min(image.shape[:2])} px < "
                    f"{int(np.ceil(size / MAX_UPSAMPLING))} px for a {size} px crop)")
      return Skip(f"face too small ({int(width)} px < {int(np.ceil(width * scale / MAX_UPSAMPLING))}"
                  " px)")
  else:
    min_face = default_min_face(size) if min_face is None else min_face
    if width < min_face:
      return Skip(f"face too small ({int(width)} px < {min_face} px)")
  return align(image, landmarks, size, framing=framing)
