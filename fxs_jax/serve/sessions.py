"""The editor's photos (``store.KeptStore`` keeps them by id, in its memory budget).

A photo's faces are found once, when it is uploaded (dlib, ``fxs_jax.faces.search``, ``thorough``
on request); the editor keeps the photo, its faces' landmarks and the faces it skipped (with why)
under an id, so that a slider move only runs the jitted edit and the paste-back. Crops are
aligned once per model size (``faces(size)``). A request edits every face or the ones it picks
(:func:`pick_faces`).

Sample faces are SynthFaces' held-out identities (``SAMPLE_IDENTITIES``), rendered neutral at
``SAMPLE_SIDE`` px. They skip detection: the renderer draws the same face at any size, so a
sample's crop is its render at the model's size with its exact landmarks, and the crop -> photo
map is the exact scaling between the two renders. The model sees a sample exactly as it saw its
test faces.

Uploads are checked before decoding (size in bytes, image type, megapixels) and each problem is
one line for the page in plain words, the cause and the fix (:class:`ServeError`, with its HTTP
status): never Pillow's exception names or byte counts.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import threading
import warnings

import numpy as np
from PIL import Image
from PIL import ImageOps

from fxs_jax import facs
from fxs_jax import photos
from fxs_jax.data import synth_faces
from fxs_jax.data import synth_faces_examples
from fxs_jax.errors import UserError
from fxs_jax.faces import alignment
from fxs_jax.faces import search as face_search
from fxs_jax.serve import limits
from fxs_jax.serve import media

SAMPLE_IDENTITIES = tuple(range(300, 308))  # stills_64's test split starts at identity 300
SAMPLE_SIDE = 256
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO")
PREVIEW_SIDE = 1024  # the page shows photos at most this large; downloads are full size
# Each format's first bytes: a file that starts like an image but does not open is damaged, not
# "not an image" (RIFF is WebP's container; its bytes 8-12 say WEBP).
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF",
              b"BM": "BMP", b"RIFF": "WebP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
ACCEPTED = "JPEG, PNG, WebP or BMP"  # what the messages suggest (GIF and TIFF are read too)
_detect_lock = threading.Lock()  # one dlib detector, shared: one photo at a time


class ServeError(Exception):
  """A request the editor refuses: ``status`` (HTTP) and a one-line message for the page."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass
class Photo:
  """A photo being edited: the image, its faces' landmarks (photo pixels, the largest face
  first), for a sample its SynthFaces identity, and the faces the search skipped (each with its
  box and reason; ``thorough``: whether the search looked at twice the scale)."""

  name: str
  image: np.ndarray
  landmarks: list[np.ndarray]
  identity: int | None = None
  skipped: list[face_search.SkippedFace] = dataclasses.field(default_factory=list)
  thorough: bool = False
  _crops: dict = dataclasses.field(default_factory=dict)

  def faces(self, size: int) -> list[alignment.AlignedFace]:
    """Every face aligned at ``size`` px (computed once per size)."""
    if size not in self._crops:
      if self.identity is not None:
        self._crops[size] = [sample_face(self.identity, size)]
      else:
        self._crops[size] = [alignment.align(self.image, points, size)
                             for points in self.landmarks]
    return self._crops[size]

  @functools.cached_property
  def preview(self) -> np.ndarray:
    """The photo as the page shows it: at most ``PREVIEW_SIDE`` px."""
    return photos.fit_within(self.image, PREVIEW_SIDE)

  def preview_faces(self, size: int) -> list[alignment.AlignedFace]:
    """:meth:`faces` as faces of :attr:`preview`, to paste a slider's edit into the preview
    (time independent of the photo's size; downloads paste into the photo itself)."""
    height, width = self.preview.shape[:2]
    if (height, width) == self.image.shape[:2]:
      return self.faces(size)
    scale = np.array([width / self.image.shape[1], height / self.image.shape[0]])
    # photo p = (preview p' + 0.5) / scale - 0.5, then the photo -> crop map.
    to_photo = np.array([[1 / scale[0], 0.0, 0.5 / scale[0] - 0.5],
                         [0.0, 1 / scale[1], 0.5 / scale[1] - 0.5], [0.0, 0.0, 1.0]])
    return [dataclasses.replace(face, transform=face.transform @ to_photo,
                                photo_shape=(height, width)) for face in self.faces(size)]

  def as_json(self, photo_id: str, size: int) -> dict:
    """What the page draws: the preview, each face's box (photo pixels), crop at ``size`` px and
    landmarks, the largest first, and each skipped face's box and reason."""
    boxes = [np.concatenate([p.min(0), p.max(0)]).round(1).tolist() for p in self.landmarks]
    return {"id": photo_id, "name": self.name, "width": int(self.image.shape[1]),
            "height": int(self.image.shape[0]), "image": media.data_url(self.preview, "jpg"),
            "faces": [{"box": box, "crop": media.data_url(face.image), "size": size,
                       "landmarks": np.round(face.landmarks, 2).tolist()}
                      for box, face in zip(boxes, self.faces(size))],
            "skipped": [{"box": list(face.box), "reason": face.reason} for face in self.skipped],
            "thorough": self.thorough}

  def buffers(self) -> list:
    """The arrays the photo keeps (``store.KeptStore`` counts them): the image, the preview
    once made, the landmarks and each size's aligned faces."""
    kept = [self.image, self.__dict__.get("preview"), *self.landmarks]
    for faces in list(self._crops.values()):  # a snapshot: faces() may add a size
      kept += [array for face in faces for array in (face.image, face.landmarks, face.transform)]
    return kept


def _render(identity: int, size: int):
  return synth_faces.render(synth_faces_examples.identity_face(identity),
                            np.zeros(facs.NUM_AUS, np.float32), size)


def sample_face(identity: int, size: int) -> alignment.AlignedFace:
  """The neutral render of ``identity`` at ``size`` px as an aligned face of its
  ``SAMPLE_SIDE`` px render (renders scale exactly: pixel centres at integers)."""
  image, landmarks = _render(identity, size)
  scale = size / SAMPLE_SIDE  # x_crop = (x_photo + 0.5) * scale - 0.5
  transform = np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5]])
  return alignment.AlignedFace(image, landmarks.astype(np.float32), transform,
                               (SAMPLE_SIDE, SAMPLE_SIDE))


def sample_photo(index: int) -> Photo:
  """Sample ``index`` (0-based into ``SAMPLE_IDENTITIES``) as a photo."""
  if not 0 <= index < len(SAMPLE_IDENTITIES):
    raise ServeError(404, f"No sample face {index}: there are {len(SAMPLE_IDENTITIES)}.")
  identity = SAMPLE_IDENTITIES[index]
  image, landmarks = _render(identity, SAMPLE_SIDE)
  return Photo(f"synthfaces_{identity}", image, [landmarks.astype(np.float64)], identity)


def _image_kind(data: bytes) -> str | None:
  """The image format ``data`` starts like (a few bytes suffice), or None."""
  for signature, kind in SIGNATURES.items():
    if len(data) >= 2 and data[:len(signature)] == signature[:len(data)]:
      return kind if kind != "WebP" or len(data) < 12 or data[8:12] == b"WEBP" else None
  return None


def _unreadable(name: str, kind: str | None) -> ServeError:
  """Why Pillow could not read a file of format ``kind`` (None: not an image), in plain words."""
  if kind is None:
    return ServeError(415, f"{name}: not an image (its contents are not a JPEG, PNG, WebP, BMP, "
                      f"GIF or TIFF picture); upload a photo ({ACCEPTED}).")
  return ServeError(415, f"{name}: this {kind} file is truncated or damaged (cut short while "
                    "copying or downloading, perhaps); open it in an image viewer, save it again "
                    "and upload that copy.")


def decode_upload(data: bytes, name: str,
                  max_megapixels: float = limits.Limits.max_megapixels) -> np.ndarray:
  """An uploaded file as (H, W, 3) uint8 RGB (EXIF orientation applied, transparency over
  white); :class:`ServeError` for an empty file, a non-image, a truncated or damaged image and an
  image over ``max_megapixels`` (checked from the header, before decoding)."""
  if not data:
    raise ServeError(400, f"{name}: the file is empty; upload a photo ({ACCEPTED}).")
  too_large = (f"{name}: the image is over this editor's {max_megapixels:g} MP limit; "
               "downscale it first (faces are edited at the model's crop size anyway).")
  try:
    with warnings.catch_warnings():  # Pillow's own limit is far higher: ours is checked below
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      image = Image.open(io.BytesIO(data))
  except Image.DecompressionBombError as e:  # over ~180 MP: Pillow refuses to open it at all
    raise ServeError(413, too_large) from e
  except (OSError, SyntaxError, ValueError) as e:
    raise _unreadable(name, _image_kind(data)) from e
  if image.format not in UPLOAD_FORMATS:
    raise ServeError(415, f"{name}: {image.format} images are not accepted; upload a photo "
                     f"({ACCEPTED}).")
  width, height = image.size
  if width * height > max_megapixels * 1e6:
    raise ServeError(413, too_large.replace("the image is", f"{width}x{height} px "
                                            f"({width * height / 1e6:.1f} MP) is"))
  kind = _image_kind(data) or image.format
  try:
    with warnings.catch_warnings():  # a damaged TIFF's warnings: the error below says it
      warnings.simplefilter("ignore", UserWarning)
      image.load()
      ImageOps.exif_transpose(image, in_place=True)  # no copy of a large photo
      if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
      rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), np.uint8)
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise _unreadable(name, kind) from e
  return rgb


def detect(image: np.ndarray, name: str, size: int, thorough: bool = False) -> Photo:
  """A :class:`Photo` of ``image`` with every face dlib finds (aligned at ``size`` already) and
  the ones it skipped, with why (``thorough``: looks again at twice the scale, about 4x the
  time); ServeError 422 when there is none."""
  try:
    with _detect_lock:
      search = face_search.search_faces(image, size, "all", name, thorough)
  except UserError as e:
    raise ServeError(422, str(e)) from e
  landmarks = [alignment.apply_affine(alignment.invert_affine(f.transform), f.landmarks)
               for f in search.faces]
  for face in search.skipped:  # the page's button is how the editor looks again
    face.reason = face.reason.replace("thorough=True looks again",
                                      '"Look harder for faces" looks again')
  photo = Photo(name, image, landmarks, skipped=search.skipped, thorough=thorough)
  photo._crops[size] = search.faces  # pylint: disable=protected-access
  return photo


def pick_faces(value, count: int) -> list[int]:
  """The indices of the faces a request edits: its ``faces`` (a list of indices into the
  photo's faces, the largest first; left out, None or "all": every face), sorted, each once."""
  if value is None or value == "all":
    return list(range(count))
  every = f"0-{count - 1}" if count > 1 else "0"
  if not isinstance(value, list) or not all(
      isinstance(i, int) and not isinstance(i, bool) for i in value):
    raise ServeError(400, f"faces must be a list of face indices (this photo has faces "
                     f"{every}), got {short_json(value)}; send e.g. [0], or leave it out to edit "
                     "every face.")
  if not value:
    raise ServeError(400, "faces is empty: no face would be edited; pick at least one face "
                     "(click its box), or leave faces out to edit every face.")
  bad = [i for i in value if not 0 <= i < count]
  if bad:
    raise ServeError(400, f"faces has {bad[0]}, but this photo has faces {every} (the largest "
                     "first); send indices in that range.")
  return sorted(set(value))


def query_flag(query, key: str) -> bool:
  """A yes/no query parameter (``1``/``true``/``yes`` or ``0``/``false``/``no``; absent: no)."""
  value = query.get(key, "0").strip().lower()
  if value not in ("1", "true", "yes", "0", "false", "no", ""):
    raise ServeError(400, f"{key} must be 1 or 0, got {short_json(value)}; send {key}=1 or "
                     "leave it out.")
  return value in ("1", "true", "yes")


def short_json(value, limit: int = 40) -> str:
  """``value`` as a short one-line text for an error message."""
  text = json.dumps(value, ensure_ascii=False)
  return text if len(text) <= limit else text[:limit - 3] + "..."
