"""Face crops framed like SynthFaces (or a dataset's preset), and pasting an edited crop back into its photo.

:func:`align` fits a similarity transform (rotation + uniform scale + translation) from the 12
eye landmarks (iBUG 36-47) of a photo to :data:`EYE_TEMPLATE`, the eyes of SynthFaces' mean
neutral face, and resamples the crop. The eyes, not the mouth, set the framing: the mouth moves
with every expression this library edits (an open mouth would shift and shrink the crop), while
the eye corners and the eye centres hardly move. Caveat: a face turned sideways (yaw) has closer
eyes, so its crop is zoomed in a little.

Coordinates are (x, y) pixels with pixel centres at integers (dlib / iBUG / SynthFaces): an image
of side n spans ``[-0.5, n - 0.5]``. Affine transforms are (2, 3) matrices ``[A | t]`` acting on
column vectors: ``p_crop = A @ p_photo + t``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fxs_jax.errors import UserError
from fxs_jax.faces import framing as framing_lib

NUM_LANDMARKS = 68
EYE_LANDMARKS = tuple(range(36, 48))

# Where landmarks 36-47 sit in the crop, as fractions of its side (pixel = fraction * size - 0.5).
# Computed from SynthFaces' neutral face: the mean of synth_faces.render(sample_identity(seed),
# zeros(17), 128) landmarks over seeds 0-199, as (x + 0.5) / 128, then averaged with its mirror
# image (x -> 1 - x, points 36-41 <-> 45-42) so the template is level and left-right symmetric
# (the renderer's pose jitter is symmetric; 200 samples left a 0.5 degree tilt, a 0.003 error).
# tests/faces/test_faces.py recomputes it from 50 other identities.
EYE_TEMPLATE = np.array([
    [0.3257, 0.4325], [0.3634, 0.4019], [0.4011, 0.4030],  # 36 outer corner, 37, 38
    [0.4388, 0.4358], [0.4011, 0.4533], [0.3634, 0.4522],  # 39 inner corner, 40, 41
    [0.5612, 0.4358], [0.5989, 0.4030], [0.6366, 0.4019],  # 42 inner corner, 43, 44
    [0.6743, 0.4325], [0.6366, 0.4522], [0.5989, 0.4533],  # 45 outer corner, 46, 47
])


@dataclasses.dataclass
class AlignedFace:
  """A face crop and how it relates to its photo.

  Attributes:
    image: (size, size, 3) uint8 RGB crop.
    landmarks: (68, 2) float32 (x, y) landmarks in crop pixels.
    transform: (2, 3) float64 affine map from photo pixel coordinates to crop pixel coordinates.
    photo_shape: (H, W) of the photo the crop was taken from.
  """
  image: np.ndarray
  landmarks: np.ndarray
  transform: np.ndarray
  photo_shape: tuple[int, int]


def apply_affine(transform_2x3: np.ndarray, points_Nx2: np.ndarray) -> np.ndarray:
  """``A @ p + t`` for each row p of ``points_Nx2`` (float64)."""
  points = np.asarray(points_Nx2, np.float64)
  return points @ transform_2x3[:, :2].T + transform_2x3[:, 2]


def invert_affine(transform_2x3: np.ndarray) -> np.ndarray:
  """The (2, 3) inverse of an invertible affine map."""
  inverse_a = np.linalg.inv(transform_2x3[:, :2])
  return np.concatenate([inverse_a, -inverse_a @ transform_2x3[:, 2:]], axis=1)


def fit_similarity(src_Nx2: np.ndarray, dst_Nx2: np.ndarray) -> np.ndarray:
  """Least-squares similarity (no reflection) mapping src points onto dst: a (2, 3) matrix.

  Umeyama's solution, in 2-D a closed form: with points as complex numbers z (src) and w (dst),
  centred, ``w ~ c z`` with ``c = sum(conj(z) w) / sum(|z|^2)`` (scale |c|, rotation arg c).
  """
  z = np.asarray(src_Nx2, np.float64) @ [1, 1j]
  w = np.asarray(dst_Nx2, np.float64) @ [1, 1j]
  z_centred, w_centred = z - z.mean(), w - w.mean()
  spread = np.sum(np.abs(z_centred) ** 2)
  if not np.isfinite(spread) or spread < 1e-9:
    raise UserError("the eye landmarks are all at one point (or not finite); pass real landmarks")
  c = np.sum(np.conj(z_centred) * w_centred) / spread
  offset = w.mean() - c * z.mean()
  return np.array([[c.real, -c.imag, offset.real], [c.imag, c.real, offset.imag]])


def _box_reduce(image_HxWxC: np.ndarray, factor: int) -> np.ndarray:
  """Mean over factor x factor blocks (the last blocks padded by edge replication)."""
  h, w = image_HxWxC.shape[:2]
  padded = np.pad(image_HxWxC, ((0, -h % factor), (0, -w % factor), (0, 0)), mode="edge")
  blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor, -1)
  return blocks.mean(axis=(1, 3))


def _reflect(coords: np.ndarray, n: int) -> np.ndarray:
  """Pixel coordinates mirrored into an image of ``n`` pixels, whose span is [-0.5, n - 0.5]
  (a point d outside a border lands d inside it)."""
  t = np.mod(coords + 0.5, 2 * n)
  return np.where(t <= n, t, 2 * n - t) - 0.5


def _sample(image_HxWxC: np.ndarray, xs: np.ndarray, ys: np.ndarray, step: float,
            fill: str = "edge") -> np.ndarray:
  """Bilinear float32 samples of ``image`` at (xs, ys), shape xs.shape + (C,).

  Points outside the image take the nearest border pixel's value (``fill="edge"``) or the
  image's mirror image at its border (``"reflect"``). ``step`` is the distance in image pixels
  between neighbouring samples: from 2 up, the image is first box-filtered by its integer part
  (bilinear alone would alias when shrinking).
  """
  h, w = image_HxWxC.shape[:2]
  if fill == "reflect":
    xs, ys = _reflect(xs, w), _reflect(ys, h)
  # Only the region the samples touch is converted to float (photos can be large).
  x_lo = int(np.clip(np.floor(xs.min()) - 1, 0, w - 1))
  x_hi = int(np.clip(np.ceil(xs.max()) + 2, 1, w))
  y_lo = int(np.clip(np.floor(ys.min()) - 1, 0, h - 1))
  y_hi = int(np.clip(np.ceil(ys.max()) + 2, 1, h))
  region = image_HxWxC[y_lo:y_hi, x_lo:x_hi].astype(np.float32)
  xs, ys = xs - x_lo, ys - y_lo
  factor = int(step) if step >= 2 else 1
  if factor > 1:
    region = _box_reduce(region, factor)
    xs, ys = (xs + 0.5) / factor - 0.5, (ys + 0.5) / factor - 0.5
  h, w = region.shape[:2]
  xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
  x0 = np.minimum(np.floor(xs).astype(int), max(w - 2, 0))
  y0 = np.minimum(np.floor(ys).astype(int), max(h - 2, 0))
  x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
  fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
  top = region[y0, x0] * (1 - fx) + region[y0, x1] * fx
  bottom = region[y1, x0] * (1 - fx) + region[y1, x1] * fx
  return top * (1 - fy) + bottom * fy


def _to_uint8(image: np.ndarray) -> np.ndarray:
  return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _check_rgb(image, name: str) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
    raise UserError(f"{name} must be a uint8 RGB array of shape (H, W, 3), got {image.dtype} "
                    f"{image.shape}; convert it first (e.g. fxs_jax.faces.load_image)")
  return image


def _scale(transform_2x3: np.ndarray) -> float:
  return float(np.sqrt(abs(np.linalg.det(transform_2x3[:, :2]))))


def align(image, landmarks_68x2, size: int = 128, template=EYE_TEMPLATE,
          framing: str | framing_lib.Framing = "synthfaces", fill: str = "reflect"
          ) -> AlignedFace:
  """The face crop of a photo, framed like SynthFaces or by another preset.

  Args:
    image: (H, W, 3) uint8 RGB photo.
    landmarks_68x2: the face's (68, 2) (x, y) iBUG landmarks in photo pixels.
    size: side of the square crop, in pixels.
    template: (12, 2) positions of landmarks 36-47 in the crop, as fractions of its side
      (the ``synthfaces`` framing).
    framing: a preset of :mod:`fxs_jax.faces.framing` (its name or the object).
    fill: crop pixels that fall outside the photo: ``"reflect"`` (the photo mirrored at its
      border: no streaks, the texture goes on) or ``"edge"`` (its border pixels repeated).

  Returns:
    The :class:`AlignedFace`. Resampling is bilinear (box-filtered first when the face is at
    least twice the crop's scale).
  """
  if isinstance(framing, str):
    framing = framing_lib.get(framing)
  if fill not in ("reflect", "edge"):
    raise UserError(f"fill must be 'reflect' or 'edge', got {fill!r}")
  image = _check_rgb(image, "image")
  landmarks = np.asarray(landmarks_68x2, np.float64)
  if landmarks.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(landmarks)):
    raise UserError(f"landmarks must be finite with shape ({NUM_LANDMARKS}, 2), got shape "
                    f"{landmarks.shape}; pass one face's iBUG-68 landmarks")
  template = np.asarray(template, np.float64)
  if template.shape != (len(EYE_LANDMARKS), 2):
    raise UserError(f"template must have shape ({len(EYE_LANDMARKS)}, 2) (landmarks 36-47 as "
                    f"fractions of the crop), got {template.shape}")
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
    raise UserError(f"size must be an int >= 16, got {size!r}")
  if framing.kind == "eyes":
    transform = fit_similarity(landmarks[list(EYE_LANDMARKS)], template * size - 0.5)
  else:
    transform = framing_lib.crop_transform(framing, landmarks, image.shape, size)
  inverse = invert_affine(transform)
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
  photo_xs = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
  photo_ys = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
  crop = _sample(image, photo_xs, photo_ys, step=1.0 / _scale(transform), fill=fill)
  return AlignedFace(image=_to_uint8(crop),
                     landmarks=apply_affine(transform, landmarks).astype(np.float32),
                     transform=transform, photo_shape=(int(image.shape[0]), int(image.shape[1])))


def rescaled(aligned: AlignedFace, photo_shape) -> AlignedFace:
  """``aligned`` as a face of its photo resized to ``photo_shape`` (H, W): the same crop and
  landmarks, the transform from the resized photo's pixels to the crop.

  Each axis scales by new / old side, pixel centres at integers: a point x of the photo lies at
  ``(x + 0.5) * s - 0.5`` in the resized one. To paste a crop cut from a full-resolution photo
  (sharper than one cut from a small copy) into a downscaled copy of it.
  """
  height, width = int(photo_shape[0]), int(photo_shape[1])
  if height < 1 or width < 1:
    raise UserError(f"photo_shape must be two positive sides (H, W), got {tuple(photo_shape)}")
  if (height, width) == tuple(aligned.photo_shape):
    return aligned
  scale = np.array([width / aligned.photo_shape[1], height / aligned.photo_shape[0]])
  # Resized -> original photo: x = (x' + 0.5) / s - 0.5; then the original photo -> crop map.
  to_original = np.concatenate([np.diag(1 / scale), (0.5 / scale - 0.5)[:, None]], axis=1)
  transform = aligned.transform[:, :2] @ to_original
  transform[:, 2] += aligned.transform[:, 2]
  return dataclasses.replace(aligned, transform=transform, photo_shape=(height, width))


def paste_back(photo, aligned: AlignedFace, new_crop_image, feather: float = 0.1,
               mask=None, change_from=None) -> np.ndarray:
  """A copy of ``photo`` with ``new_crop_image`` (an edited ``aligned.image``) warped back in.

  Args:
    photo: the (H, W, 3) uint8 RGB photo ``aligned`` was cut from.
    aligned: the :class:`AlignedFace` of that photo.
    new_crop_image: (size, size, 3) uint8 RGB image in the crop's frame.
    feather: width of the blend ramp, as a fraction of the crop side: the crop's weight rises
      (smoothstep) from 0 on its border to 1 at this distance inside, so there is no seam.
      0 pastes the whole square with a hard edge.
    mask: optional (size, size) weights in [0, 1] in the crop's frame (e.g.
      :func:`fxs_jax.faces.face_mask`), multiplied with that ramp: where it is 0 the photo is
      unchanged.
    change_from: optional (size, size, 3) uint8 crop the edit started from (usually
      ``aligned.image``): then only the change ``new_crop_image - change_from`` is warped back
      and added to the photo, which keeps the photo's own detail finer than the crop's pixels
      (a 64 px crop of a 400 px face would otherwise blur it) wherever the edit changed little.

  Returns:
    The blended photo; pixels outside the crop's footprint (and where ``mask`` is 0) are the
    photo's, unchanged.
  """
  photo = _check_rgb(photo, "photo")
  if tuple(photo.shape[:2]) != tuple(aligned.photo_shape):
    raise UserError(f"photo is {photo.shape[:2]} but the crop was cut from a photo of "
                    f"{tuple(aligned.photo_shape)}; paste into the photo it came from")
  crop = _check_rgb(new_crop_image, "new_crop_image")
  size = aligned.image.shape[0]
  if crop.shape[:2] != (size, size):
    raise UserError(f"new_crop_image is {crop.shape[:2]} but the crop is {size}x{size}; resize "
                    f"it to the crop's size first")
  if not 0.0 <= feather <= 0.5:
    raise UserError(f"feather must be in [0, 0.5] (a fraction of the crop side), got {feather}")
  if mask is not None:
    mask = np.asarray(mask, np.float32)
    if mask.shape != (size, size):
      raise UserError(f"mask is {mask.shape} but the crop is {size}x{size}; pass one weight per "
                      "crop pixel")
  if change_from is not None:
    change_from = _check_rgb(change_from, "change_from")
    if change_from.shape[:2] != (size, size):
      raise UserError(f"change_from is {change_from.shape[:2]} but the crop is {size}x{size}")
  corners = apply_affine(invert_affine(aligned.transform),
                         [[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5],
                          [size - 0.5, size - 0.5]])
  x_lo, y_lo = np.maximum(np.floor(corners.min(0)).astype(int), 0)
  x_hi, y_hi = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, photo.shape[1::-1])
  out = photo.copy()
  if x_lo >= x_hi or y_lo >= y_hi:
    return out  # the crop lies entirely outside the photo
  ys, xs = np.mgrid[y_lo:y_hi, x_lo:x_hi].astype(np.float64)
  t = aligned.transform
  crop_xs = t[0, 0] * xs + t[0, 1] * ys + t[0, 2]
  crop_ys = t[1, 0] * xs + t[1, 1] * ys + t[1, 2]
  # Distance (crop pixels) inside the crop's square [-0.5, size - 0.5]^2; negative outside it.
  inside = np.minimum(np.minimum(crop_xs + 0.5, size - 0.5 - crop_xs),
                      np.minimum(crop_ys + 0.5, size - 0.5 - crop_ys))
  ramp = feather * size
  weight = np.clip(inside / ramp, 0, 1) if ramp > 0 else (inside > 0).astype(np.float64)
  weight = (weight * weight * (3 - 2 * weight)).astype(np.float32)[..., None]
  if mask is not None:  # outside the crop _sample repeats the border: the ramp is 0 there
    weight = weight * np.clip(_sample(mask[..., None], crop_xs, crop_ys, step=_scale(t)), 0, 1)
  pasted = _sample(crop, crop_xs, crop_ys, step=_scale(t))
  region = out[y_lo:y_hi, x_lo:x_hi].astype(np.float32)
  if change_from is not None:
    # The change first: an edit equal to where it started adds exactly 0.
    pasted = region + (pasted - _sample(change_from, crop_xs, crop_ys, step=_scale(t)))
  out[y_lo:y_hi, x_lo:x_hi] = _to_uint8(region + weight * (pasted - region))
  return out
