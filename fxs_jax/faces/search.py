"""Every face of a photo accounted for: the ones to edit, aligned, and the ones left out, with why.

dlib's frontal detector finds faces scoring at least its threshold; what scores a little lower (a
face turned away or partly hidden, or a face-like pattern) is reported as a skipped face, as are
faces the caller did not choose. ``thorough`` searches again at twice the scale (about 4x the
time). dlib's CNN detector (``mmod_human_face_detector.dat``, in face-recognition-models) finds
profiles too, but took 32 s on a 1.1 MP photo on this project's 2-core CPU (the HOG detector:
0.5 s), so it is not used.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image

from fxs_jax.errors import UserError
from fxs_jax.faces import alignment
from fxs_jax.faces import preprocessing

DETECT_MAX_SIDE = 2500  # longer photos are searched for faces at 1/ceil(side / this) scale
FACE_CHOICES = ("all", "largest")
# Detections scoring from this up to the detector's threshold are reported as skipped faces.
WEAK_FACE_SCORE = 0.0


@dataclasses.dataclass
class SkippedFace:
  """A face (or what may be one) of the photo that was not edited, and why (one line)."""
  box: tuple[int, int, int, int]  # (x0, y0, x1, y1) of its landmarks, photo pixels
  reason: str


@dataclasses.dataclass
class FaceSearch:
  """The faces of a photo to edit (aligned crops, the largest first) and the ones left out."""
  faces: list[alignment.AlignedFace]
  skipped: list[SkippedFace]


def _box(points_68x2: np.ndarray) -> tuple[int, int, int, int]:
  points = np.asarray(points_68x2, np.float64)
  return tuple(int(v) for v in np.concatenate([np.floor(points.min(0)), np.ceil(points.max(0))]))


def _detect(image: np.ndarray, threshold: float, upsample: int) -> tuple[np.ndarray, np.ndarray]:
  """dlib's faces of ``image`` scoring >= ``threshold`` (searched on a box-downscaled copy when
  the photo is over :data:`DETECT_MAX_SIDE`), landmarks in the photo's pixels, and scores."""
  detector = preprocessing.shared_detector()
  factor = math.ceil(max(image.shape[:2]) / DETECT_MAX_SIDE)
  if factor > 1:  # a box-filtered copy; points map back with pixel centres at integers
    small = np.asarray(Image.fromarray(image).reduce(factor))
    landmarks, scores = detector.detect_scored(small, threshold, upsample)
    return (landmarks + 0.5) * factor - 0.5, scores
  return detector.detect_scored(image, threshold, upsample)


def _overlaps(points_68x2, others) -> bool:
  """Whether a face's landmark box overlaps one of ``others``' (IoU 0.3 or more: one face)."""
  return any(preprocessing.box_overlap(points_68x2, other) >= 0.3 for other in others)


def search_faces(image: np.ndarray, size: int, faces="all", name: str = "photo",
                 thorough: bool = False) -> FaceSearch:
  """Every face of ``image`` to edit, aligned at ``size`` px, and every one left out, with why.

  dlib's frontal detector keeps faces scoring at least its threshold (0.3); what scores between
  :data:`WEAK_FACE_SCORE` and that (a face turned away or partly hidden, or a face-like pattern)
  is reported as skipped. ``thorough`` searches again at twice the scale (about 4x the time):
  faces half as large, and higher scores for faces turned away. ``faces``: ``"all"``,
  ``"largest"`` or a list of indices into the faces found (the largest first); the others are
  reported as not chosen. A one-line error when no face is found (naming the weak ones).
  """
  if not (faces in FACE_CHOICES or (isinstance(faces, (list, tuple)) and faces
                                    and all(isinstance(i, (int, np.integer)) for i in faces))):
    raise UserError(f"faces must be one of {FACE_CHOICES} or a list of face indices, got "
                    f"{faces!r}.")
  threshold = preprocessing.shared_detector().threshold
  landmarks, scores = _detect(image, min(WEAK_FACE_SCORE, threshold), 0)
  strong, weak = list(landmarks[scores >= threshold]), list(landmarks[scores < threshold])
  weak_scores = list(scores[scores < threshold])
  if thorough:
    more, more_scores = _detect(image, min(WEAK_FACE_SCORE, threshold), 1)
    for points, score in zip(more, more_scores):
      if _overlaps(points, strong):
        continue
      if score >= threshold:
        strong.append(points)
      elif not _overlaps(points, weak):
        weak.append(points)
        weak_scores.append(score)
    weak_scores = [s for w, s in zip(weak, weak_scores) if not _overlaps(w, strong)]
    weak = [w for w in weak if not _overlaps(w, strong)]
  strong.sort(key=preprocessing.face_width, reverse=True)
  skipped = [SkippedFace(_box(w), f"weak detection (score {s:.2f} < {threshold:g}): turned away, "
                         "partly hidden or not a face" + ("" if thorough else
                                                          "; thorough=True looks again"))
             for w, s in zip(weak, weak_scores)]
  if not strong:
    also = f" ({len(weak)} weak detection(s) skipped)" if weak else ""
    raise UserError(f"{name}: no face found{also} (dlib's frontal face detector misses faces "
                    "in profile and faces narrower than about 80 px); pass a photo with a frontal "
                    "face.")
  chosen = (range(len(strong)) if faces == "all" else [0] if faces == "largest" else faces)
  bad = [i for i in chosen if not 0 <= i < len(strong)]
  if bad:
    raise UserError(f"{name}: no face {bad[0]}; the photo has faces 0-{len(strong) - 1} (the "
                    "largest first).")
  for i, points in enumerate(strong):
    if i not in chosen:
      skipped.append(SkippedFace(_box(points), f"not chosen (faces={faces!r})"))
  return FaceSearch([alignment.align(image, strong[i], size) for i in sorted(set(chosen))],
                    skipped)
