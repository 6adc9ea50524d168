"""LGP-GAN (Xia et al., TCSVT 2022) on StarGAN's RaFD training setup; no public code exists.

Networks (``fxs_jax.models.lgpgan``): Stage I eye and mouth generators on landmark-located crops,
pasted back; Stage II global generator on that composite; three WGAN-GP PatchGAN critics (eyes,
mouth, face) with an 8-way expression head each. With ``G(x, c)`` the whole two-stage pass,
``fake = G(x, c_target)`` and ``rec = G(fake, c_orig)`` (crops at x's landmarks both times):

Critic, summed over r in {eyes, mouth, face} (local weights ``lambda_local``):
``mean D_r(fake_r) - mean D_r(real_r) + lambda_cls * CE(D_r^cls(real_r), c_orig)
+ lambda_gp * GP_r``, where real_r / fake_r are the input's crops / the Stage I output crops
for the local critics and the input / final output for the face critic.
Generator: ``sum_r -mean D_r(fake_r) + lambda_cls * CE(D_r^cls(fake_r), c_target)
+ lambda_rec * L1(rec, x) + lambda_mask * sum_g (pen(A_g fake) + pen(A_g rec))
+ lambda_mask_tv * sum_g (TV(A_g fake) + TV(A_g rec))`` over the three generators g.
Targets: uniform over the 7 classes other than the example's own. With ``model.lambda_truth > 0``
(SynthFaces only, not the paper): a same-identity example's class, and the generator adds
``lambda_truth * L1(fake, that example's image)``, and with ``model.local_truth_weight`` w > 0
also ``w * lambda_truth * L1`` between each Stage I crop and the same window of that image
(``gen/eyes_truth``, ``gen/mouth_truth``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from fxs_jax import losses
from fxs_jax.errors import UserError
from fxs_jax.models import lgpgan as nets
from fxs_jax.nn import crops
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor
from fxs_jax.recipes.editing import classification_loss
from fxs_jax.recipes.editing import SAMPLE_EMOTIONS

CRITICS = ("eyes", "mouth", "face")
LOCAL_MASK_WEIGHTINGS = ("area", "equal")


def place_centered(patch_Bxhxwx3: jax.Array, size: int, fill: float = 0.0) -> jax.Array:
  """``patch`` in the middle of a ``size`` x ``size`` tile filled with ``fill`` (grey at 0)."""
  b, h, w, c = patch_Bxhxwx3.shape
  tile = jnp.full((b, size, size, c), fill, patch_Bxhxwx3.dtype)
  return jax.lax.dynamic_update_slice(tile, patch_Bxhxwx3, (0, (size - h) // 2, (size - w) // 2, 0))


class LGPGAN(editing.ClassEditingRecipe):
  """The recipe: networks, the two losses, sample grids and held-out expression accuracy."""

  title = "LGP-GAN"
  truth_terms = True
  colour_head = True
  needs_landmarks = True  # the eye and mouth crops are placed by the landmarks

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    losses.masks.check_mask_settings(m)
    self.local_truth_weight = self.truth_weight("local_truth_weight")
    self.crop_sizes = {"eyes": (m.eye_crop_height, m.eye_crop_width),
                       "mouth": (m.mouth_crop_height, m.mouth_crop_width)}
    gen_div, critic_div = 4, 2 ** m.local_critic_num_layers
    for region, (h, w) in self.crop_sizes.items():
      if h % gen_div or w % gen_div or h % critic_div or w % critic_div:
        raise UserError(f"The {region} crop {h}x{w} must be divisible by 4 (generator) and by "
                        f"2**model.local_critic_num_layers = {critic_div} (critic).")
      if h > m.image_size or w > m.image_size:
        raise UserError(f"The {region} crop {h}x{w} is larger than the {m.image_size} px image.")
      if not 0 <= m.paste_feather <= min(h, w) // 2:
        raise UserError(f"model.paste_feather {m.paste_feather} must be in [0, {min(h, w) // 2}]"
                        f" (half the {region} crop {h}x{w}).")
    if m.image_size % 2 ** m.critic_num_layers:
      raise UserError(f"model.image_size {m.image_size} is not divisible by "
                      f"2**model.critic_num_layers = {2 ** m.critic_num_layers}.")
    if m.local_mask_weighting not in LOCAL_MASK_WEIGHTINGS:
      raise UserError(f"model.local_mask_weighting must be one of {LOCAL_MASK_WEIGHTINGS}, "
                      f"got {m.local_mask_weighting!r}.")

  def build_generator(self, rngs):
    m = self.config.model
    return nets.LGPGenerator(
        m.image_size, self.crop_sizes, m.num_classes, base_channels=m.gen_base_channels,
        num_res_blocks=m.gen_num_res_blocks, local_base_channels=m.local_gen_base_channels,
        local_num_res_blocks=m.local_gen_num_res_blocks, upsample=self.upsample,
        colour=self.colour, paste_feather=m.paste_feather, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.LGPCritic(
        m.image_size, self.crop_sizes, m.num_classes, base_channels=m.critic_base_channels,
        num_layers=m.critic_num_layers, local_base_channels=m.local_critic_base_channels,
        local_num_layers=m.local_critic_num_layers, rngs=rngs)

  # ---- passes --------------------------------------------------------------------------------
  def edit(self, gen, image, landmarks, labels) -> nets.LGPOutput:
    """The two-stage edit of ``image`` towards class ``labels`` (B,) int."""
    return gen(image, landmarks, self.one_hot(labels))

  @staticmethod
  def _judged(out: nets.LGPOutput) -> dict:
    """What each critic sees of a pass: the Stage I crops and the final face."""
    return {"eyes": out.crops_out["eyes"], "mouth": out.crops_out["mouth"],
            "face": out.output_BxHxWx3}

  def _weights(self):
    m = self.config.model
    return {"eyes": m.lambda_local, "mouth": m.lambda_local, "face": 1.0}

  def _cls_weights(self):
    m = self.config.model
    local = m.lambda_cls * m.local_cls_weight
    return {"eyes": local, "mouth": local, "face": m.lambda_cls}

  def _mask_weights(self):
    """Weight of each generator's mask penalties: 1 for the face; for a crop, its share of the
    image's pixels (``"area"``: a penalty per image pixel, so the crop's cycle signal, diluted
    by the same share in the face-wide L1, is not outweighed) or 1 (``"equal"``)."""
    m = self.config.model
    weights = {"face": 1.0}
    for region, (h, w) in self.crop_sizes.items():
      weights[region] = (h * w / m.image_size ** 2 if m.local_mask_weighting == "area" else 1.0)
    return weights

  def fakes_for_critic(self, gen, batch, key):
    del key
    out = self.edit(gen, batch["image"], batch["landmarks"], batch["target_emotion"])
    # The real crops at the same windows (the input's landmarks locate both).
    real = {r: out.crops_in[r] for r in nets.REGIONS}
    return {"fake": self._judged(out), "real": real}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    m = self.config.model
    real = {**fakes["real"], "face": batch["image"]}
    fake = fakes["fake"]
    real_out, fake_out = critic(real), critic(fake)
    metrics, loss = {}, 0.0
    for i, name in enumerate(CRITICS):
      adv = losses.wgan_critic_loss(real_out[name].map_BxhxWx1, fake_out[name].map_BxhxWx1)
      cls = classification_loss(real_out[name].logits_BxK, batch["emotion"])
      sub = getattr(critic, name)
      gp = losses.gradient_penalty(lambda x, sub=sub: sub(x).map_BxhxWx1, real[name], fake[name],
                                   jax.random.fold_in(key, i))
      loss = loss + self._weights()[name] * (adv + m.lambda_gp * gp) + self._cls_weights()[name] * cls
      metrics.update({f"critic/{name}_wasserstein": -adv, f"critic/{name}_cls": cls,
                      f"critic/{name}_gp": gp})
    return loss, metrics

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    real = batch["image"]
    fake = self.edit(gen, real, batch["landmarks"], batch["target_emotion"])
    rec = self.edit(gen, fake.output_BxHxWx3, batch["landmarks"], batch["emotion"])
    judged = critic(self._judged(fake))
    penalty = losses.masks.attention_penalty(m.attention_penalty)
    terms = {}
    for name in CRITICS:
      terms[f"gen/{name}_adversarial"] = (
          self._weights()[name] * losses.wgan_generator_loss(judged[name].map_BxhxWx1))
      terms[f"gen/{name}_cls"] = self._cls_weights()[name] * classification_loss(
          judged[name].logits_BxK, batch["target_emotion"])
    terms["gen/cycle"] = m.lambda_rec * losses.l1_loss(rec.output_BxHxWx3, real)
    terms.update(self.edit_truth_terms(fake.output_BxHxWx3, batch))
    for r in nets.REGIONS:  # the same truth on each Stage I crop, at its window (not in the paper)
      terms.update(self.truth_term(
          fake.crops_out[r], batch, f"gen/{r}_truth", self.local_truth_weight,
          window=lambda truth, r=r: crops.crop(truth, fake.offsets[r], self.crop_sizes[r])))
    weight = self._mask_weights()
    masks = [(1.0, out.attention_BxHxWx1) for out in (fake, rec)]
    masks += [(weight[r], out.crop_attention[r]) for out in (fake, rec) for r in nets.REGIONS]
    terms["gen/mask"] = m.lambda_mask * sum(w * penalty(a) for w, a in masks)
    terms["gen/mask_tv"] = m.lambda_mask_tv * sum(w * losses.total_variation(a, m.tv_form)
                                                  for w, a in masks)
    metrics = {**terms, "gen/attention_mean": jnp.mean(fake.attention_BxHxWx1),
               **{f"gen/{r}_attention_mean": jnp.mean(fake.crop_attention[r])
                  for r in nets.REGIONS}}
    return sum(terms.values()), metrics

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3) in [-1, 1]: input | per target in ``SAMPLE_EMOTIONS``: eye
    crop before, after; mouth crop before, after (centred on grey); global attention; output."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    image, landmarks = batch["image"][:n], batch["landmarks"][:n]
    size, t = image.shape[1], len(SAMPLE_EMOTIONS)
    # All targets in one batched pass (target-major): one network call to compile, not t.
    labels = self.sample_labels(n)
    out = self.edit(gen, jnp.tile(image, (t, 1, 1, 1)), jnp.tile(landmarks, (t, 1, 1)), labels)
    per_target = []
    for region in nets.REGIONS:
      per_target += [place_centered(out.crops_in[region], size),
                     place_centered(out.crops_out[region], size)]
    per_target += [jnp.broadcast_to(out.attention_BxHxWx1 * 2.0 - 1.0, out.output_BxHxWx3.shape),
                   out.output_BxHxWx3]
    tiles_TxNxCx = jnp.stack(per_target, axis=1).reshape(t, n, len(per_target), size, size, 3)
    tiles = jnp.moveaxis(tiles_TxNxCx, 0, 1).reshape(n, t * len(per_target), size, size, 3)
    return jnp.concatenate([image[:, None], tiles], axis=1)

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out: each critic's class-head accuracy on edits (vs the target class) and on real
    images (vs the true class), the cycle error and attention statistics of the 3 generators."""
    del key
    real, labels, target = batch["image"], batch["emotion"], batch["target_emotion"]
    fake = self.edit(gen, real, batch["landmarks"], target)
    rec = self.edit(gen, fake.output_BxHxWx3, batch["landmarks"], labels)
    fake_out = critic(self._judged(fake))
    real_out = critic({**fake.crops_in, "face": real})
    metrics = {"cycle_l1": jnp.mean(jnp.abs(rec.output_BxHxWx3 - real)),
               "attention_mean": jnp.mean(fake.attention_BxHxWx1),
               "attention_min": jnp.min(fake.attention_BxHxWx1),
               "attention_max": jnp.max(fake.attention_BxHxWx1)}
    for name in CRITICS:
      metrics[f"{name}_acc_fake"] = jnp.mean(
          jnp.argmax(fake_out[name].logits_BxK, -1) == target)
      metrics[f"{name}_acc_real"] = jnp.mean(jnp.argmax(real_out[name].logits_BxK, -1) == labels)
    for region in nets.REGIONS:
      metrics[f"{region}_attention_mean"] = jnp.mean(fake.crop_attention[region])
    return metrics

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    # The eye and mouth crops are placed by the faces' landmarks.
    return {"edit": Predictor(compute=self._edit_outputs, inputs=self.edit_inputs,
                              conditions=("emotion",), needs_landmarks=True)}

  def _edit_outputs(self, gen, batch):
    out = gen(batch["image"], batch["landmarks"], self.condition(batch))
    return {"image": out.output_BxHxWx3, "attention": out.attention_BxHxWx1,
            "stage1": out.stage1_BxHxWx3}
