"""cWGAN-P3's MotionGAN networks: a conditional generator of SRVF motions and its critic.

A motion is the SRVF ``q_TxD`` of a landmark sequence (T frames of D = 68 * 2 normalised
coordinates; ``fxs_jax.geometry``), a point of the unit sphere ``<q, q> = sum(q * q) / T = 1``.
Both networks live in the tangent space at one fixed point, the Karcher mean mu of the training
SRVFs, which the generator holds as a non-trainable :class:`ReferencePoint` (saved and restored
with its weights, so a loaded generator carries its own mu).

Shapes follow the authors' TensorFlow successor code (``SRVF_WGAN.py`` of Motion3DGAN and
PredictiveMA-WGAN), with one layout change: they convolve the D x T SRVF matrix as a one-channel
*image* (3 x 3 and 5 x 5 kernels over coordinate index and time). Here the convolutions run along
time only, with the D coordinates as channels (kernel 3 / 5 over frames, every coordinate of the
face in each tap): in the 2-D layout the "vertical" neighbourhood is the iBUG index order (x and
y of consecutive points; the jaw's last point next to the first brow point), a locality the data
do not have. The time axis keeps the authors' structure: fully connected, then nearest-neighbour
x2 upsampling + 3-conv + ReLU blocks, a resize to exactly T frames, tanh.

* :class:`MotionGenerator`: ``(noise (B, 128), class (B,))`` -> tanh tangent vector at mu
  (scaled by ``tangent_scale``, projected onto the tangent space) -> ``exp_mu`` -> SRVF on the
  sphere. The one-hot class is concatenated to the input of every layer.
* :class:`MotionCritic`: ``(log_mu(q) (B, T, D), class (B,))`` -> score (B,): stride-2 5-convs,
  then fully connected layers. No batch norm (the authors' critic has it; WGAN-GP penalises each
  sample's own gradient, which batch statistics couple): none, or a per-sample layer norm.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fxs_jax import geometry
from fxs_jax.nn.init import gan_normal

CRITIC_NORMS = ("none", "layer")


class ReferencePoint(nnx.Variable):
  """The base point mu of the tangent space (the Karcher mean of the training SRVFs).

  Not an ``nnx.Param``: the optimisers leave it alone; it is part of the generator's
  non-parameter state, so checkpoints, exports and ``fxs_jax.load`` carry it.
  """


def fc_init(in_features: int, out_features: int) -> jax.nn.initializers.Initializer:
  """The authors' ``fc`` initialiser: N(0, (in * out) ** -1/4)."""
  return jax.nn.initializers.normal(stddev=float((in_features * out_features) ** -0.25))


def placeholder_reference(num_frames: int, dim: int) -> np.ndarray:
  """A unit SRVF standing in for mu until the data give one (a constant q: a straight line at
  constant speed); a trained or loaded generator always holds the data's Karcher mean."""
  return np.full((num_frames, dim), 1.0 / np.sqrt(dim), np.float32)


def with_label(x_BxTxC: jax.Array, onehot_BxK: jax.Array) -> jax.Array:
  """``x`` with the one-hot class appended as K constant channels (the authors' concat_label)."""
  tiled = jnp.broadcast_to(onehot_BxK[:, None, :].astype(x_BxTxC.dtype),
                           x_BxTxC.shape[:2] + onehot_BxK.shape[-1:])
  return jnp.concatenate([x_BxTxC, tiled], axis=-1)


def resize_time_nearest(x_BxTxC: jax.Array, length: int) -> jax.Array:
  """Nearest-neighbour resampling along time (TF's ``resize_nearest_neighbor``, no corner
  alignment): output frame t reads input frame ``floor(t * T_in / length)``."""
  source = (np.arange(length) * x_BxTxC.shape[1]) // length
  return x_BxTxC[:, source]


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int, use_bias: bool,
          rngs: nnx.Rngs) -> nnx.Conv:
  # TF 'SAME' padding and N(0, 0.02) kernels (the authors' truncated normal at 2 sigma differs
  # from it in the 5% tails only).
  return nnx.Conv(in_channels, out_channels, kernel_size=(kernel,), strides=(stride,),
                  padding="SAME", use_bias=use_bias, kernel_init=gan_normal(), rngs=rngs)


class MotionOutput(NamedTuple):
  tangent_BxTxD: jax.Array  # the tangent vector at mu (scaled, projected)
  srvf_BxTxD: jax.Array  # exp_mu(tangent): on the unit sphere


class MotionGenerator(nnx.Module):
  """(noise, class) -> a motion SRVF on the sphere, through the tangent space at mu.

  Layers (the authors' Generator along time): FC(noise ++ onehot -> T0 x C) + ReLU with
  ``T0 = num_frames // 2**num_up``; ``num_up`` blocks of nearest x2 upsampling, 3-conv halving
  the channels, ReLU; nearest resize to ``num_frames``, 3-conv, ReLU; 3-conv to D, tanh. The
  one-hot class joins the input of every layer; the convs have no bias (the authors'
  ``custom_conv2d``).
  """

  def __init__(self, num_frames: int, dim: int, num_classes: int, *, noise_dim: int = 128,
               base_channels: int = 512, num_up: int = 2, tangent_scale: float = 1.0,
               rngs: nnx.Rngs, reference_TxD: np.ndarray | None = None):
    if num_frames < 2 or num_frames // 2 ** num_up < 1:
      raise ValueError(f"num_frames {num_frames} must be >= 2 and >= 2**num_up = {2 ** num_up}.")
    if base_channels // 2 ** (num_up + 1) < 1:
      raise ValueError(f"base_channels {base_channels} must be >= 2**(num_up + 1) = "
                       f"{2 ** (num_up + 1)}.")
    self.num_frames, self.dim, self.num_classes = num_frames, dim, num_classes
    self.noise_dim, self.tangent_scale = noise_dim, tangent_scale
    self.start_frames, self.base_channels = num_frames // 2 ** num_up, base_channels
    reference = placeholder_reference(num_frames, dim) if reference_TxD is None else reference_TxD
    if np.shape(reference) != (num_frames, dim):
      raise ValueError(f"the reference SRVF must be ({num_frames}, {dim}), got "
                       f"{np.shape(reference)}.")
    self.reference = ReferencePoint(jnp.asarray(reference, jnp.float32))
    fc_in, fc_out = noise_dim + num_classes, self.start_frames * base_channels
    self.fc = nnx.Linear(fc_in, fc_out, kernel_init=fc_init(fc_in, fc_out), rngs=rngs)
    channels = [base_channels // 2 ** i for i in range(num_up + 2)]
    self.ups = nnx.List([_conv(c_in + num_classes, c_out, 3, 1, False, rngs)
                         for c_in, c_out in zip(channels[:-1], channels[1:])])
    self.out = _conv(channels[-1] + num_classes, dim, 3, 1, False, rngs)

  def raw(self, noise_BxZ: jax.Array, label_B: jax.Array) -> jax.Array:
    """The network's tanh output (B, T, D), before scaling and projection."""
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=noise_BxZ.dtype)
    h = jax.nn.relu(self.fc(jnp.concatenate([noise_BxZ, onehot], axis=-1)))
    h = h.reshape(h.shape[0], self.start_frames, self.base_channels)
    for i, conv in enumerate(self.ups):
      last = i == len(self.ups) - 1  # the block at exactly num_frames
      h = resize_time_nearest(h, self.num_frames if last else 2 * h.shape[1])
      h = jax.nn.relu(conv(with_label(h, onehot)))
    return jnp.tanh(self.out(with_label(h, onehot)))

  def __call__(self, noise_BxZ: jax.Array, label_B: jax.Array) -> MotionOutput:
    """The tangent vector ``v = P_mu(tangent_scale * raw)`` and the SRVF ``exp_mu(v)``.

    The projection ``P_mu(v) = v - <mu, v> mu`` is ours: the authors feed the raw output to
    exp, whose result then leaves the sphere by the component along mu.
    """
    mu = self.reference[...].astype(jnp.float32)
    raw = self.raw(noise_BxZ, label_B).astype(jnp.float32)
    tangent = geometry.project_to_tangent(self.tangent_scale * raw, mu)
    return MotionOutput(tangent, geometry.exp_map(tangent, mu))


class MotionCritic(nnx.Module):
  """(log-mapped SRVF (B, T, D), class (B,)) -> score (B,).

  The authors' Discriminator along time: the one-hot class appended to the input; stride-2
  5-convs with ``channels`` (theirs: 64, 32, 16), ReLU; FC to ``hidden`` (1024), LeakyReLU(0.2);
  FC to 1. ``norm="layer"`` adds a per-sample layer norm after each conv and the hidden FC where
  the authors have batch norm; "none" (default) has nothing there. The class is also appended
  to the hidden FC's input (a stronger condition than the input alone, cheap).
  """

  def __init__(self, num_frames: int, dim: int, num_classes: int, *,
               channels: tuple[int, ...] = (64, 32, 16), hidden: int = 1024,
               kernel: int = 5, norm: str = "none", rngs: nnx.Rngs):
    if norm not in CRITIC_NORMS:
      raise ValueError(f"critic norm must be one of {CRITIC_NORMS}, got {norm!r}.")
    self.num_classes = num_classes
    convs, norms, c_in, frames = [], [], dim + num_classes, num_frames
    for c in channels:
      convs.append(_conv(c_in, c, kernel, 2, True, rngs))
      norms.append(nnx.LayerNorm(c, rngs=rngs) if norm == "layer" else None)
      c_in, frames = c, -(-frames // 2)  # 'SAME' stride 2: ceil
    self.convs, self.norms = nnx.List(convs), nnx.List(norms)
    fc_in = frames * c_in + num_classes
    self.hidden = nnx.Linear(fc_in, hidden, kernel_init=fc_init(fc_in, hidden), rngs=rngs)
    self.hidden_norm = nnx.LayerNorm(hidden, rngs=rngs) if norm == "layer" else None
    self.score = nnx.Linear(hidden, 1, kernel_init=fc_init(hidden, 1), rngs=rngs)

  def __call__(self, log_BxTxD: jax.Array, label_B: jax.Array) -> jax.Array:
    onehot = jax.nn.one_hot(label_B, self.num_classes, dtype=log_BxTxD.dtype)
    h = with_label(log_BxTxD, onehot)
    for conv, norm in zip(self.convs, self.norms):
      h = conv(h)
      h = jax.nn.relu(norm(h) if norm is not None else h)
    h = jnp.concatenate([h.reshape(h.shape[0], -1), onehot], axis=-1)
    h = self.hidden(h)
    h = jax.nn.leaky_relu(self.hidden_norm(h) if self.hidden_norm is not None else h, 0.2)
    return self.score(h)[:, 0]
