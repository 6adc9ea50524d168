"""The FID Inception network (InceptionV3, TF graph 2015-12-05) in Flax NNX, and its weight files.

The architecture is pytorch-fid's ``fid_inception_v3``: torchvision's InceptionV3 without the
auxiliary head, a 1008-way ``fc``, and the TF graph's quirks (``FIDInceptionA/C/E_1/E_2``): the
branch average pools of Mixed_5b..Mixed_7b ignore the zero padding (``count_include_pad=False``)
and Mixed_7c pools its branch with a *max* pool. Inputs in [0, 1] are resized bilinearly to
299x299 (``align_corners=False``, no antialiasing) and scaled to [-1, 1], as pytorch-fid does.
BatchNorm (eps 1e-3) always uses the stored statistics.

Attribute names equal the PyTorch module names, so a state_dict key maps mechanically onto a
param path (see ``README_inception.md``): ``Mixed_6b.branch7x7_2.conv.weight`` (OIHW) is
``Mixed_6b.branch7x7_2.conv.kernel`` (HWIO); ``<...>.bn.{weight, bias, running_mean,
running_var}`` are ``<...>.bn.{scale, bias, mean, var}``; ``fc.weight`` (1008x2048) is the
transpose of ``fc.kernel``. ``num_batches_tracked`` buffers are ignored.

Weight files (never downloaded here): pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``
(a ``torch.save``d state_dict, zip or legacy format, read without torch by a restricted
unpickler) or an ``.npz`` with the same keys and PyTorch layouts.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fxs_jax.errors import UserError
from fxs_jax.eval.torch_checkpoint import read_state_dict  # pylint: disable=unused-import

INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048


def _pair(v) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


class BasicConv2d(nnx.Module):
  """Conv without bias, BatchNorm (eps 1e-3, stored statistics), ReLU: torchvision's block."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride: int = 1,
               padding=0, rngs: nnx.Rngs):
    pad_h, pad_w = _pair(padding)
    self.conv = nnx.Conv(in_channels, out_channels, _pair(kernel_size), strides=stride,
                         padding=((pad_h, pad_h), (pad_w, pad_w)), use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(out_channels, epsilon=1e-3, use_running_average=True, rngs=rngs)

  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    return jax.nn.relu(self.bn(self.conv(x_BxHxWxC)))


def avg_pool_3x3_exclude_pad(x_BxHxWxC: jax.Array) -> jax.Array:
  """TF's 3x3/1 'SAME' average pool: the zero padding is not counted in the mean."""
  return nnx.avg_pool(x_BxHxWxC, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                      count_include_pad=False)


def max_pool_3x3(x_BxHxWxC: jax.Array, stride: int, padding: int = 0) -> jax.Array:
  """3x3 max pool; padding (if any) is -inf, as in ``torch.nn.functional.max_pool2d``."""
  return nnx.max_pool(x_BxHxWxC, (3, 3), strides=(stride, stride),
                      padding=((padding, padding), (padding, padding)))


class InceptionA(nnx.Module):
  """Mixed_5b/5c/5d (pytorch-fid's FIDInceptionA)."""

  def __init__(self, in_channels: int, pool_features: int, *, rngs: nnx.Rngs):
    conv = functools.partial(BasicConv2d, rngs=rngs)
    self.branch1x1 = conv(in_channels, 64, 1)
    self.branch5x5_1 = conv(in_channels, 48, 1)
    self.branch5x5_2 = conv(48, 64, 5, padding=2)
    self.branch3x3dbl_1 = conv(in_channels, 64, 1)
    self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
    self.branch3x3dbl_3 = conv(96, 96, 3, padding=1)
    self.branch_pool = conv(in_channels, pool_features, 1)

  def __call__(self, x):
    return jnp.concatenate([
        self.branch1x1(x),
        self.branch5x5_2(self.branch5x5_1(x)),
        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
        self.branch_pool(avg_pool_3x3_exclude_pad(x)),
    ], axis=-1)


class InceptionB(nnx.Module):
  """Mixed_6a: the 35 -> 17 reduction."""

  def __init__(self, in_channels: int, *, rngs: nnx.Rngs):
    conv = functools.partial(BasicConv2d, rngs=rngs)
    self.branch3x3 = conv(in_channels, 384, 3, stride=2)
    self.branch3x3dbl_1 = conv(in_channels, 64, 1)
    self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
    self.branch3x3dbl_3 = conv(96, 96, 3, stride=2)

  def __call__(self, x):
    return jnp.concatenate([
        self.branch3x3(x),
        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
        max_pool_3x3(x, stride=2),
    ], axis=-1)


class InceptionC(nnx.Module):
  """Mixed_6b..6e (pytorch-fid's FIDInceptionC): factorised 7x7 convolutions."""

  def __init__(self, in_channels: int, channels_7x7: int, *, rngs: nnx.Rngs):
    conv = functools.partial(BasicConv2d, rngs=rngs)
    c7 = channels_7x7
    self.branch1x1 = conv(in_channels, 192, 1)
    self.branch7x7_1 = conv(in_channels, c7, 1)
    self.branch7x7_2 = conv(c7, c7, (1, 7), padding=(0, 3))
    self.branch7x7_3 = conv(c7, 192, (7, 1), padding=(3, 0))
    self.branch7x7dbl_1 = conv(in_channels, c7, 1)
    self.branch7x7dbl_2 = conv(c7, c7, (7, 1), padding=(3, 0))
    self.branch7x7dbl_3 = conv(c7, c7, (1, 7), padding=(0, 3))
    self.branch7x7dbl_4 = conv(c7, c7, (7, 1), padding=(3, 0))
    self.branch7x7dbl_5 = conv(c7, 192, (1, 7), padding=(0, 3))
    self.branch_pool = conv(in_channels, 192, 1)

  def __call__(self, x):
    seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    dbl = x
    for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                  self.branch7x7dbl_4, self.branch7x7dbl_5):
      dbl = layer(dbl)
    return jnp.concatenate(
        [self.branch1x1(x), seven, dbl, self.branch_pool(avg_pool_3x3_exclude_pad(x))], axis=-1)


class InceptionD(nnx.Module):
  """Mixed_7a: the 17 -> 8 reduction."""

  def __init__(self, in_channels: int, *, rngs: nnx.Rngs):
    conv = functools.partial(BasicConv2d, rngs=rngs)
    self.branch3x3_1 = conv(in_channels, 192, 1)
    self.branch3x3_2 = conv(192, 320, 3, stride=2)
    self.branch7x7x3_1 = conv(in_channels, 192, 1)
    self.branch7x7x3_2 = conv(192, 192, (1, 7), padding=(0, 3))
    self.branch7x7x3_3 = conv(192, 192, (7, 1), padding=(3, 0))
    self.branch7x7x3_4 = conv(192, 192, 3, stride=2)

  def __call__(self, x):
    seven = x
    for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                  self.branch7x7x3_4):
      seven = layer(seven)
    return jnp.concatenate(
        [self.branch3x3_2(self.branch3x3_1(x)), seven, max_pool_3x3(x, stride=2)], axis=-1)


class InceptionE(nnx.Module):
  """Mixed_7b (``pool='avg'``, FIDInceptionE_1) and Mixed_7c (``pool='max'``, FIDInceptionE_2).

  The max pool in Mixed_7c is a quirk of the 2015 TF graph that FID scores depend on.
  """

  def __init__(self, in_channels: int, pool: str, *, rngs: nnx.Rngs):
    if pool not in ("avg", "max"):
      raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
    conv = functools.partial(BasicConv2d, rngs=rngs)
    self.pool = pool
    self.branch1x1 = conv(in_channels, 320, 1)
    self.branch3x3_1 = conv(in_channels, 384, 1)
    self.branch3x3_2a = conv(384, 384, (1, 3), padding=(0, 1))
    self.branch3x3_2b = conv(384, 384, (3, 1), padding=(1, 0))
    self.branch3x3dbl_1 = conv(in_channels, 448, 1)
    self.branch3x3dbl_2 = conv(448, 384, 3, padding=1)
    self.branch3x3dbl_3a = conv(384, 384, (1, 3), padding=(0, 1))
    self.branch3x3dbl_3b = conv(384, 384, (3, 1), padding=(1, 0))
    self.branch_pool = conv(in_channels, 192, 1)

  def __call__(self, x):
    three = self.branch3x3_1(x)
    dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
    pooled = (max_pool_3x3(x, stride=1, padding=1) if self.pool == "max"
              else avg_pool_3x3_exclude_pad(x))
    return jnp.concatenate([
        self.branch1x1(x),
        self.branch3x3_2a(three), self.branch3x3_2b(three),
        self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
        self.branch_pool(pooled),
    ], axis=-1)


def resize_bilinear(images_BxHxWxC: jax.Array, size: int) -> jax.Array:
  """``F.interpolate(mode='bilinear', align_corners=False)``: half-pixel centres, no antialias."""
  batch, height, width, channels = images_BxHxWxC.shape
  if (height, width) == (size, size):
    return images_BxHxWxC
  return jax.image.resize(images_BxHxWxC, (batch, size, size, channels), method="bilinear",
                          antialias=False)


class InceptionV3(nnx.Module):
  """pytorch-fid's FID InceptionV3: images in [0, 1] -> (pool3 features, 1008 logits).

  ``InceptionV3(rngs)`` draws a random init (slow on CPU: ~30 s on 2 cores, one XLA compile per
  kernel shape); use :func:`load_inception` for the real network, which skips it.
  """

  def __init__(self, rngs: nnx.Rngs, *, input_size: int = INPUT_SIZE):
    conv = functools.partial(BasicConv2d, rngs=rngs)
    self.input_size = input_size
    self.Conv2d_1a_3x3 = conv(3, 32, 3, stride=2)
    self.Conv2d_2a_3x3 = conv(32, 32, 3)
    self.Conv2d_2b_3x3 = conv(32, 64, 3, padding=1)
    self.Conv2d_3b_1x1 = conv(64, 80, 1)
    self.Conv2d_4a_3x3 = conv(80, 192, 3)
    self.Mixed_5b = InceptionA(192, pool_features=32, rngs=rngs)
    self.Mixed_5c = InceptionA(256, pool_features=64, rngs=rngs)
    self.Mixed_5d = InceptionA(288, pool_features=64, rngs=rngs)
    self.Mixed_6a = InceptionB(288, rngs=rngs)
    self.Mixed_6b = InceptionC(768, channels_7x7=128, rngs=rngs)
    self.Mixed_6c = InceptionC(768, channels_7x7=160, rngs=rngs)
    self.Mixed_6d = InceptionC(768, channels_7x7=160, rngs=rngs)
    self.Mixed_6e = InceptionC(768, channels_7x7=192, rngs=rngs)
    self.Mixed_7a = InceptionD(768, rngs=rngs)
    self.Mixed_7b = InceptionE(1280, pool="avg", rngs=rngs)
    self.Mixed_7c = InceptionE(2048, pool="max", rngs=rngs)
    self.fc = nnx.Linear(FEATURE_DIM, NUM_CLASSES, rngs=rngs)

  def __call__(self, images_BxHxWx3: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns ``(pool_Bx2048, logits_Bx1008)``; input values in [0, 1], any size."""
    x = resize_bilinear(jnp.asarray(images_BxHxWx3, jnp.float32), self.input_size)
    x = 2.0 * x - 1.0
    x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
    x = max_pool_3x3(x, stride=2)
    x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
    x = max_pool_3x3(x, stride=2)
    for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                  self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                  self.Mixed_7c):
      x = block(x)
    pool_Bx2048 = x.mean(axis=(1, 2))
    return pool_Bx2048, self.fc(pool_Bx2048)  # dropout is the identity at inference


def make_apply(model: InceptionV3) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
  """A jitted ``images -> (pool, logits)`` over the split state (no object-graph walk per call)."""
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda s, images: nnx.merge(graphdef, s)(images))
  return functools.partial(forward, state)


# ---- PyTorch state_dict names <-> Flax params -------------------------------------------------

_TORCH_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
               "var": "running_var"}


def _to_torch_layout(value: np.ndarray) -> np.ndarray:
  if value.ndim == 4:  # conv HWIO -> OIHW
    return value.transpose(3, 2, 0, 1)
  return value.T if value.ndim == 2 else value  # fc (in, out) -> (out, in)


def _from_torch_layout(value: np.ndarray) -> np.ndarray:
  if value.ndim == 4:  # conv OIHW -> HWIO
    return value.transpose(2, 3, 1, 0)
  return value.T if value.ndim == 2 else value


def _torch_name(path) -> str:
  return ".".join([str(p) for p in path[:-1]] + [_TORCH_LEAF[path[-1]]])


def to_state_dict(model_or_state) -> dict[str, np.ndarray]:
  """The params and BN statistics under pytorch-fid's state_dict names, in PyTorch layouts."""
  state = nnx.state(model_or_state) if isinstance(model_or_state, nnx.Module) else model_or_state
  return {_torch_name(path): np.ascontiguousarray(_to_torch_layout(np.asarray(var.get_value())))
          for path, var in nnx.to_flat_state(state)}


@functools.cache
def _abstract_split(input_size: int = INPUT_SIZE):
  # Tracing the constructor takes seconds (and a random init ~30 s on 2 CPU cores, one XLA
  # compile per kernel shape), so loaders build the shapes once and never draw random numbers.
  return nnx.split(nnx.eval_shape(lambda: InceptionV3(nnx.Rngs(0), input_size=input_size)))


def state_from_state_dict(state_dict: dict[str, np.ndarray], source: str = "state_dict"):
  """An InceptionV3 ``nnx.State`` from a PyTorch-named dict; raises UserError on a mismatch."""
  flat = []
  expected = set()
  for path, var in nnx.to_flat_state(_abstract_split()[1]):
    name = _torch_name(path)
    expected.add(name)
    if name not in state_dict:
      raise UserError(f"{source}: missing key {name} (is this pytorch-fid's FID Inception?)")
    value = np.asarray(state_dict[name])
    want = _to_torch_layout(np.empty(var.shape, np.uint8)).shape
    if value.shape != want:
      raise UserError(f"{source}: {name} has shape {value.shape}, expected {want}")
    if not np.issubdtype(value.dtype, np.floating):
      raise UserError(f"{source}: {name} has dtype {value.dtype}, expected a float dtype")
    flat.append((path, var.replace(value=jnp.asarray(_from_torch_layout(value), jnp.float32))))
  unexpected = sorted(k for k in state_dict
                      if k not in expected and not k.endswith("num_batches_tracked"))
  if unexpected:
    raise UserError(f"{source}: unexpected key {unexpected[0]} (and {len(unexpected) - 1} more); "
                    "expected pytorch-fid's FID Inception state_dict")
  return nnx.from_flat_state(flat)


# ---- Reading torch.save files without torch ---------------------------------------------------

def load_weights(path: str):
  """The ``nnx.State`` of :class:`InceptionV3` from a weights file (see module docstring)."""
  return state_from_state_dict(read_state_dict(path), source=os.fspath(path))


def load_inception(path: str, *, input_size: int = INPUT_SIZE) -> InceptionV3:
  """An :class:`InceptionV3` holding the weights in ``path``."""
  return nnx.merge(_abstract_split(input_size)[0], load_weights(path))
