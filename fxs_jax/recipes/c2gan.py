"""C2GAN (Tang et al., ACM MM 2019) as the cGAN-P1 paper's baseline of expression transfer, with
the losses, weights and gradient paths of the official code (``Ha0Tang/C2GAN``,
``models/c2gan_model.py``).

The transfer read as C2GAN's keypoint-guided generation: the input image x is the target face
(``target_image``), the keypoints it should wear k_y are the keypoint image of the source's
landmarks moved onto the target's face (``cgan_transfer.landmarks_on_target``: what the cGAN and
pix2pix are given, never the true landmarks), y is the truth (``image``) and x's own keypoints
k_x the keypoint image of the target's landmarks. With ``y' = G_I(x, k_y)`` and the image cycle
``x'' = G_I(y', k_x)``, ``MSE1(s) = mean (s - 1)^2`` (the code's ``nn.MSELoss`` GAN criterion)
and ``LS_D(r, f) = 0.5 mean (r - 1)^2 + 0.5 mean f^2``:

Critic (D_I and D_K, one update): ``LS_D(D_I(y | x, k_y), D_I(y' | x, k_y))
+ LS_D(D_I(x | y, k_x), D_I(x'' | y, k_x)) + LS_D(D_K(y', k_y), D_K(y', G_K(y')))
+ LS_D(D_K(x'', k_x), D_K(x'', G_K(x'')))`` (the code's D_K takes the generated image with the
requested keypoints as its real pair).
Generator: G_I's ``MSE1(D_I(y' | x, k_y)) + MSE1(D_I(x'' | y, k_x)) + lambda_l1 * L1(y', y)
+ lambda_cycle * L1(x'', x)`` and G_K's (the keypoint cycles) ``MSE1(D_K(y', G_K(y')))
+ MSE1(D_K(x'', G_K(x''))) + lambda_keypoint * (L1(G_K(y'), k_y) + L1(G_K(x''), k_x))``.

The code steps G_I and G_K with their own optimisers: G_K's losses never update G_I. Here both
generators are one module with one Adam (the same learning rate and betas, and Adam is
per-parameter, so the two are the same), and y', x'' enter G_K's losses through a stop-gradient;
``model.keypoint_losses_train_image = True`` removes it (the paper's "end-to-end" reading, where
the keypoint cycles also supervise G_I).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from fxs_jax import losses
from fxs_jax.errors import UserError
from fxs_jax.models import c2gan as nets
from fxs_jax.models import cgan_transfer as transfer_nets
from fxs_jax.nn import keypoints
from fxs_jax.nn.blocks import COLOURS
from fxs_jax.recipes import cgan_transfer
from fxs_jax.recipes.cgan_transfer import landmarks_on_target

LAMBDAS = ("lambda_l1", "lambda_cycle", "lambda_keypoint")


def ls_generator_loss(scores: jax.Array) -> jax.Array:
  """The official code's generator GAN term, ``nn.MSELoss()(D(fake), 1)``: ``mean (s - 1)^2``
  (twice ``losses.lsgan_generator_loss``)."""
  return jnp.mean(jnp.square(scores - 1.0))


class C2GAN(cgan_transfer.TransferRecipe):
  """The recipe: G_I + G_K, D_I + D_K, the code's losses, held-out L1 / cycle / keypoint errors."""

  title = "C2GAN"

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    if m.keypoint_kind not in keypoints.KEYPOINT_KINDS:
      raise UserError(f"model.keypoint_kind must be one of {keypoints.KEYPOINT_KINDS}, got "
                      f"{m.keypoint_kind!r}.")
    if m.output not in COLOURS:
      raise UserError(f"model.output must be one of {COLOURS}, got {m.output!r}.")
    for key in LAMBDAS:
      if not 0 <= float(m[key]) < math.inf:
        raise UserError(f"model.{key} must be >= 0 and finite, got {m[key]}.")
    self.joint = bool(m.keypoint_losses_train_image)

  def build_generator(self, rngs):
    m = self.config.model
    return nets.C2GANGenerator(
        m.image_size, base_channels=m.gen_base_channels,
        keypoint_base_channels=m.keypoint_gen_base_channels, num_down=m.unet_num_down or None,
        upsample=self.upsample, keypoint_kind=m.keypoint_kind, sigma=m.keypoint_sigma,
        output=m.output, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.C2GANCritic(m.image_size, keypoints.num_channels(m.keypoint_kind),
                            num_layers=m.critic_num_layers, base_channels=m.critic_base_channels,
                            norm=m.critic_norm, rngs=rngs)

  # ---- the cycles ----------------------------------------------------------------------------
  def requested_keypoints(self, gen, batch):
    """k_y: the keypoint image the transfer asks for (the source's landmarks on the target)."""
    return gen.keypoint_image(landmarks_on_target(batch))

  def transfer(self, gen, batch) -> transfer_nets.TransferOutput:
    k_y = self.requested_keypoints(gen, batch)
    return transfer_nets.TransferOutput(gen.generate(batch["target_image"], k_y), k_y, None)

  def image_cycle(self, gen, batch) -> dict:
    """y' (``fake``), x'' (``reconstruction``) and the keypoint images that drew them."""
    k_y = self.requested_keypoints(gen, batch)
    k_x = gen.keypoint_image(batch["target_landmarks"])
    fake = gen.generate(batch["target_image"], k_y)
    return {"fake": fake, "reconstruction": gen.generate(fake, k_x), "requested_keypoints": k_y,
            "own_keypoints": k_x}

  def fakes_for_critic(self, gen, batch, key):
    del key
    cycle = self.image_cycle(gen, batch)
    return {**cycle, "fake_keypoints": gen.keypoints_of(cycle["fake"]),
            "reconstruction_keypoints": gen.keypoints_of(cycle["reconstruction"])}

  # ---- losses --------------------------------------------------------------------------------
  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del key, phase
    x, y = batch["target_image"], batch["image"]
    k_y, k_x = fakes["requested_keypoints"], fakes["own_keypoints"]
    fake, rec = fakes["fake"], fakes["reconstruction"]
    real_forward = critic.judge_image(y, x, k_y)
    fake_forward = critic.judge_image(fake, x, k_y)
    image = (losses.lsgan_critic_loss(real_forward, fake_forward)
             + losses.lsgan_critic_loss(critic.judge_image(x, y, k_x),
                                        critic.judge_image(rec, y, k_x)))
    keypoint = (losses.lsgan_critic_loss(critic.judge_keypoints(fake, k_y),
                                         critic.judge_keypoints(fake, fakes["fake_keypoints"]))
                + losses.lsgan_critic_loss(
                    critic.judge_keypoints(rec, k_x),
                    critic.judge_keypoints(rec, fakes["reconstruction_keypoints"])))
    return image + keypoint, {"critic/image": image, "critic/keypoint": keypoint,
                              "critic/real": jnp.mean(real_forward),
                              "critic/fake": jnp.mean(fake_forward)}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    x, y = batch["target_image"], batch["image"]
    cycle = self.image_cycle(gen, batch)
    fake, rec = cycle["fake"], cycle["reconstruction"]
    k_y, k_x = cycle["requested_keypoints"], cycle["own_keypoints"]
    # G_K's inputs: the code's separate optimisers keep its losses away from G_I.
    kin_fake, kin_rec = (fake, rec) if self.joint else jax.lax.stop_gradient((fake, rec))
    kp_fake, kp_rec = gen.keypoints_of(kin_fake), gen.keypoints_of(kin_rec)
    terms = {
        "gen/adversarial": (ls_generator_loss(critic.judge_image(fake, x, k_y))
                            + ls_generator_loss(critic.judge_image(rec, y, k_x))),
        "gen/l1": m.lambda_l1 * losses.l1_loss(fake, y),
        "gen/cycle": m.lambda_cycle * losses.l1_loss(rec, x),
        "gen/keypoint_adversarial": (
            ls_generator_loss(critic.judge_keypoints(kin_fake, kp_fake))
            + ls_generator_loss(critic.judge_keypoints(kin_rec, kp_rec))),
        "gen/keypoint_cycle": m.lambda_keypoint * (losses.l1_loss(kp_fake, k_y)
                                                   + losses.l1_loss(kp_rec, k_x)),
    }
    return sum(terms.values()), terms

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out L1 to the truth (and copy-the-target's), the image cycle's L1, and G_K's L1 on
    the transfer (to the requested keypoints) and on the truth (to its true keypoints)."""
    del critic
    fakes = self.fakes_for_critic(gen, batch, key)
    truth_keypoints = gen.keypoint_image(batch["landmarks"])
    return {"l1_to_truth": jnp.mean(jnp.abs(fakes["fake"] - batch["image"])),
            "l1_copy_target": jnp.mean(jnp.abs(batch["target_image"] - batch["image"])),
            "cycle_l1": jnp.mean(jnp.abs(fakes["reconstruction"] - batch["target_image"])),
            "keypoint_l1": jnp.mean(jnp.abs(fakes["fake_keypoints"]
                                            - fakes["requested_keypoints"])),
            "keypoint_l1_truth": jnp.mean(jnp.abs(gen.keypoints_of(batch["image"])
                                                  - truth_keypoints))}

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3): source | target | k_y | output | truth | G_K(output) |
    the image cycle's reconstruction of the target."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    batch = {k: v[:n] for k, v in batch.items()}
    fakes = self.fakes_for_critic(gen, batch, None)
    return jnp.stack([batch["source_image"], batch["target_image"],
                      self.condition_tile(fakes["requested_keypoints"]), fakes["fake"],
                      batch["image"], self.condition_tile(fakes["fake_keypoints"]),
                      fakes["reconstruction"]], axis=1)
