"""Identity metrics of the video papers (MoCoGAN-style): ACD and ACD-I on dlib face embeddings.

* **ACD** (average content distance): per generated video, the mean pairwise L2 distance between
  the 128-d face embeddings of its frames (is it the same person throughout?); averaged over
  videos.
* **ACD-I**: the mean L2 distance between each generated frame's embedding and the embedding of
  the input (conditioning) face; for still-image editors, edited face vs its input face.

Embeddings come from dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``,
same-person threshold 0.6 on real photos), shipped by ``face-recognition-models`` and run by
``dlib-bin``: the ``faces`` extra. Faces are aligned the way that network was trained
(``dlib.get_face_chip``: 150 px, padding 0.25) from the 68 landmarks, either the ones the caller
gives (datasets with landmarks, SynthFaces) or found by dlib's HOG detector + 68-point predictor.

Caveat measured on SynthFaces (see tests/eval/test_identity.py): the network was trained on real
photos and separates the procedural identities only weakly, so on SynthFaces ACD-I is a coarse
signal, best read relative to the ``copy_input`` / ``ground_truth`` reference rows.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PIL import Image

from fxs_jax.faces import detect

EMBEDDING_DIM = 128
NUM_LANDMARKS = detect.NUM_LANDMARKS
_LOG = logging.getLogger(__name__)
_NEEDED_BY = "ACD / ACD-I"


class FaceEmbedder:
  """dlib's 128-d face embedding of aligned face chips; models are loaded on first use.

  Small images are upscaled (bilinear, an integer factor) until their shorter side reaches
  ``min_side`` px before detection and alignment: dlib's HOG detector finds no face below ~80 px
  and ``dlib.point`` rounds landmarks to whole pixels, a visible misalignment on a 64 px face.
  """

  def __init__(self, min_side: int = 256, chip_size: int = 150, padding: float = 0.25,
               batch_size: int = 32):
    self.min_side, self.chip_size, self.padding = min_side, chip_size, padding
    self.batch_size = batch_size
    self._dlib = self._detector = self._predictor = self._recognizer = None
    self.last_num_missing = 0  # images without a face in the last embed() call

  def _load(self) -> None:
    if self._recognizer is not None:
      return
    dlib = detect.import_dlib(_NEEDED_BY)
    paths = {k: detect.model_path(k, _NEEDED_BY) for k in detect.MODEL_FILES}
    self._dlib = dlib
    self._detector = dlib.get_frontal_face_detector()
    self._predictor = dlib.shape_predictor(str(paths["predictor"]))
    self._recognizer = dlib.face_recognition_model_v1(str(paths["recognizer"]))

  def _upscale(self, image_HxWx3: np.ndarray) -> tuple[np.ndarray, int]:
    """(image upscaled by an integer factor k, k). With pixel centres at integers, a point x of
    the input lies at (x + 0.5) * k - 0.5 in the output (PIL's bilinear resize convention)."""
    return detect.upscale(image_HxWx3, self.min_side)

  def _shape_from_landmarks(self, landmarks_68x2: np.ndarray):
    dlib = self._dlib
    pts = np.rint(landmarks_68x2).astype(int)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                      [dlib.point(int(x), int(y)) for x, y in pts])

  def _detect_shapes(self, big_HxWx3: np.ndarray) -> list:
    """dlib shapes of every detected face, the largest first."""
    rects = sorted(self._detector(big_HxWx3, 0), key=lambda r: r.area(), reverse=True)
    return [self._predictor(big_HxWx3, r) for r in rects]

  def detect(self, image_HxWx3: np.ndarray) -> np.ndarray:
    """(F, 68, 2) float32 (x, y) landmarks of every face found in one uint8 RGB image, largest
    face first (F = 0 when none)."""
    image = _check_images(image_HxWx3[None])[0]
    self._load()
    big, k = self._upscale(image)
    out = [[(p.x, p.y) for p in shape.parts()] for shape in self._detect_shapes(big)]
    out = np.asarray(out, np.float32).reshape(-1, NUM_LANDMARKS, 2)
    return (out + 0.5) / k - 0.5

  def chips(self, images_NxHxWx3: np.ndarray, landmarks_Nx68x2: np.ndarray | None = None
            ) -> list[np.ndarray | None]:
    """Aligned ``chip_size`` face chips (uint8 RGB), None where no face is found (or the given
    landmarks are not finite). With landmarks, the chip is built from them (no detection); without,
    from the largest face dlib detects."""
    images = _check_images(images_NxHxWx3)
    if landmarks_Nx68x2 is not None:
      landmarks_Nx68x2 = np.asarray(landmarks_Nx68x2, np.float64)
      if landmarks_Nx68x2.shape != (len(images), NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape ({len(images)}, {NUM_LANDMARKS}, 2), got "
                         f"{landmarks_Nx68x2.shape}.")
    self._load()
    out = []
    for i, image in enumerate(images):
      big, k = self._upscale(image)
      if landmarks_Nx68x2 is None:
        shapes = self._detect_shapes(big)
        shape = shapes[0] if shapes else None
      elif np.all(np.isfinite(landmarks_Nx68x2[i])):
        shape = self._shape_from_landmarks((landmarks_Nx68x2[i] + 0.5) * k - 0.5)
      else:
        shape = None
      out.append(None if shape is None else self._dlib.get_face_chip(
          big, shape, size=self.chip_size, padding=self.padding))
    return out

  def embed(self, images_NxHxWx3: np.ndarray, landmarks_Nx68x2: np.ndarray | None = None
            ) -> np.ndarray:
    """(N, 128) float32 embeddings of N uint8 RGB images; NaN rows where no face was found.

    The number of such rows is kept in ``last_num_missing`` and logged as a warning.
    """
    chips = self.chips(images_NxHxWx3, landmarks_Nx68x2)
    found = [i for i, c in enumerate(chips) if c is not None]
    out = np.full((len(chips), EMBEDDING_DIM), np.nan, np.float32)
    chip_size = 150  # the network's input; chips of another size are resized to it
    for start in range(0, len(found), self.batch_size):
      idx = found[start:start + self.batch_size]
      batch = [chips[i] if chips[i].shape[0] == chip_size else
               np.asarray(Image.fromarray(chips[i]).resize((chip_size, chip_size),
                                                           Image.BILINEAR)) for i in idx]
      out[idx] = np.asarray(self._recognizer.compute_face_descriptor(batch), np.float32)
    self.last_num_missing = len(chips) - len(found)
    if self.last_num_missing:
      _LOG.warning("no face found in %d of %d images", self.last_num_missing, len(chips))
    return out

  __call__ = embed  # the harness's face_embedder(uint8 images, landmarks) -> (N, 128)


def _check_images(images_NxHxWx3) -> np.ndarray:
  images = np.asarray(images_NxHxWx3)
  if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
    raise ValueError(f"images must be uint8 RGB of shape (N, H, W, 3), got {images.dtype} "
                     f"{images.shape}.")
  return images


def _finite_rows(x: np.ndarray) -> np.ndarray:
  return np.all(np.isfinite(x), axis=-1)


def acd_counts(embeddings_VxTxD: np.ndarray) -> tuple[float, int, int]:
  """(ACD, videos used, frames used). Frames with NaN embeddings are skipped; videos with fewer
  than two valid frames are skipped. ACD is NaN when no video is usable."""
  emb = np.asarray(embeddings_VxTxD, np.float64)
  if emb.ndim != 3:
    raise ValueError(f"embeddings must have shape (videos, frames, dim), got {emb.shape}.")
  per_video, frames = [], 0
  for video_TxD in emb:
    valid = video_TxD[_finite_rows(video_TxD)]
    if len(valid) < 2:
      continue
    dist_TxT = np.linalg.norm(valid[:, None] - valid[None], axis=-1)
    upper = np.triu_indices(len(valid), k=1)
    per_video.append(dist_TxT[upper].mean())
    frames += len(valid)
  value = float(np.mean(per_video)) if per_video else math.nan
  return value, len(per_video), frames


def acd(embeddings_VxTxD: np.ndarray) -> float:
  """Average content distance: mean over videos of the mean pairwise L2 distance between the
  frames' embeddings (NaN frames skipped; see :func:`acd_counts`)."""
  return acd_counts(embeddings_VxTxD)[0]


def acd_identity_counts(embeddings_NxD: np.ndarray, reference_NxD: np.ndarray
                        ) -> tuple[float, int]:
  """(ACD-I, pairs used). ``reference`` broadcasts against ``embeddings`` (e.g. (V, T, D) frames
  vs (V, 1, D) input faces); pairs where either side is NaN are skipped."""
  emb = np.asarray(embeddings_NxD, np.float64)
  ref = np.asarray(reference_NxD, np.float64)
  dist = np.linalg.norm(emb - ref, axis=-1)
  dist = dist[np.isfinite(dist)]
  return (float(dist.mean()) if dist.size else math.nan), int(dist.size)


def acd_identity(embeddings_NxD: np.ndarray, reference_NxD: np.ndarray) -> float:
  """ACD-I: mean L2 distance between each embedding and its reference (the input face's)."""
  return acd_identity_counts(embeddings_NxD, reference_NxD)[0]


def identity_metrics(generated: np.ndarray, inputs: np.ndarray,
                     generated_landmarks: np.ndarray | None = None,
                     input_landmarks: np.ndarray | None = None,
                     embedder: FaceEmbedder | None = None) -> dict:
  """ACD-I (and ACD for videos) of generated faces against their input faces.

  Args:
    generated: uint8 RGB, (N, H, W, 3) edited stills or (V, T, H, W, 3) videos.
    inputs: uint8 RGB input faces, (N, H, W, 3) or (V, H, W, 3): one per still / video.
    generated_landmarks: optional (N, 68, 2) or (V, T, 68, 2) landmarks to align with (e.g. the
      target's); detected when None.
    input_landmarks: optional (N or V, 68, 2) landmarks of the inputs; detected when None.
    embedder: a :class:`FaceEmbedder` to reuse (its models load once).

  Returns:
    ``{"acd_i", "acd_i_pairs", "acd" (videos only), "acd_videos", "acd_frames",
    "faces_generated", "faces_input", "num_generated", "num_input"}``: metric values (NaN when
    nothing was usable), the number of pairs / videos / frames they average, and how many images
    had a face.
  """
  embedder = embedder or FaceEmbedder()
  generated, inputs = np.asarray(generated), np.asarray(inputs)
  is_video = generated.ndim == 5
  lead = generated.shape[:2] if is_video else generated.shape[:1]
  if len(inputs) != lead[0]:
    raise ValueError(f"need one input face per {'video' if is_video else 'image'}: got "
                     f"{len(inputs)} inputs for generated of shape {generated.shape}.")
  flat = generated.reshape(-1, *generated.shape[-3:])
  flat_lms = None if generated_landmarks is None else np.asarray(
      generated_landmarks).reshape(-1, NUM_LANDMARKS, 2)
  emb = embedder.embed(flat, flat_lms).reshape(*lead, EMBEDDING_DIM)
  ref = embedder.embed(inputs, input_landmarks)
  result = {"num_generated": int(flat.shape[0]), "num_input": int(len(inputs)),
            "faces_generated": int(_finite_rows(emb).sum()),
            "faces_input": int(_finite_rows(ref).sum())}
  result["acd_i"], result["acd_i_pairs"] = acd_identity_counts(
      emb, ref[:, None] if is_video else ref)
  if is_video:
    result["acd"], result["acd_videos"], result["acd_frames"] = acd_counts(emb)
  return result
