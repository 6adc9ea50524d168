"""Small image utilities shared by the library: landmark overlays, image grids, PNG saving,
GIF and MP4 writing.

Images are uint8 HxWx3 numpy arrays; float images in [0, 1] or [-1, 1] are accepted by
:func:`to_uint8`, which :func:`make_grid` and the writers apply.
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

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


def upscale(frames, min_side: int) -> np.ndarray:
  """uint8 frames (..., H, W, 3) repeated by the smallest integer factor that makes the shorter
  side >= ``min_side`` (nearest neighbour: every generated pixel stays visible as it is)."""
  a = np.asarray(frames)
  factor = max(1, -(-int(min_side) // min(a.shape[-3:-1])))
  return a if factor == 1 else a.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _frames_uint8(frames) -> np.ndarray:
  stack = np.stack([to_uint8(f) for f in frames]) if len(frames) else np.zeros((0,))
  if stack.ndim != 4:
    raise ValueError("a video needs at least one HxWx3 frame.")
  return stack


def _replace_atomically(path, write) -> Path:
  """Calls ``write(tmp_path)`` then moves it onto ``path``: an existing file is only replaced by
  a complete new one."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def save_gif(path, frames, fps: float = 15.0) -> Path:
  """Writes ``frames`` (T x HxWx3, any :func:`to_uint8` input) as a GIF looping forever. GIF
  delays are whole 1/100 s (15 fps plays at 1 / 0.07 s = 14.3 fps); browsers slow < 0.02 s.
  Pillow stores a run of identical frames once, with their summed delay (same play time)."""
  images = [Image.fromarray(f) for f in _frames_uint8(frames)]
  duration = 10 * max(2, int(round(100.0 / fps)))  # ms, a multiple of 10
  return _replace_atomically(path, lambda tmp: images[0].save(
      tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0))


def save_mp4(path, frames, fps: float = 15.0, crf: int = 18) -> Path:
  """Writes ``frames`` as an H.264 MP4 (yuv420p, which every player reads; ``crf`` 18: visually
  lossless) in process with PyAV's FFmpeg; odd sizes gain one edge pixel (yuv420p needs even
  sides)."""
  import av  # pylint: disable=import-outside-toplevel
  stack = _frames_uint8(frames)
  h, w = stack.shape[1:3]
  stack = np.pad(stack, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")

  def write(tmp):
    with av.open(str(tmp), mode="w", format="mp4") as container:
      stream = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1001))
      stream.width, stream.height = stack.shape[2], stack.shape[1]
      stream.pix_fmt = "yuv420p"
      stream.options = {"crf": str(crf)}
      for frame in stack:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
      container.mux(stream.encode(None))  # flush

  return _replace_atomically(path, write)


def tile_grid(tiles) -> np.ndarray:
  """Tiles (rows, cols, H, W, 3) in [-1, 1] as one uint8 grid image (a row of tiles per row)."""
  tiles = np.asarray(tiles, np.float32)
  rows, cols = tiles.shape[:2]
  # From [-1, 1] exactly (to_uint8 would read a bright tile, all >= 0, as [0, 1]).
  uint8 = np.clip(np.round((tiles + 1.0) * 127.5), 0, 255).astype(np.uint8)
  return make_grid(uint8.reshape(rows * cols, *tiles.shape[2:]), cols)


# Landmark-sequence grids: tile size (px), frames shown per sequence, the first frame's colour.
SEQUENCE_TILE, SEQUENCE_FRAMES, NEUTRAL_GREY = 96, 6, (90, 90, 90)


def landmark_sequences_grid(rows) -> np.ndarray:
  """One uint8 grid: a row per entry of ``rows``, ``SEQUENCE_FRAMES`` tiles of ``SEQUENCE_TILE`` px.

  Each entry is a list of sequences ``(T, 68, 2)`` (normalised coordinates) or
  ``(sequence, colour)`` pairs drawn over each other (iBUG group colours without one), above
  the first frame in grey (so the motion shows as the offset from it). A row is scaled and
  centred on its first sequence's first frame, so the motions keep their relative size.
  """
  tiles = []
  for layers in rows:
    layers = [layer if isinstance(layer, tuple) else (layer, None) for layer in layers]
    first = np.asarray(layers[0][0])[0]
    centre = first.mean(axis=0)
    scale = 0.38 * SEQUENCE_TILE / max(float(np.abs(first - centre).max()), 1e-6)
    frames = np.linspace(0, len(layers[0][0]) - 1, SEQUENCE_FRAMES).round().astype(int)
    for t in frames:
      tile = draw_landmarks(np.zeros((SEQUENCE_TILE, SEQUENCE_TILE, 3), np.uint8),
                                (first - centre) * scale + (SEQUENCE_TILE - 1) / 2.0, radius=1,
                                color=NEUTRAL_GREY)
      for i, (sequence, colour) in enumerate(layers):
        points = (np.asarray(sequence)[t] - centre) * scale + (SEQUENCE_TILE - 1) / 2.0
        # Overlaid sequences: the first drawn larger, so it shows around the others' dots.
        radius = 1.5 if len(layers) == 1 else (2.0 if i == 0 else 1.2)
        tile = draw_landmarks(tile, points, radius=radius, color=colour)
      tiles.append(tile)
  return make_grid(tiles, SEQUENCE_FRAMES)

