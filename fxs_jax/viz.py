"""Small image utilities shared by the library: landmark overlays, image grids, PNG saving.

Images are uint8 HxWx3 numpy arrays; float images in [0, 1] or [-1, 1] are accepted by
:func:`to_uint8`, which :func:`make_grid` and :func:`save_png` apply.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

# iBUG 68-point groups and their overlay colours.
LANDMARK_GROUP_COLOURS = (
    (range(0, 17), (255, 214, 0)),     # jaw: yellow
    (range(17, 27), (255, 120, 0)),    # brows: orange
    (range(27, 36), (0, 200, 255)),    # nose: cyan
    (range(36, 48), (40, 255, 90)),    # eyes: green
    (range(48, 68), (255, 40, 160)),   # lips: magenta
)


def to_uint8(img) -> np.ndarray:
  """uint8 copy of ``img``: uint8 passes through; floats in [-1, 1] (if any value < 0) or
  [0, 1] are rescaled; greyscale (HxW or HxWx1) becomes RGB."""
  a = np.asarray(img)
  if a.dtype != np.uint8:
    a = a.astype(np.float32)
    if a.size and a.min() < 0.0:
      a = (a + 1.0) / 2.0
    a = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
  if a.ndim == 2:
    a = a[..., None]
  if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
    raise ValueError(f"expected an HxWx3 image, got shape {a.shape}.")
  if a.shape[-1] == 1:
    a = np.repeat(a, 3, axis=-1)
  return np.ascontiguousarray(a[..., :3])


def draw_landmarks(img, landmarks, radius: float = 1, color=None) -> np.ndarray:
  """Returns a copy of ``img`` with the (N, 2) (x, y) pixel ``landmarks`` drawn as dots.

  ``color=None`` colour-codes the iBUG-68 groups (jaw, brows, nose, eyes, lips); otherwise one
  RGB tuple for all points. Pixel centres are at integer coordinates.
  """
  out = Image.fromarray(to_uint8(img))
  pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
  cols = [tuple(color)] * len(pts) if color is not None else [(255, 255, 255)] * len(pts)
  if color is None and len(pts) == 68:
    for idx, c in LANDMARK_GROUP_COLOURS:
      for i in idx:
        cols[i] = c
  draw = ImageDraw.Draw(out)
  for (x, y), c in zip(pts, cols):
    if not (np.isfinite(x) and np.isfinite(y)):
      continue
    if radius <= 0.5:
      draw.point((round(x), round(y)), fill=c)
    else:
      draw.ellipse((x - radius + 0.5, y - radius + 0.5, x + radius - 0.5, y + radius - 0.5),
                   fill=c)
  return np.asarray(out).copy()


def make_grid(images, ncols: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
  """Tiles N same-sized images (NxHxWx3 array or list) row-major into a uint8 grid."""
  imgs = [to_uint8(im) for im in images]
  if not imgs:
    raise ValueError("make_grid needs at least one image.")
  h, w = imgs[0].shape[:2]
  if any(im.shape[:2] != (h, w) for im in imgs):
    raise ValueError(f"all images must share one size, got {sorted({im.shape for im in imgs})}.")
  ncols = max(1, min(int(ncols), len(imgs)))
  nrows = -(-len(imgs) // ncols)
  grid = np.full((nrows * h + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad, 3), pad_value,
                 np.uint8)
  for i, im in enumerate(imgs):
    r, c = divmod(i, ncols)
    y, x = pad + r * (h + pad), pad + c * (w + pad)
    grid[y:y + h, x:x + w] = im
  return grid


def save_png(path, img) -> None:
  """Writes ``img`` (any :func:`to_uint8` input) to ``path`` as PNG, creating parent dirs."""
  d = os.path.dirname(os.fspath(path))
  if d:
    os.makedirs(d, exist_ok=True)
  Image.fromarray(to_uint8(img)).save(path, format="PNG")
