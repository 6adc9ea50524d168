"""AttGAN (He et al., TIP 2019) as its official code trains it on CelebA, with SynthFaces' (or
RaFD's) eight expression classes as the attributes: a baseline LGP-GAN is compared with.

Attributes: ``a`` is the one-hot of the example's class, ``b`` that of its target (the classes
are mutually exclusive; each is still its own binary attribute, as AttGAN's CelebA attributes).
The generator reads a class vector ``v`` as ``(v * 2 - 1) * thres_int`` (``model.thres_int``,
0.5: +-0.5). With ``z = Genc(x)``, ``fake = Gdec(z, b)`` and ``rec = Gdec(z, a)`` (the input
decoded with its own attributes; no cycle):
Critic: ``mean D(fake) - mean D(real) + lambda_gp * GP + lambda_critic_cls * BCE(D_cls(real), a)``.
Generator: ``-mean D(fake) + lambda_gen_cls * BCE(D_cls(fake), b) + lambda_rec * L1(rec, x)``.
BCE is the sigmoid cross-entropy of each attribute, averaged over attributes and batch
(``tf.losses.sigmoid_cross_entropy``). Targets: uniform over the classes other than the
example's own (the official code shuffles the batch's attribute vectors, so an example may keep
its own). With ``model.lambda_truth > 0`` (SynthFaces only, not the paper): a same-identity
example's class, and the generator adds ``lambda_truth * L1(fake, that example's image)``
(+ ``model.changed_truth_weight``'s term), as StarGAN's ``:demo``.

The generator's batch norms normalise with the batch's statistics while training (their running
averages move with the generator's updates) and with the running averages in the samples, the
eval metrics and the predictions (the official code's ``is_training=False``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from fxs_jax import losses
from fxs_jax.errors import UserError
from fxs_jax.models import attgan as nets
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor


def attribute_loss(logits_BxK: jax.Array, attributes_BxK: jax.Array) -> jax.Array:
  """Mean sigmoid cross-entropy of 0/1 ``attributes`` over attributes and batch (AttGAN's
  ``sigmoid_cross_entropy`` / ``F.binary_cross_entropy_with_logits``)."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits_BxK, attributes_BxK))


class AttGAN(editing.ClassEditingRecipe):
  """The recipe: an encoder-decoder generator for every class, a critic with an attribute
  head."""

  title = "AttGAN"
  truth_terms = True

  def __init__(self, config):
    super().__init__(config)
    self.thres_int = float(config.model.thres_int)
    if not 0 < self.thres_int < float("inf"):
      raise UserError(f"model.thres_int must be > 0 and finite, got {self.thres_int}.")

  def build_generator(self, rngs):
    m = self.config.model
    return nets.Generator(m.image_size, self.num_classes, m.gen_base_channels,
                          m.gen_num_layers, m.shortcut_layers, m.inject_layers,
                          upsample=self.upsample, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.Critic(m.image_size, self.num_classes, m.critic_base_channels,
                       m.critic_num_layers, m.critic_fc_dim, rngs=rngs)

  def attributes(self, classes_BxK: jax.Array) -> jax.Array:
    """The generator's attribute input of class vectors (one-hots or blends):
    ``(v * 2 - 1) * thres_int``."""
    return (classes_BxK * 2.0 - 1.0) * self.thres_int

  def edit(self, gen, image, labels):
    """``image`` edited towards class ``labels`` (B,) int."""
    return gen(image, self.attributes(self.one_hot(labels)))

  # ---- losses --------------------------------------------------------------------------------
  def fakes_for_critic(self, gen, batch, key):
    del key
    return {"image": self.edit(gen, batch["image"], batch["target_emotion"])}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    m = self.config.model
    real, fake = batch["image"], fakes["image"]
    real_out, fake_out = critic(real), critic(fake)
    adv = losses.wgan_critic_loss(real_out.map_BxhxWx1, fake_out.map_BxhxWx1)
    cls = attribute_loss(real_out.logits_BxK, self.one_hot(batch["emotion"]))
    gp = losses.gradient_penalty(lambda x: critic(x).map_BxhxWx1, real, fake, key)
    loss = adv + m.lambda_gp * gp + m.lambda_critic_cls * cls
    return loss, {"critic/wasserstein": -adv, "critic/cls": cls, "critic/gp": gp}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    real = batch["image"]
    zs = gen.encode(real)
    fake = gen.decode(zs, self.attributes(self.one_hot(batch["target_emotion"])))
    rec = gen.decode(zs, self.attributes(self.one_hot(batch["emotion"])))
    judged = critic(fake)
    terms = {
        "gen/adversarial": losses.wgan_generator_loss(judged.map_BxhxWx1),
        "gen/cls": m.lambda_gen_cls * attribute_loss(judged.logits_BxK,
                                                     self.one_hot(batch["target_emotion"])),
        "gen/reconstruction": m.lambda_rec * losses.l1_loss(rec, real),
        **self.edit_truth_terms(fake, batch),
    }
    return sum(terms.values()), terms

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3) in [-1, 1]: input | its own class (the reconstruction) | each
    of ``SAMPLE_EMOTIONS``; batch norms on their running averages."""
    gen = frozen(gen)
    return self.class_grid(lambda images, labels: self.edit(gen, images, labels), batch)

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out: the critic's class accuracy (argmax of its attribute logits) on edits (vs the
    target) and on real images (vs the true class), and the reconstruction's L1."""
    del key
    gen = frozen(gen)
    real, labels, target = batch["image"], batch["emotion"], batch["target_emotion"]
    fake = self.edit(gen, real, target)
    rec = self.edit(gen, real, labels)
    return {**self.class_accuracies(critic, fake, real, labels, target),
            "reconstruction_l1": jnp.mean(jnp.abs(rec - real))}

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"edit": Predictor(compute=self._edit_outputs, inputs=self.edit_inputs,
                              conditions=("emotion",))}

  def _edit_outputs(self, gen, batch):
    return {"image": frozen(gen)(batch["image"], self.attributes(self.condition(batch)))}
