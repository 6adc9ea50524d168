"""dlib face detection: the HOG frontal detector + the 68-point iBUG landmark predictor.

The models ship with ``face-recognition-models`` and dlib with ``dlib-bin`` (the ``faces`` extra).
The loading helpers here are shared with :mod:`fxs_jax.eval.identity`.

Landmarks are (x, y) pixel coordinates with pixel centres at integers (dlib / iBUG convention,
the one :mod:`fxs_jax.data.synth_faces` uses): the image spans ``[-0.5, W - 0.5]``.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib

import numpy as np
from PIL import Image

from fxs_jax.errors import UserError

NUM_LANDMARKS = 68
DEFAULT_THRESHOLD = 0.3  # dlib detection score; see FaceDetector
INSTALL_HINT = "install the faces extra: pip install -e '.[faces]'"
MODEL_FILES = {
    "predictor": "shape_predictor_68_face_landmarks.dat",
    "recognizer": "dlib_face_recognition_resnet_model_v1.dat",
}


def models_dir(needed_by: str = "face detection") -> pathlib.Path:
  """The ``models`` folder of the installed ``face-recognition-models`` package."""
  # Located without importing face_recognition_models: its __init__ imports pkg_resources, which
  # recent setuptools (and venvs without setuptools) no longer provide.
  spec = importlib.util.find_spec("face_recognition_models")
  if spec is None or spec.origin is None:
    raise UserError(f"{needed_by} needs the package face-recognition-models; {INSTALL_HINT}")
  return pathlib.Path(spec.origin).parent / "models"


def model_path(model: str, needed_by: str = "face detection") -> pathlib.Path:
  """Path of one of :data:`MODEL_FILES` (``"predictor"`` / ``"recognizer"``), checked to exist."""
  path = models_dir(needed_by) / MODEL_FILES[model]
  if not path.is_file():
    raise UserError(f"dlib model file {path} is missing; reinstall face-recognition-models "
                    f"({INSTALL_HINT})")
  return path


def import_dlib(needed_by: str = "face detection"):
  """The ``dlib`` module, or a one-line :class:`UserError` naming the extra to install."""
  try:
    import dlib  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise UserError(f"{needed_by} needs dlib (package dlib-bin); {INSTALL_HINT}") from e
  return dlib


def upscale(image_HxWx3: np.ndarray, min_side: int) -> tuple[np.ndarray, int]:
  """(image upscaled by the smallest integer factor k that makes its shorter side >= min_side, k).

  Bilinear (PIL). With pixel centres at integers, a point x of the input lies at
  ``(x + 0.5) * k - 0.5`` in the output, so output points map back by ``(x + 0.5) / k - 0.5``.
  """
  factor = max(1, math.ceil(min_side / min(image_HxWx3.shape[:2])))
  if factor == 1:
    return np.ascontiguousarray(image_HxWx3), 1
  h, w = image_HxWx3.shape[:2]
  big = Image.fromarray(image_HxWx3).resize((w * factor, h * factor), Image.BILINEAR)
  return np.asarray(big), factor


class FaceDetector:
  """dlib's HOG frontal face detector + 68-point landmarks; the models load on first use.

  Images whose shorter side is under ``min_side`` px are upscaled by an integer factor first,
  and the points are mapped back exactly: the HOG detector scans an 80 px window and dlib rounds
  landmarks to whole pixels of the image it sees. Measured on the astronaut photo shrunk to
  128-256 px: with the face upscaled to ~90-120 px (min_side 512) it scores 0.8-1.4; at ~60-70 px
  (min_side 256) 0.0 or nothing. Faces under ~80 px in a photo larger than ``min_side`` may be
  missed; raise ``min_side`` to look for them (detection time grows with its square).

  ``threshold`` is the detection score a face needs. dlib's own default, 0, lets weak false
  detections through, which then skip the photo as "2 faces found": the mission patch on the suit
  in that photo scores -0.2 to +0.15 (JPEG copies, rescaled copies), the face 1.1 to 1.6 at
  350-512 px. Hence 0.3; lower it to find faint faces.
  """

  def __init__(self, min_side: int = 512, threshold: float = DEFAULT_THRESHOLD):
    self.min_side, self.threshold = min_side, threshold
    self._detector = self._predictor = None

  def _load(self) -> None:
    if self._predictor is not None:
      return
    dlib = import_dlib()
    predictor_path = model_path("predictor")
    self._detector = dlib.get_frontal_face_detector()
    self._predictor = dlib.shape_predictor(str(predictor_path))

  def detect(self, image_HxWx3: np.ndarray) -> np.ndarray:
    """Landmarks of every face in one image.

    Args:
      image_HxWx3: uint8 RGB image.

    Returns:
      (F, 68, 2) float32 (x, y) pixel landmarks, the largest face (by detector box area) first;
      F = 0 when no face is found.
    """
    return self.detect_scored(image_HxWx3)[0]

  def detect_scored(self, image_HxWx3: np.ndarray, threshold: float | None = None,
                    upsample: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks (F, 68, 2), detection scores (F,)) of every face scoring at least
    ``threshold`` (default the detector's), the largest first; ``upsample`` more dlib pyramid
    levels (each doubles the image: faces half as large are found, at about 4x the time)."""
    image = np.asarray(image_HxWx3)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
      raise UserError(f"detect needs a uint8 RGB image of shape (H, W, 3), got {image.dtype} "
                      f"{image.shape}; convert it first (e.g. fxs_jax.faces.load_image)")
    self._load()
    big, factor = upscale(image, self.min_side)
    threshold = self.threshold if threshold is None else threshold
    rects, scores, _ = self._detector.run(big, upsample, threshold)
    order = sorted(range(len(rects)), key=lambda i: rects[i].area(), reverse=True)
    points = [[(p.x, p.y) for p in self._predictor(big, rects[i]).parts()] for i in order]
    points_Fx68x2 = np.asarray(points, np.float32).reshape(-1, NUM_LANDMARKS, 2)
    return (points_Fx68x2 + 0.5) / factor - 0.5, np.asarray([scores[i] for i in order],
                                                            np.float32)
