"""CycleGAN (Zhu et al., ICCV 2017) as its official code trains it: one model per pair of
expression domains, the baseline GANimation compares its discrete emotion edits with (one
CycleGAN from neutral to each expression).

Domains: ``model.domain_a`` (default neutral) and ``model.domain_b`` (default happy), names of
``fxs_jax.facs.EMOTIONS``. Training examples are unpaired (``fxs_jax.data.domain_pairs``): an A
image beside an independently drawn B image, any identity, as the paper trains. With
``fake_B = G_AB(A)``, ``rec_A = G_BA(fake_B)``, ``fake_A = G_BA(B)``, ``rec_B = G_AB(fake_A)``
(LSGAN, MSE to 1 for real and 0 for fake):

Critic: ``0.5 mean (D_B(B) - 1)^2 + 0.5 mean D_B(pool_B(fake_B))^2`` + the same for ``D_A``
with ``A`` and ``pool_A(fake_A)`` (one Adam over both, as the official ``optimizer_D``); the pools
are the official image history of ``model.pool_size`` fakes (``fxs_jax.models.cyclegan``).
Generator: ``mean (D_B(fake_B) - 1)^2 + mean (D_A(fake_A) - 1)^2 + lambda_a L1(rec_A, A) +
lambda_b L1(rec_B, B) + lambda_identity (lambda_b L1(G_AB(B), B) + lambda_a L1(G_BA(A), A))``.
With ``model.lambda_truth > 0`` (SynthFaces only, not the paper) the train split is read as
same-identity (A, B) pairs instead, each the exact translation of the other, and the generator
adds ``lambda_truth * (L1(fake_B, B) + L1(fake_A, A))`` (+ ``model.changed_truth_weight``'s terms),
as the ``:demo`` runs of the other editors do.

The trainer updates the critic first, on fakes of the current generators, then the generators;
the official code updates the generators first and then the discriminators on the fakes made
before that update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fxs_jax import facs
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax.data import augment
from fxs_jax.data import domain_pairs
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.models import cyclegan as nets
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor

_A_FIELDS = augment.Fields(images=("image",), landmarks=("landmarks",))


def domain_label(name: str, key: str) -> int:
  """The label of ``config.<key>``, an expression name, with a one-line error naming them."""
  if name not in facs.EMOTIONS:
    raise UserError(f"{key} must be one of {', '.join(facs.EMOTIONS)}, got {name!r}.")
  return facs.EMOTIONS.index(name)


class CycleGAN(editing.EditingRecipe):
  """The recipe: two generators (A -> B, B -> A) and two discriminators, one domain pair."""

  title = "CycleGAN"
  truth_terms = True
  fields = augment.Fields(images=("image", "image" + domain_pairs.B_SUFFIX),
                          landmarks=("landmarks", "landmarks" + domain_pairs.B_SUFFIX))
  compute_dtype_inputs = ("image", "image_b")

  def __init__(self, config):
    super().__init__(config)
    m = config.model
    self.domain_a, self.domain_b = m.domain_a, m.domain_b
    self.label_a = domain_label(m.domain_a, "model.domain_a")
    self.label_b = domain_label(m.domain_b, "model.domain_b")
    if self.label_a == self.label_b:
      raise UserError(f"model.domain_a and model.domain_b are both {m.domain_a!r}: CycleGAN "
                      "translates between two different expressions.")
    self._examples = {}  # split -> (source, its DomainPairs): each split's labels read once

  def build_generator(self, rngs):
    m = self.config.model
    return nets.CycleGenerator(m.image_size, m.gen_base_channels, m.gen_num_res_blocks,
                               upsample=self.upsample, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.CycleCritic(m.image_size, m.critic_base_channels, m.critic_num_layers,
                            m.pool_size, rngs=rngs)

  # ---- data ----------------------------------------------------------------------------------
  def examples(self, source, split):
    """(A, B) elements (``domain_pairs.DomainPairs``): unpaired, or same-identity pairs on the
    train split with ``model.lambda_truth > 0``."""
    cached = self._examples.get(split)
    if cached is None or cached[0] is not source:
      paired = self.lambda_truth > 0 and split == self.config.data.train_split
      cached = self._examples[split] = (source, domain_pairs.DomainPairs(
          source, self.label_a, self.label_b, same_identity=paired, split=repr(split)))
    return cached[1]

  def preprocess(self, example, rng):
    """The A and B images each mirrored on its own draw (the official loader transforms them
    apart); a plain still (the evaluators' examples) as the A side alone."""
    flip = rng is not None and self.config.data.flip
    suffix = domain_pairs.B_SUFFIX
    side_b = {k[:-len(suffix)]: v for k, v in example.items() if k.endswith(suffix)}
    out = augment.preprocess({k: v for k, v in example.items() if not k.endswith(suffix)},
                             _A_FIELDS, flip and rng.random() < 0.5)
    if side_b:
      side_b = augment.preprocess(side_b, _A_FIELDS, flip and rng.random() < 0.5)
      out.update({k + suffix: v for k, v in side_b.items()})
    return out

  def prepare_batch(self, batch, rng):
    del rng
    return {"image": batch["image"], "image_b": batch["image_b"]}

  def eval_batches(self, source, split, batch_size, seed, limit=None):
    """As the base recipe's, over one epoch of the split's (A, B) elements at most (every A and
    every B image once: ``DomainPairs.epoch``), not their nA x nB combinations."""
    epoch = self.examples(source, split).epoch
    yield from super().eval_batches(source, split, batch_size, seed,
                                    min(limit or epoch, epoch))

  def sample_batch(self, source, split, count, seed):
    """The first ``count`` (A, B) elements: every A image of the split in turn, each beside
    another B image."""
    del seed
    examples = self.examples(source, split)
    chosen = [self.preprocess(examples[i % len(examples)], None) for i in range(count)]
    return self.prepare_batch({k: np.stack([e[k] for e in chosen]) for k in chosen[0]}, None)

  def sample_indices(self, source, count):
    """``--mode=generate``'s inputs: ``count`` examples of domain A (varied identities)."""
    if not len(source) or "emotion" not in source[0]:
      return pipeline.varied_indices(source, count)
    a = [i for i in range(len(source)) if int(source[i]["emotion"]) == self.label_a]
    if not a:
      raise UserError(f"The split has no {self.domain_a} face for CycleGAN to translate to "
                      f"{self.domain_b}.")
    return np.asarray([a[i % len(a)] for i in range(count)], np.int64)

  # ---- losses --------------------------------------------------------------------------------
  def fakes_for_critic(self, gen, batch, key):
    del key
    return {"fake_b": gen.g_ab(batch["image"]), "fake_a": gen.g_ba(batch["image_b"])}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    fake_a, fake_b = fakes["fake_a"], fakes["fake_b"]
    key_a, key_b = jax.random.split(key)
    if critic.pool_a is not None:  # the history of fakes (the official ImagePool)
      fake_a, fake_b = critic.pool_a.query(fake_a, key_a), critic.pool_b.query(fake_b, key_b)
    d_a = losses.lsgan_critic_loss(critic.d_a(batch["image"]), critic.d_a(fake_a))
    d_b = losses.lsgan_critic_loss(critic.d_b(batch["image_b"]), critic.d_b(fake_b))
    return d_a + d_b, {"critic/d_a": d_a, "critic/d_b": d_b}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    real_a, real_b = batch["image"], batch["image_b"]
    fake_b, fake_a = gen.g_ab(real_a), gen.g_ba(real_b)
    rec_a, rec_b = gen.g_ba(fake_b), gen.g_ab(fake_a)
    terms = {
        # The official GANLoss: MSE to the real label 1 (no 0.5, unlike the critic's).
        "gen/adversarial_ab": losses.mse_loss(critic.d_b(fake_b), 1.0),
        "gen/adversarial_ba": losses.mse_loss(critic.d_a(fake_a), 1.0),
        "gen/cycle_a": m.lambda_a * losses.cycle_loss(rec_a, real_a),
        "gen/cycle_b": m.lambda_b * losses.cycle_loss(rec_b, real_b),
    }
    if m.lambda_identity > 0:
      terms["gen/identity_ab"] = (m.lambda_b * m.lambda_identity
                                  * losses.l1_loss(gen.g_ab(real_b), real_b))
      terms["gen/identity_ba"] = (m.lambda_a * m.lambda_identity
                                  * losses.l1_loss(gen.g_ba(real_a), real_a))
    if self.lambda_truth > 0:  # same-identity pairs (``examples``): each side is the other's truth
      terms.update(self._truth(fake_b, real_a, real_b, "ab"))
      terms.update(self._truth(fake_a, real_b, real_a, "ba"))
    return sum(terms.values()), terms

  def _truth(self, fake, source, truth, direction: str) -> dict:
    pair = {"image": source, "target_image": truth}
    return {**self.truth_term(fake, pair, f"gen/truth_{direction}"),
            **self.truth_term(fake, pair, f"gen/changed_truth_{direction}",
                              self.changed_truth_weight, where=editing.changed_by_truth)}

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, 6, H, W, 3) in [-1, 1]: A | G_AB(A) | G_BA(G_AB(A)) | B | G_BA(B) |
    G_AB(G_BA(B)) (the official visuals)."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    real_a, real_b = batch["image"][:n], batch["image_b"][:n]
    fake_b, fake_a = gen.g_ab(real_a), gen.g_ba(real_b)
    return jnp.stack([real_a, fake_b, gen.g_ba(fake_b), real_b, fake_a, gen.g_ab(fake_a)], axis=1)

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out: the cycle errors both ways and each discriminator's mean score of real images
    and of the current fakes (LSGAN: real 1, fake 0)."""
    del key
    real_a, real_b = batch["image"], batch["image_b"]
    fake_b, fake_a = gen.g_ab(real_a), gen.g_ba(real_b)
    return {"cycle_l1_a": losses.l1_loss(gen.g_ba(fake_b), real_a),
            "cycle_l1_b": losses.l1_loss(gen.g_ab(fake_a), real_b),
            "d_a_real": jnp.mean(critic.d_a(real_a)), "d_a_fake": jnp.mean(critic.d_a(fake_a)),
            "d_b_real": jnp.mean(critic.d_b(real_b)), "d_b_fake": jnp.mean(critic.d_b(fake_b))}

  # ---- use -----------------------------------------------------------------------------------
  def generation_targets(self):
    return [(self.domain_b, {"emotion": self.domain_b})]

  def predictors(self):
    return {"edit": Predictor(compute=self._edit_outputs, inputs=self.edit_inputs,
                              conditions=("emotion",))}

  def edit_inputs(self, images, emotion=None, landmarks=None, intensity=1.0) -> dict:
    """Translate ``images`` ((B, H, W, 3) or one face, uint8 or [-1, 1]) to ``emotion`` (a name
    or index, once or per image): ``model.domain_b`` runs G_AB, ``model.domain_a`` G_BA; this
    model knows no other expression. ``landmarks`` are accepted and unused; ``intensity`` must be
    1 (a CycleGAN has no strength condition)."""
    del landmarks
    image = inputs.check_images(images, self.config.model.image_size)
    n = len(image)
    pair = f"{self.domain_a} and {self.domain_b}"
    if emotion is None:
      raise UserError(f"{self.title}.edit needs a target: emotion={self.domain_b!r} "
                      f"({self.domain_a} -> {self.domain_b}) or {self.domain_a!r} (back).")
    labels = inputs.emotion_labels(emotion, n)
    other = [facs.EMOTIONS[int(k)] for k in labels if k not in (self.label_a, self.label_b)]
    if other:
      raise UserError(f"This {self.title} translates only between {pair} (model.domain_a, "
                      f"model.domain_b): emotion={other[0]!r} is neither.")
    if np.any(inputs.check_intensities(intensity, 1.0) != 1.0):
      raise UserError(f"{self.title} translates between {pair} whole: it has no strength "
                      "condition, so intensity must be 1.")
    return {"image": image, "to_a": (labels == self.label_a).astype(np.int32)}

  def _edit_outputs(self, gen, batch):
    """G_AB on the rows asking for domain B, G_BA on the others; one generator when all rows
    go the same way (``lax.switch``: the other is not computed)."""
    to_a = batch["to_a"]

    def mixed(x):
      return jnp.where(to_a[:, None, None, None] > 0, gen.g_ba(x), gen.g_ab(x))

    branch = jnp.where(jnp.all(to_a == 0), 0, jnp.where(jnp.all(to_a > 0), 1, 2))
    return {"image": jax.lax.switch(branch, (gen.g_ab, gen.g_ba, mixed), batch["image"])}
