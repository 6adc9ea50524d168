"""Images and videos for the page: previews as data URLs, downloads as PNG / GIF / MP4."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from fxs_jax import photos
from fxs_jax import viz

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "mp4": "video/mp4"}


def encode(image: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
  """A uint8 image as PNG (fast, lossless) or JPEG bytes."""
  buffer = io.BytesIO()
  if fmt == "png":
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
  else:
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
  return buffer.getvalue()


def data_url(image: np.ndarray, fmt: str = "png") -> str:
  """``data:image/...;base64,...`` of a uint8 image."""
  return f"data:{MEDIA_TYPES[fmt]};base64,{base64.b64encode(encode(image, fmt)).decode()}"


def grey(mask_HxWx1: np.ndarray) -> np.ndarray:
  """A [0, 1] mask as a uint8 RGB image (1 = white)."""
  values = np.clip(np.round(np.asarray(mask_HxWx1, np.float32)[..., 0] * 255), 0, 255)
  return np.repeat(values.astype(np.uint8)[..., None], 3, axis=-1)


def safe_stem(name: str) -> str:
  """A download file name's stem from a photo's name (letters, digits, ``._-`` only)."""
  stem = Path(name).stem if name else "photo"
  return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "photo"


@dataclasses.dataclass
class Result:
  """What a download needs, encoded on demand: an edit (the photo, its faces and their edited
  crops: pasted at full resolution when downloaded) or an animation (``frames``)."""

  stem: str
  photo: np.ndarray | None = None  # the photo's own array, shared with its session
  faces: list | None = None
  crops: np.ndarray | None = None
  references: np.ndarray | None = None  # the crops' start (photos.paste_faces); None: the faces
  frames: np.ndarray | None = None
  fps: float = 12.0
  _encoded: dict = dataclasses.field(default_factory=dict)
  _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

  def buffers(self) -> list:
    """The arrays and bytes the result keeps (``store.KeptStore`` counts them): the photo (its
    session's own array while that is kept), the faces, crops and frames, and every encoding
    made so far."""
    kept = [self.photo, self.crops, self.references, self.frames]
    for face in self.faces or ():
      kept += [face.image, face.landmarks, face.transform]
    return kept + list(self._encoded.values())  # replaced, never changed in place: no lock

  @property
  def formats(self) -> tuple[str, ...]:
    return ("png",) if self.frames is None else ("gif", "mp4", "png")

  def encoded(self, fmt: str) -> bytes:
    """The result as ``fmt`` (png: the edited photo, or an animation's last frame; gif, mp4)."""
    with self._lock:
      if fmt not in self._encoded:
        if fmt != "png":
          data = video_bytes(self.frames, self.fps, fmt)
        elif self.frames is not None:
          data = encode(self.frames[-1])
        else:
          data = encode(photos.paste_faces(self.photo, self.faces, self.crops,
                                           references=self.references))
        self._encoded = {**self._encoded, fmt: data}
      return self._encoded[fmt]


def video_bytes(frames: np.ndarray, fps: float, fmt: str) -> bytes:
  """Frames as a GIF or an H.264 MP4 (``fxs_jax.viz``'s writers, through a temporary file)."""
  with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / f"video.{fmt}"
    (viz.save_gif if fmt == "gif" else viz.save_mp4)(path, frames, fps)
    return path.read_bytes()
