"""How a face is framed in its crop: one preset per dataset, as its paper used it.

A framing turns a photo's 68 landmarks into the similarity transform (rotation + uniform scale +
translation, :mod:`fxs_jax.faces.alignment`'s ``[A | t]``) from photo pixels to crop pixels:

* ``synthfaces``: the eyes on SynthFaces' mean neutral eyes (``EYE_TEMPLATE``; the face spans
  0.54 of the crop). What the bundled models were trained on, so photo editing uses it.
* ``face_crop``: the photo already is a face crop (GANimation's EmotioNet crops, which its
  authors resized to 128 px as they were): the whole photo, scaled; a non-square photo gives
  its square around the face. Never rotated, so no pixel comes from outside the photo.
* ``stargan_rafd``: StarGAN's RaFD preprocessing (a 256 px box on RaFD's 681 x 1024 photos with
  the face centred, resized to 128; the survey's LGP-GAN comparison uses it): an axis-aligned
  square around the face (the landmarks' box a little below the centre, :data:`BOX_CENTRE_Y`,
  so that the forehead shows), the jaw spanning :data:`STARGAN_RAFD_JAW`.
* ``face_box``: a tight face crop levelled on the eyes, for the video datasets (CK+, Oulu-CASIA,
  MUG), whose papers say only that faces are cropped from landmarks: framed as ``stargan_rafd``,
  the jaw spanning :data:`FACE_BOX_JAW` of the crop.

The jaw (landmarks 0 and 16) sets the scale of the box framings: it does not move with the
expression (an open mouth would shrink a crop scaled on the landmarks' height). Where a crop
reaches outside its photo the missing pixels are the photo mirrored at its border (see
:func:`fxs_jax.faces.align`), and :func:`outside_fraction` says how much that is.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fxs_jax.errors import UserError

# StarGAN crops RaFD to 256 px around the face; its 128 px faces span about 3/4 of the crop
# jaw to jaw (an estimate from its published samples: StarGAN ships no cropping code).
STARGAN_RAFD_JAW = 0.7
FACE_BOX_JAW = 0.7
# The landmarks run from the brows to the chin: their box's centre sits this far down the crop,
# so that the forehead shows as much as the chin's margin (the face, not the landmarks, centred).
BOX_CENTRE_Y = 0.56
LEFT_EYE, RIGHT_EYE = tuple(range(36, 42)), tuple(range(42, 48))


@dataclasses.dataclass(frozen=True)
class Framing:
  """A named way to frame a face (see the module docstring).

  Attributes:
    name: the preset's name (``config.data.framing``).
    kind: ``"eyes"`` (eye template), ``"whole_photo"`` or ``"face_box"``.
    jaw_fraction: ``face_box``: the jaw width (landmarks 0-16) as a fraction of the crop side.
    level_eyes: ``face_box``: rotate so that the eyes are level (else axis-aligned).
    description: one line for docs and reports.
  """
  name: str
  kind: str
  jaw_fraction: float = 0.0
  level_eyes: bool = True
  description: str = ""


FRAMINGS = {f.name: f for f in (
    Framing("synthfaces", "eyes", description="eyes on SynthFaces' mean neutral eyes (face "
            "0.54 of the crop)"),
    Framing("face_crop", "whole_photo", description="the photo is a face crop: all of it, "
            "scaled (GANimation's EmotioNet crops)"),
    Framing("stargan_rafd", "face_box", STARGAN_RAFD_JAW, level_eyes=False,
            description="StarGAN's RaFD crop: an axis-aligned box, face centred, jaw 0.7"),
    Framing("face_box", "face_box", FACE_BOX_JAW, level_eyes=True,
            description="a tight box levelled on the eyes, face centred, jaw 0.7"),
)}


def get(name: str) -> Framing:
  """The preset called ``name`` (one-line UserError naming the choices otherwise)."""
  if name not in FRAMINGS:
    raise UserError(f"Unknown face framing {name!r}; choose from {', '.join(FRAMINGS)} "
                    "(config.data.framing; '' = the dataset's own).")
  return FRAMINGS[name]


def _similarity(angle: float, scale: float, centre_photo, centre_crop) -> np.ndarray:
  """The (2, 3) map rotating by ``-angle`` and scaling by ``scale`` about ``centre_photo``,
  which lands on ``centre_crop``."""
  c, s = np.cos(-angle) * scale, np.sin(-angle) * scale
  a = np.array([[c, -s], [s, c]])
  return np.concatenate([a, (np.asarray(centre_crop) - a @ np.asarray(centre_photo))[:, None]],
                        axis=1)


def crop_transform(framing: Framing, landmarks_68x2, photo_shape, size: int) -> np.ndarray:
  """The (2, 3) photo -> crop transform of ``framing`` for one face.

  Args:
    framing: a :class:`Framing` (``"eyes"`` is handled by :func:`fxs_jax.faces.align` itself).
    landmarks_68x2: the face's iBUG-68 (x, y) landmarks in photo pixels.
    photo_shape: (H, W) of the photo.
    size: side of the square crop in pixels.
  """
  landmarks = np.asarray(landmarks_68x2, np.float64)
  h, w = int(photo_shape[0]), int(photo_shape[1])
  if framing.kind == "whole_photo":
    side = min(h, w)
    # The square of side min(H, W) around the face, inside the photo.
    centre = landmarks.mean(axis=0)
    x0 = float(np.clip(centre[0] - side / 2, 0, w - side)) - 0.5
    y0 = float(np.clip(centre[1] - side / 2, 0, h - side)) - 0.5
    scale = size / side
    return np.array([[scale, 0.0, -0.5 - scale * x0], [0.0, scale, -0.5 - scale * y0]])
  if framing.kind != "face_box":
    raise UserError(f"framing {framing.name!r} has kind {framing.kind!r}; crop_transform takes "
                    "'whole_photo' or 'face_box'")
  jaw = float(np.linalg.norm(landmarks[16] - landmarks[0]))
  if not np.isfinite(jaw) or jaw < 1e-6:
    raise UserError("the jaw landmarks 0 and 16 coincide (or are not finite); pass real landmarks")
  angle = 0.0
  if framing.level_eyes:
    eye_line = landmarks[list(RIGHT_EYE)].mean(0) - landmarks[list(LEFT_EYE)].mean(0)
    angle = float(np.arctan2(eye_line[1], eye_line[0]))
  scale = framing.jaw_fraction * size / jaw
  rotation = _similarity(angle, 1.0, (0.0, 0.0), (0.0, 0.0))[:, :2]
  upright = landmarks @ rotation.T  # the box is taken in the levelled frame
  box_centre = (upright.min(0) + upright.max(0)) / 2
  centre_photo = np.linalg.solve(rotation, box_centre)
  return _similarity(angle, scale, centre_photo, (size / 2 - 0.5, BOX_CENTRE_Y * size - 0.5))


def outside_fraction(transform_2x3: np.ndarray, photo_shape, size: int) -> float:
  """The fraction of a ``size`` crop's pixels whose centres map outside the photo."""
  a = np.asarray(transform_2x3, np.float64)
  inverse_a = np.linalg.inv(a[:, :2])
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
  points = np.stack([xs.ravel(), ys.ravel()], axis=1) - a[:, 2]
  photo = points @ inverse_a.T
  h, w = photo_shape[:2]
  inside = ((photo[:, 0] >= -0.5) & (photo[:, 0] <= w - 0.5) & (photo[:, 1] >= -0.5)
            & (photo[:, 1] <= h - 0.5))
  return float(1.0 - inside.mean())


def box_share(landmarks_68x2, shape) -> float:
  """The landmarks' bounding box area as a fraction of an image of ``shape`` (H, W, ...)."""
  points = np.asarray(landmarks_68x2, np.float64)
  extent = points.max(0) - points.min(0)
  return float(extent[0] * extent[1] / (shape[0] * shape[1]))
