"""A toy recipe whose data are not images: a conditional WGAN-GP on short 2-D curves.

The curves are the trajectories of the right mouth corner (iBUG point 54) through SynthFaces'
neutral -> apex sequences, relative to the first frame, conditioned on the emotion. It pins the
generic trainer's contract with something other than GANimation: the recipe derives its own
examples from a dataset split on the host (``preprocess``: sequence -> curve + its SRVF), declares
that nothing is computed in bf16, returns a non-image pytree from ``sample``, draws it on the
host, and offers a ``sample_motion`` prediction that the ``motion`` evaluator scores on the SRVF
hypersphere. Not a test module (pytest collects ``test_*.py`` only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from PIL import Image, ImageDraw

from configs import common
from fxs_jax import losses
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor

MOUTH_CORNER = 54
NOISE = 8
EPS = 1e-6


def srvf(curve_BxTxD):
  """Square-root velocity function of curves sampled at T points on [0, 1]: q = v / sqrt(|v|)
  with v the (T - 1) finite differences times (T - 1), scaled to <q, q> = sum(q * q) / (T - 1)
  = 1 (jnp or np; an epsilon keeps it finite where the curve stands still)."""
  xp = jnp if isinstance(curve_BxTxD, jax.Array) else np
  steps = curve_BxTxD.shape[-2] - 1
  v = (curve_BxTxD[..., 1:, :] - curve_BxTxD[..., :-1, :]) * steps
  q = v / xp.sqrt(xp.sqrt(xp.sum(v * v, axis=-1, keepdims=True) + EPS))
  norm = xp.sqrt(xp.sum(q * q, axis=(-2, -1), keepdims=True) / steps)
  return q / (norm + EPS)


class Mlp(nnx.Module):
  def __init__(self, sizes, rngs: nnx.Rngs):
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x):
    for i, layer in enumerate(self.layers):
      x = layer(x)
      if i < len(self.layers) - 1:
        x = jax.nn.leaky_relu(x, 0.2)
    return x


class CurveGenerator(nnx.Module):
  """(noise B x 8, label B) -> curve (B, T, 2) in [-1, 1]."""

  def __init__(self, frames: int, classes: int, width: int, rngs: nnx.Rngs):
    self.frames, self.classes = frames, classes
    self.mlp = Mlp([NOISE + classes, width, width, frames * 2], rngs)

  def __call__(self, noise_BxZ, label_B):
    h = jnp.concatenate([noise_BxZ, jax.nn.one_hot(label_B, self.classes)], axis=-1)
    return jnp.tanh(self.mlp(h)).reshape(-1, self.frames, 2)


class CurveCritic(nnx.Module):
  """(curve B x T x 2, label B) -> score (B,)."""

  def __init__(self, frames: int, classes: int, width: int, rngs: nnx.Rngs):
    self.classes = classes
    self.mlp = Mlp([frames * 2 + classes, width, width, 1], rngs)

  def __call__(self, curve_BxTx2, label_B):
    flat = curve_BxTx2.reshape(curve_BxTx2.shape[0], -1)
    return self.mlp(jnp.concatenate([flat, jax.nn.one_hot(label_B, self.classes)], -1))[:, 0]


class ToyCurves(GANRecipe):
  """The recipe (config below): curves from sequences, WGAN-GP, drawn and scored on the host."""

  fields = augment.Fields(images=(), landmarks=())  # nothing to mirror
  compute_dtype_inputs = ()  # curves stay float32 under bf16 compute

  def build_generator(self, rngs):
    m = self.config.model
    return CurveGenerator(m.frames, m.num_classes, m.width, rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return CurveCritic(m.frames, m.num_classes, m.width, rngs)

  def preprocess(self, example, rng):
    """Sequence -> the mouth corner's curve relative to frame 0 (scaled by the image size) and
    its SRVF; the frames themselves are dropped."""
    del rng
    lms = np.asarray(example["landmarks"], np.float32)  # (T, 68, 2)
    size = np.asarray(example["frames"]).shape[-2]
    curve = (lms[:, MOUTH_CORNER] - lms[0, MOUTH_CORNER]) * (self.config.model.curve_scale / size)
    return {"curve": curve, "srvf": srvf(curve).astype(np.float32),
            "label": np.int32(example["emotion"]), "identity": np.int32(example["identity"])}

  def prepare_batch(self, batch, rng):
    noise = rng.normal(size=(len(batch["label"]), NOISE)).astype(np.float32)
    return {**batch, "noise": noise}

  def fakes_for_critic(self, gen, batch, key):
    del key
    return {"curve": gen(batch["noise"], batch["label"])}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    real, fake, label = batch["curve"], fakes["curve"], batch["label"]
    adv = losses.wgan_critic_loss(critic(real, label), critic(fake, label))
    gp = losses.gradient_penalty(lambda x: critic(x, label), real, fake, key)
    return adv + 10.0 * gp, {"critic/wasserstein": -adv, "critic/gp": gp}

  def generator_loss(self, gen, critic, batch, key):
    del key
    fake = gen(batch["noise"], batch["label"])
    adv = losses.wgan_generator_loss(critic(fake, batch["label"]))
    return adv, {"gen/adversarial": adv}

  def eval_metrics(self, gen, critic, batch, key):
    del key
    fake = gen(batch["noise"], batch["label"])
    return {"wasserstein": jnp.mean(critic(batch["curve"], batch["label"]))
                           - jnp.mean(critic(fake, batch["label"]))}

  def sample(self, gen, batch):
    return {"real": batch["curve"], "fake": gen(batch["noise"], batch["label"])}

  def render_samples(self, outputs, batch):
    """One 96 px panel per example: the real curve in green, the generated one in magenta."""
    del batch
    panels = []
    for real, fake in zip(outputs["real"], outputs["fake"]):
      img = Image.new("RGB", (96, 96), (255, 255, 255))
      draw = ImageDraw.Draw(img)
      for curve, colour in ((real, (0, 160, 60)), (fake, (200, 0, 160))):
        points = [(48 + 40 * x, 48 + 40 * y) for x, y in np.clip(curve, -1, 1)]
        draw.line(points, fill=colour, width=2)
      panels.append(np.asarray(img))
    return {"curves": viz.tile_grid(np.stack(panels)[None].astype(np.float32) / 127.5 - 1.0)}

  def predictors(self):
    return {"sample_motion": Predictor(compute=self._sample_motion, inputs=self.motion_inputs)}

  def _sample_motion(self, gen, batch):
    return srvf(gen(batch["noise"], batch["label"]))

  def motion_inputs(self, label, seed: int = 0) -> dict:
    """SRVFs of generated curves for the emotion class indices ``label``."""
    label = np.atleast_1d(np.asarray(label, np.int32))
    noise = np.random.default_rng(seed).normal(size=(len(label), NOISE)).astype(np.float32)
    return {"noise": noise, "label": label}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="toy_curves", dataset="synth_faces/sequences_smoke")
  config.num_train_steps = 40
  config.data.batch_size = 4
  config.data.num_threads = 1
  config.data.prefetch = 4
  config.optim.lr = 1e-3
  config.checkpoint.every_steps = 20
  config.logging.every_steps = 10
  config.logging.sample_every_steps = 20
  config.logging.eval_examples = 4
  config.logging.progress_bar = False
  config.eval.batch_size = 4
  m = config.model
  m.frames, m.num_classes, m.width = 8, 8, 32
  m.curve_scale = 12.0  # the mouth corner moves a few pixels at 32 px
  config.evals.motion = common.eval_spec("motion", predict="sample_motion", real="srvf",
                                         label="label")
  config.evals.critic = common.eval_spec("critic")
  return common.finalize(config, arg, {}, "tests/toy_curves.py")
