"""StarGAN (Choi et al., CVPR 2018) as its official code trains it on RaFD: the baseline LGP-GAN
and GANimation are compared with.

With ``fake = G(x, c_target)`` and ``rec = G(fake, c_orig)``:
Critic: ``mean D(fake) - mean D(real) + lambda_cls * CE(D_cls(real), c_orig) + lambda_gp * GP``.
Generator: ``-mean D(fake) + lambda_cls * CE(D_cls(fake), c_target) + lambda_rec * L1(rec, x)``.
Targets: uniform over the classes other than the example's own (the official code shuffles the
batch's labels; on RaFD both draw from the eight classes). With ``model.lambda_truth > 0``
(SynthFaces only, not the paper): a same-identity example's class, and the generator adds
``lambda_truth * L1(fake, that example's image)`` (+ ``model.changed_truth_weight``'s term), as
the ``:demo`` of GANimation and LGP-GAN do, so that the baseline is trained like them.
"""

from __future__ import annotations

import jax.numpy as jnp

from fxs_jax import losses
from fxs_jax.models import stargan as nets
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor
from fxs_jax.recipes.editing import classification_loss


class StarGAN(editing.ClassEditingRecipe):
  """The recipe: one generator for every class, a critic with a class head."""

  title = "StarGAN"
  truth_terms = True

  def build_generator(self, rngs):
    m = self.config.model
    return nets.Generator(m.image_size, self.num_classes, m.gen_base_channels,
                          m.gen_num_res_blocks, upsample=self.upsample, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.Critic(m.image_size, self.num_classes, m.critic_base_channels,
                       m.critic_num_layers, rngs=rngs)

  def edit(self, gen, image, labels):
    """``image`` edited towards class ``labels`` (B,) int."""
    return gen(image, self.one_hot(labels))

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
    cls = classification_loss(real_out.logits_BxK, batch["emotion"])
    gp = losses.gradient_penalty(lambda x: critic(x).map_BxhxWx1, real, fake, key)
    loss = adv + m.lambda_cls * cls + m.lambda_gp * gp
    return loss, {"critic/wasserstein": -adv, "critic/cls": cls, "critic/gp": gp}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    real = batch["image"]
    fake = self.edit(gen, real, batch["target_emotion"])
    rec = self.edit(gen, fake, batch["emotion"])
    judged = critic(fake)
    terms = {
        "gen/adversarial": losses.wgan_generator_loss(judged.map_BxhxWx1),
        "gen/cls": m.lambda_cls * classification_loss(judged.logits_BxK, batch["target_emotion"]),
        "gen/cycle": m.lambda_rec * losses.l1_loss(rec, real),
        **self.edit_truth_terms(fake, batch),
    }
    return sum(terms.values()), terms

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3) in [-1, 1]: input | its own class | each of
    ``SAMPLE_EMOTIONS``."""
    return self.class_grid(lambda images, labels: self.edit(gen, images, labels), batch)

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out: the critic's class accuracy on edits (vs the target) and on real images (vs the
    true class), and the cycle error."""
    del key
    real, labels, target = batch["image"], batch["emotion"], batch["target_emotion"]
    fake = self.edit(gen, real, target)
    rec = self.edit(gen, fake, labels)
    return {**self.class_accuracies(critic, fake, real, labels, target),
            "cycle_l1": jnp.mean(jnp.abs(rec - real))}

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"edit": Predictor(compute=self._edit_outputs, inputs=self.edit_inputs,
                              conditions=("emotion",))}

  def _edit_outputs(self, gen, batch):
    return {"image": gen(batch["image"], self.condition(batch))}
