"""cGAN expression transfer (the survey's cGAN-P1) and its pix2pix and CGAN baselines, one recipe
(and ``TransferRecipe``, what every expression-transfer recipe shares: C2GAN's too).

Data: paired examples (``synth_faces/transfer_*``): ``source_image`` (person A with expression
e), ``target_image`` (person B, neutral), ``image`` (the exact truth: B with A's expression) and
the three landmark sets. With ``G`` the whole generator (``fxs_jax.models.cgan_transfer``) and
``cond`` what its U-Net saw beside the target (J_gen for the cGAN, the source image for pix2pix,
J of the source's landmarks moved onto the target's face for the CGAN baseline, ``variant=
"keypoints"``: ``landmarks_on_target``):

Critic: ``adv_D(D(truth, cond), D(fake, cond))`` (pix2pix's conditional PatchGAN).
Generator: ``adv_G(D(fake, cond)) + lambda_l1 * L1(fake, truth)`` and, for the cGAN, the fusion
module's ``lambda_landmark * L1(L_gen, L_truth)`` (normalised coordinates). The image terms also
reach the fusion module through the differentiable keypoint image J_gen.
"""

from __future__ import annotations

import abc

import jax.numpy as jnp
import ml_collections
import numpy as np

from fxs_jax import geometry
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax.data import augment
from fxs_jax.errors import UserError
from fxs_jax.models import cgan_transfer as nets
from fxs_jax.nn import keypoints
from fxs_jax.nn.blocks import COLOURS
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor

ADVERSARIAL = {  # config.model.gan_loss -> (critic loss, generator loss)
    "vanilla": (losses.nonsaturating_critic_loss, losses.nonsaturating_generator_loss),
    "lsgan": (losses.lsgan_critic_loss, losses.lsgan_generator_loss),
    "hinge": (losses.hinge_critic_loss, losses.hinge_generator_loss),
}


# The editor's heading of each variant (a subclass, TextureGAN, keeps its own title).
VARIANT_TITLES = {"cgan": "cGAN transfer", "pix2pix": "pix2pix", "keypoints": "CGAN"}


def landmarks_on_target(batch):
  """(B, 68, 2) the landmarks a transfer baseline without a fusion module (CGAN, C2GAN) is
  conditioned on: the source's moved onto the target's face (``geometry.moved_to``: the target's
  centroid and RMS spread), made from what every transfer method is given (both faces'
  landmarks; the true transferred landmarks are never an input)."""
  return geometry.moved_to(batch["source_landmarks"], batch["target_landmarks"])


class TransferRecipe(editing.EditingRecipe):
  """What every expression-transfer recipe shares (the cGAN, pix2pix, CGAN, C2GAN): the paired
  ``synth_faces/transfer_*`` examples and the ``transfer`` prediction, with one declaration and
  one ``transfer_inputs``, so that ``config.evals.transfer`` judges them all on the same pairs.

  A subclass's ``transfer(gen, batch)`` returns a ``nets.TransferOutput`` (the image, the
  condition it drew, the landmarks it predicted or None); ``uses_landmarks`` says whether the
  prediction needs both faces' landmarks.
  """

  fields = augment.Fields(images=("source_image", "target_image", "image"),
                          landmarks=("source_landmarks", "target_landmarks", "landmarks"))
  compute_dtype_inputs = ("source_image", "target_image", "image")
  uses_landmarks = True

  @abc.abstractmethod
  def transfer(self, gen, batch) -> nets.TransferOutput:
    """The whole transfer of ``batch`` (the two faces, their landmarks) by generator ``gen``."""

  def condition_tile(self, condition_BxHxWxC):
    if condition_BxHxWxC.shape[-1] == 3:
      return condition_BxHxWxC
    grey = jnp.max(condition_BxHxWxC, axis=-1, keepdims=True)  # every keypoint channel at once
    return jnp.broadcast_to(grey, condition_BxHxWxC.shape[:-1] + (3,))

  def predictors(self):
    return {"transfer": Predictor(compute=self._transfer_outputs, inputs=self.transfer_inputs,
                                   conditions=("source_face",),
                                   needs_landmarks=self.uses_landmarks,
                                   image_arg="target_images")}

  def _transfer_outputs(self, gen, batch):
    out = self.transfer(gen, batch)
    result = {"image": out.image_BxHxWx3, "condition": out.condition_BxHxWxC}
    if out.landmarks_Bx68x2 is not None:
      result["landmarks"] = out.landmarks_Bx68x2
    return result

  def transfer_inputs(self, source_images, target_images, source_landmarks=None,
                      target_landmarks=None) -> dict:
    """The source faces' expressions onto the target faces: images (B, H, W, 3) or one face,
    uint8 or [-1, 1], aligned crops of the model's size; the landmark-driven models (the cGAN,
    CGAN, C2GAN) also need both faces' 68 landmarks ((B, 68, 2) pixel (x, y) in the images;
    pix2pix ignores them)."""
    size = self.config.model.image_size
    source = inputs.check_images(source_images, size, "source_images")
    target = inputs.check_images(target_images, size, "target_images")
    if len(source) != len(target):
      raise UserError(f"transfer needs as many source as target images, got {len(source)} and "
                      f"{len(target)}.")
    batch = {"source_image": source, "target_image": target}
    if self.uses_landmarks:
      for name, value in (("source_landmarks", source_landmarks),
                          ("target_landmarks", target_landmarks)):
        if value is None:
          raise UserError(f"The {self.title} needs {name} (68 (x, y) points per face, e.g. "
                          "from dlib); pix2pix (--config=configs/cgan_transfer.py:pix2pix) does "
                          "not.")
        lms = inputs.per_example(value, len(source), name, item_ndim=2)
        if lms.shape[1:] != (68, 2) or not np.all(np.isfinite(lms)):
          raise UserError(f"{name} must be 68 finite (x, y) points per face, got shape "
                          f"{np.shape(value)}" + ("" if lms.shape[1:] != (68, 2) else
                                                  " with non-finite values (no face found?)")
                          + ".")
        batch[name] = lms
    return batch


class CGANTransfer(TransferRecipe):
  """The recipe: networks, the two losses, sample grids, held-out L1 / landmark errors."""

  title = "cGAN transfer"

  # Of nets.VARIANTS, the ones this recipe's data drive ("keypoints": the CGAN baseline).
  variants = ("cgan", "pix2pix", "keypoints")

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    if m.variant not in self.variants:
      raise UserError(f"model.variant must be one of {self.variants}, got {m.variant!r}.")
    if m.gan_loss not in ADVERSARIAL:
      raise UserError(f"model.gan_loss must be one of {tuple(ADVERSARIAL)}, got "
                      f"{m.gan_loss!r}.")
    if m.keypoint_kind not in keypoints.KEYPOINT_KINDS:
      raise UserError(f"model.keypoint_kind must be one of {keypoints.KEYPOINT_KINDS}, got "
                      f"{m.keypoint_kind!r}.")
    if m.output not in COLOURS:
      raise UserError(f"model.output must be one of {COLOURS}, got {m.output!r}.")
    if m.variant == "cgan" and m.encoder not in nets.ENCODERS:  # the fusion module's
      raise UserError(f"model.encoder must be one of {nets.ENCODERS}, got {m.encoder!r}.")
    self.uses_landmarks = m.variant != "pix2pix"
    if self.title == CGANTransfer.title:
      self.title = VARIANT_TITLES[m.variant]

  def build_generator(self, rngs):
    m = self.config.model
    return nets.TransferGenerator(
        m.image_size, variant=m.variant, base_channels=m.gen_base_channels,
        num_down=m.unet_num_down or None, upsample=self.upsample, keypoint_kind=m.keypoint_kind,
        sigma=m.keypoint_sigma, encoder=m.encoder, fusion_channels=m.fusion_base_channels,
        output=m.output, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    condition = keypoints.num_channels(m.keypoint_kind) if self.uses_landmarks else 3
    return nets.TransferCritic(3 + condition, m.image_size, num_layers=m.critic_num_layers,
                               base_channels=m.critic_base_channels, norm=m.critic_norm,
                               rngs=rngs)

  # ---- training ------------------------------------------------------------------------------
  def transfer(self, gen, batch) -> nets.TransferOutput:
    source_lms = batch.get("source_landmarks")
    if self.config.model.variant == "keypoints":  # the CGAN baseline: no fusion module
      source_lms = landmarks_on_target(batch)
    return gen(batch["source_image"], source_lms, batch["target_image"],
               batch.get("target_landmarks"))

  def fakes_for_critic(self, gen, batch, key):
    del key
    out = self.transfer(gen, batch)
    return {"image": out.image_BxHxWx3, "condition": out.condition_BxHxWxC}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del key, phase
    critic_loss, _ = ADVERSARIAL[self.config.model.gan_loss]
    real = critic(batch["image"], fakes["condition"])
    fake = critic(fakes["image"], fakes["condition"])
    loss = critic_loss(real, fake)
    return loss, {"critic/adversarial": loss, "critic/real": jnp.mean(real),
                  "critic/fake": jnp.mean(fake)}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    _, generator_loss = ADVERSARIAL[m.gan_loss]
    out = self.transfer(gen, batch)
    terms = {"gen/adversarial": generator_loss(critic(out.image_BxHxWx3, out.condition_BxHxWxC)),
             "gen/l1": m.lambda_l1 * losses.l1_loss(out.image_BxHxWx3, batch["image"])}
    if out.landmarks_Bx68x2 is not None:
      size = m.image_size
      terms["gen/landmark"] = m.lambda_landmark * losses.l1_loss(
          nets.normalise(out.landmarks_Bx68x2, size), nets.normalise(batch["landmarks"], size))
    return sum(terms.values()), terms

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out L1 to the truth (and copy-the-target's), the fusion module's landmark error
    (NME, inter-ocular) beside the trivial answers Lt and Ls moved onto Lt."""
    del critic, key
    out = self.transfer(gen, batch)
    metrics = {"l1_to_truth": jnp.mean(jnp.abs(out.image_BxHxWx3 - batch["image"])),
               "l1_copy_target": jnp.mean(jnp.abs(batch["target_image"] - batch["image"]))}
    if out.landmarks_Bx68x2 is not None:
      truth = batch["landmarks"]
      metrics.update({
          "landmark_nme": jnp.mean(geometry.landmark_nme(out.landmarks_Bx68x2, truth)),
          "landmark_nme_target_unchanged": jnp.mean(geometry.landmark_nme(batch["target_landmarks"],
                                                                 truth)),
          "landmark_nme_source_moved": jnp.mean(geometry.landmark_nme(
              geometry.moved_to(batch["source_landmarks"], batch["target_landmarks"]), truth))})
    return metrics

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3): source | target | J_gen (or nothing new for pix2pix: the
    source) | output | truth."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    batch = {k: v[:n] for k, v in batch.items()}
    out = self.transfer(gen, batch)
    return jnp.stack([batch["source_image"], batch["target_image"],
                      self.condition_tile(out.condition_BxHxWxC), out.image_BxHxWx3,
                      batch["image"]], axis=1)
