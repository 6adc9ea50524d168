"""A user's face image file (and its 68 landmarks) as the model's input, with one-line errors.

Images: any format PIL reads, square (an aligned face crop), resized (bicubic) to the model's
``size``. Landmarks: a ``.npy`` file of shape (68, 2), or a text file of 68 lines ``x y`` (commas
or spaces, ``#`` comments; UTF-8 with or without a byte-order mark, any line endings), in the
pixels of the image FILE ((x, y), x right, y down, pixel centres at integers: dlib's convention);
they are scaled with the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fxs_jax.data import label_files
from fxs_jax.errors import UserError
from fxs_jax.faces.preprocessing import unreadable_reason

NUM_LANDMARKS = 68


def load_face_image(path: str | Path, size: int) -> tuple[np.ndarray, float]:
  """(uint8 (size, size, 3) RGB, scale from file pixels to ``size`` pixels)."""
  path = Path(path)
  if not path.is_file():
    raise UserError(f"Image file {str(path)!r} does not exist: pass the path of a face image.")
  try:
    with Image.open(path) as img:
      img.load()
      rgb = img.convert("RGB")
  except Exception as e:  # pylint: disable=broad-except
    # Pillow reports bad files with many types (OSError, SyntaxError, ValueError, EOFError,
    # DecompressionBombError, ...); unreadable_reason says each in plain words.
    raise UserError(f"Cannot read image {str(path)!r}: {unreadable_reason(e, path)}") from e
  w, h = rgb.size
  if w != h:
    raise UserError(f"Image {str(path)!r} is {w}x{h} px: crop it to a square, aligned face "
                    "first (the models see square face crops).")
  if w != size:
    rgb = rgb.resize((size, size), Image.BICUBIC)
  return np.asarray(rgb, np.uint8), size / w


def load_landmarks(path: str | Path, scale: float = 1.0) -> np.ndarray:
  """(68, 2) float32 (x, y) landmarks from ``path`` (``.npy`` or text), mapped from the file's
  image pixels to an image ``scale`` times its size (pixel centres stay at integers)."""
  path = Path(path)
  if not path.is_file():
    raise UserError(f"Landmark file {str(path)!r} does not exist: pass a .npy or text file of "
                    "68 (x, y) points.")
  try:
    if path.suffix == ".npy":
      points = _load_npy_points(path)
    else:
      text = label_files.read_text(path).replace(",", " ")
      points = np.loadtxt(text.splitlines(), dtype=np.float64, comments="#", ndmin=2)
  except (ValueError, OSError, EOFError) as e:
    raise UserError(f"Cannot read landmarks from {str(path)!r} ({e}): write 68 lines 'x y' or "
                    "save a (68, 2) array with numpy.save.") from e
  points = np.asarray(points, np.float64)
  if points.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(points)):
    raise UserError(f"{str(path)!r} must hold 68 finite (x, y) points, got an array of shape "
                    f"{points.shape}.")
  return ((points + 0.5) * scale - 0.5).astype(np.float32)


def _load_npy_points(path: Path) -> np.ndarray:
  """A ``.npy`` array, its header checked first: only a (68, 2) array is read (a header declaring
  a huge shape would otherwise be allocated before its shape is seen)."""
  with open(path, "rb") as f:
    major, _ = np.lib.format.read_magic(f)
    if major not in (1, 2):
      raise ValueError(f".npy format version {major} (numpy.save writes 1 or 2)")
    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(f)
  if shape != (NUM_LANDMARKS, 2) or dtype.hasobject:
    raise UserError(f"{str(path)!r} must hold 68 finite (x, y) points, got an array of shape "
                    f"{shape}.")
  return np.load(path, allow_pickle=False)


def load_face(image_path: str | Path, landmarks_path: str | Path | None, size: int
              ) -> tuple[np.ndarray, np.ndarray | None]:
  """(image uint8 (size, size, 3), landmarks (68, 2) in its pixels, or None without a file)."""
  image, scale = load_face_image(image_path, size)
  return image, None if not landmarks_path else load_landmarks(landmarks_path, scale)
