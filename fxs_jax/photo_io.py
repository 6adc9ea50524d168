"""Photos in and out of :mod:`fxs_jax.photos`, keeping what the input had.

Faces are found and edited on (H, W, 3) uint8 RGB: the photo upright (its EXIF orientation
applied), transparency composited over white, grey repeated in R, G and B. :func:`read` returns
that RGB and a :class:`Kept` record of the rest; :func:`restore` puts an edited RGB back into the
input's layout, and :func:`save_photo` writes it with the input's ICC profile and EXIF data.

* **Transparency**: an RGBA (or grey + alpha) input comes back with its alpha channel bit for
  bit. Only the edit's change (edited RGB - composited RGB) is added to the input's own colour
  channels, so every pixel the edit left alone keeps its input value, the colour hidden under
  alpha 0 included.
* **Grey**: a grey input comes back grey: the edit as Pillow's "L" luminance (ITU-R 601-2,
  rounded to uint8), never coloured patches on a grey face. 16-bit grey (Pillow's "I;16" and
  "I") is scaled to 8 bits (value / 257) and comes back 8-bit.
* **ICC profile and EXIF** (files only): the profile is written back to PNG, JPEG, WebP and TIFF
  when its colour space fits the output (a CMYK profile is dropped: the photo was converted to
  RGB). EXIF from a JPEG, PNG or WebP file is written back with orientation 1, since the photo
  was edited upright, and without its thumbnail (that would show the unedited face).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from PIL import ImageOps

from fxs_jax.errors import UserError
from fxs_jax.errors import replace_atomically
from fxs_jax.faces import preprocessing

ORIENTATION = 0x0112  # the EXIF orientation tag; 1: stored upright
METADATA_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")  # formats Pillow writes ICC and EXIF into
# Formats whose EXIF block is photo metadata (a TIFF's "EXIF" is its own image structure tags).
EXIF_SOURCES = ("JPEG", "MPO", "PNG", "WEBP")
ICC_SPACES = {"L": b"GRAY", "RGB": b"RGB "}  # the ICC header's colour space (bytes 16-20)
LAYOUTS = "(H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB, (H, W, 4) RGBA"


@dataclasses.dataclass(frozen=True)
class Kept:
  """What of an input photo an edit keeps beyond the RGB it works on.

  Attributes:
    shape: the layout the result takes: an array's own shape, a file's (H, W) grey, (H, W, 2)
      grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA (upright).
    colour: with alpha, the input's own colour ((H, W) grey or (H, W, 3)), else None.
    alpha: (H, W) uint8, or None.
    icc_profile: the file's ICC profile when its colour space fits the result, else None.
    exif: the file's EXIF block with orientation 1, else None.
  """

  shape: tuple[int, ...]
  colour: np.ndarray | None = None
  alpha: np.ndarray | None = None
  icc_profile: bytes | None = None
  exif: bytes | None = None

  @property
  def grey(self) -> bool:
    """Whether the result is grey (with or without alpha)."""
    return len(self.shape) == 2 or self.shape[2] in (1, 2)


def _over_white(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
  """(H, W, 3) uint8 RGB of grey or RGB ``colour`` with ``alpha`` composited over white (as
  ``preprocessing.load_image`` does for files)."""
  rgb = np.repeat(colour[..., None], 3, -1) if colour.ndim == 2 else colour
  if alpha is None:
    return np.ascontiguousarray(rgb)
  rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
  white = Image.new("RGBA", rgba.size, "white")
  return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def _split(pixels: np.ndarray, icc_profile=None, exif=None) -> tuple[np.ndarray, Kept]:
  """The RGB to edit and the :class:`Kept` of uint8 ``pixels`` in one of :data:`LAYOUTS`."""
  channels = pixels.reshape(*pixels.shape[:2], -1)
  has_alpha = channels.shape[2] in (2, 4)
  colour = channels[..., 0] if channels.shape[2] <= 2 else channels[..., :3]
  alpha = channels[..., -1] if has_alpha else None
  kept = Kept(pixels.shape, colour if has_alpha else None, alpha,
              _icc_for(icc_profile, channels.shape[2] <= 2), exif)
  return _over_white(colour, alpha), kept


def _icc_for(profile: bytes | None, grey: bool) -> bytes | None:
  """``profile`` if it describes grey (``grey``) or RGB pixels, else None (a CMYK or Lab
  profile on converted pixels would misdraw every colour)."""
  space = ICC_SPACES["L" if grey else "RGB"]
  return profile if profile and profile[16:20] == space else None


def _from_file(name: str, check_size: Callable) -> tuple[np.ndarray, Kept]:
  """The RGB to edit and the :class:`Kept` of an image file, upright and 8-bit."""
  if os.path.isdir(name):
    raise UserError(f"{name}: a folder, not a photo; pass the path of a photo file (jpg, png, "
                    "...).")
  if not os.path.exists(name):
    raise UserError(f"{name}: no such file; pass the path of a photo (jpg, png, ...).")
  try:
    with warnings.catch_warnings():  # Pillow warns from 89 MP on; check_size's limit is lower
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      with Image.open(name) as opened:
        check_size(*opened.size, name)  # the header only: the size before decoding
        opened.load()
        upright = ImageOps.exif_transpose(opened)  # its EXIF has no orientation tag left
        exif = upright.getexif() if opened.format in EXIF_SOURCES else Image.Exif()
        if len(exif) and ORIENTATION in opened.getexif():
          exif[ORIENTATION] = 1
        icc_profile = opened.info.get("icc_profile")
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # Pillow reports bad files with many exception types (OSError, SyntaxError, ValueError, ...).
    what = "" if isinstance(e, Image.DecompressionBombError) else "unreadable: "  # too large
    raise UserError(f"{name}: {what}{preprocessing.unreadable_reason(e, name)}.") from e
  mode = upright.mode
  grey = mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16")
  has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
      mode == "P" and "transparency" in upright.info)
  if mode == "I" or mode.startswith("I;16"):  # 16-bit grey: Pillow's convert clips it at 255
    upright = Image.fromarray(np.clip(np.rint(np.asarray(upright, np.float64) / 257), 0,
                                      255).astype(np.uint8))
  pixels = np.asarray(upright.convert(("L" if grey else "RGB") + "A" * has_alpha), np.uint8)
  return _split(pixels, icc_profile, exif.tobytes() if len(exif) else None)


def read(photo, what: str, check_size: Callable) -> tuple[np.ndarray, str, Kept]:
  """``photo`` (a file path or a uint8 array: :data:`LAYOUTS`) as (H, W, 3) uint8 RGB, upright,
  transparency over white; the name errors use (the path, or ``what`` for an array); and what
  :func:`restore` and :func:`save_photo` put back. ``check_size(width, height, name)`` refuses
  a photo too large to edit (a file's from its header, before decoding). One-line errors."""
  if isinstance(photo, (str, os.PathLike)):
    name = os.fspath(photo)
    rgb, kept = _from_file(name, check_size)
    return rgb, name, kept
  array = np.asarray(photo)
  if array.dtype != np.uint8 or not (array.ndim == 2
                                     or (array.ndim == 3 and 1 <= array.shape[2] <= 4)):
    raise UserError(f"{what} must be a path or a uint8 array, {LAYOUTS}; got {array.dtype} "
                    f"{array.shape}; convert it to uint8 first.")
  check_size(array.shape[1], array.shape[0], what)
  rgb, kept = _split(array)
  return rgb, what, kept


def luminance(rgb: np.ndarray) -> np.ndarray:
  """(H, W) uint8 grey of (H, W, 3) uint8 RGB as Pillow's "L" (ITU-R 601-2: 0.299 R + 0.587 G +
  0.114 B, rounded); exact for grey pixels (R = G = B)."""
  return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))


def _grey_pixels(rgb: np.ndarray) -> bool:
  """Whether every pixel of (H, W, 3) ``rgb`` has R = G = B."""
  return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))


def restore(edited_rgb: np.ndarray, rgb: np.ndarray, kept: Kept) -> np.ndarray:
  """``edited_rgb`` (the edit of ``rgb``, the RGB :func:`read` gave) in the input's layout: grey
  as luminance; with alpha, the edit's change added to the input's own colour and its alpha put
  back. Pixels where the edit equals ``rgb`` keep the input's values exactly. A grey picture
  stored as colour (R = G = B everywhere) stays grey: the edit as luminance in all three."""
  if not kept.grey and _grey_pixels(rgb):
    edited_rgb = np.repeat(luminance(edited_rgb)[..., None], 3, axis=-1)
  if not kept.grey and kept.alpha is None:
    return edited_rgb
  edited, base = (luminance(edited_rgb), rgb[..., 0]) if kept.grey else (edited_rgb, rgb)
  if kept.alpha is not None:  # the change alone: the colour under partial alpha is its own
    change = edited.astype(np.int16) - base
    edited = np.clip(kept.colour + change, 0, 255).astype(np.uint8)
    edited = np.dstack([edited, kept.alpha])
  return edited.reshape(kept.shape)


@functools.cache
def _writes(image_format: str, mode: str) -> bool:
  """Whether Pillow writes ``mode`` images as ``image_format`` (tried on one pixel)."""
  try:
    Image.new(mode, (1, 1)).save(io.BytesIO(), format=image_format)
  except Exception:  # pylint: disable=broad-except
    return False  # "cannot write mode RGBA as JPEG" (OSError), or a plugin's own error
  return True


def check_suffix(path: str | os.PathLike) -> str:
  """The Pillow format ``path``'s suffix writes, else a one-line error."""
  path = Path(path)
  image_format = Image.registered_extensions().get(path.suffix.lower())
  if image_format is None or image_format not in Image.SAVE:
    raise UserError(f"{path}: cannot write {path.suffix or 'files without a suffix'!r}; use "
                    ".jpg, .png, .webp or .bmp.")
  return image_format


def save_photo(path: str | os.PathLike, image: np.ndarray, quality: int = 95,
               icc_profile: bytes | None = None, exif: bytes | None = None) -> Path:
  """Writes a uint8 photo (:data:`LAYOUTS`) in the format of ``path``'s suffix (JPEG and WebP at
  ``quality``), creating parent folders. A format that cannot hold the alpha channel (JPEG,
  PPM, ...) gets the photo composited over white, as the faces were edited and as a viewer
  shows it. ``icc_profile`` and ``exif`` are written to PNG, JPEG, WebP and TIFF (a profile
  only when its colour space fits the photo). The file is written under a temporary name in its
  folder, then renamed: never half-written, and an earlier file stays whole when writing fails.
  One-line errors for a suffix Pillow cannot write, a bad array and a file that cannot be
  written."""
  path = Path(path)
  image_format = check_suffix(path)
  pixels = np.asarray(image)
  if pixels.dtype != np.uint8 or not (pixels.ndim == 2
                                      or (pixels.ndim == 3 and 1 <= pixels.shape[2] <= 4)):
    raise UserError(f"{path}: a photo to save is a uint8 array, {LAYOUTS}; got {pixels.dtype} "
                    f"{pixels.shape}.")
  picture = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1
                            else pixels)
  if picture.mode in ("LA", "RGBA") and not _writes(image_format, picture.mode):
    grey = picture.mode == "LA"
    flat = _over_white(pixels[..., 0] if grey else pixels[..., :3], pixels[..., -1])
    picture = Image.fromarray(flat[..., 0] if grey else flat)
  options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {}
  if image_format in METADATA_FORMATS:
    profile = _icc_for(icc_profile, picture.mode in ("L", "LA"))
    if profile:
      options["icc_profile"] = profile
    if exif:
      options["exif"] = exif
  replace_atomically(path, lambda tmp: picture.save(tmp, format=image_format, **options))
  return path
