"""MoCoGAN (Tulyakov et al., CVPR 2018), the categorical variant: expression clips from noise and
an expression class, a baseline of MotionGAN + TextureGAN (the survey's cWGAN-P3) for IS, ACD and
ACD-I.

The losses as the official code trains its ``CategoricalVideoDiscriminator`` with
``--use_infogan --use_categories`` (``sergeytulyakov/mocogan``, ``src/trainers.py``), with the
non-saturating GAN loss on logits (``BCEWithLogitsLoss``) and the class of a clip as the
condition (``y``, SynthFaces' ``emotion`` 1-7 as class 0-6, like MotionGAN's):

Critic: ``BCE(D_I(x_t), 1) + BCE(D_I(G_I), 0) + BCE(D_V(v), 1) + BCE(D_V(G_V), 0)
+ lambda_cls * CE(D_V^cls(v), y)`` with ``v`` a real clip, ``x_t`` one of its frames at a random
t, ``G_V`` a generated clip of class y and ``G_I`` one frame, at a random t, of another generated
clip of class y. The class term is an auxiliary classifier on the video critic trained on REAL
clips only (the official ``use_categories``), not on fakes (as AC-GAN would).
Generator: ``BCE(D_I(G_I), 1) + BCE(D_V(G_V), 1) + lambda_cls * CE(D_V^cls(G_V), y)`` (the
official ``use_infogan``: the generated clip must be classified as the class it was asked for),
with fresh noise (the reference samples again for its generator update).
BCE(., 1) = mean softplus(-logit), BCE(., 0) = mean softplus(logit), over every patch of the
image critic's map.

The reference updates D_I and D_V with two Adam optimisers, one after the other, on the same
generator; here one critic update minimises their sum. Adam (and its L2 weight decay) works per
parameter and the two critics share none, so the updates are the same; only the fakes are shared
by the two (the reference draws each its own).

Data (``examples``): each labelled sequence (``frames`` (T0, H, W, 3), ``emotion`` 1-7) becomes
one clip of ``model.num_frames`` frames spread evenly over it (all of them when T0 equals it: 16
for SynthFaces' sequences, the reference's length); unlabelled or neutral sequences are left out
(the generator is conditioned on the class). The real image batch is one random frame of each real
clip of the batch (the reference draws its image batch apart, uniformly over all frames).

MoCoGAN cannot start from a given face: like every noise-to-video baseline
(``fxs_jax.recipes.video_from_noise``) its ``sample_video`` prediction makes clips of an
expression class from noise only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from fxs_jax import losses
from fxs_jax.errors import UserError
from fxs_jax.models import mocogan as nets
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes.video_from_noise import NUM_CLASSES
from fxs_jax.recipes.video_from_noise import VideoFromNoiseRecipe
from fxs_jax.recipes.video_from_noise import motion_class

class MoCoGAN(VideoFromNoiseRecipe):
  """The recipe: the content / motion generator, its image and video critics' losses."""

  title = "MoCoGAN"
  identity_noise = "content"  # z_C

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    try:
      nets.num_up_layers(m.image_size)
      nets.video_head_extent(m.num_frames, m.image_size, m.video_critic_num_layers)
    except ValueError as e:
      raise UserError(f"MoCoGAN's model settings do not build: {e}") from None
    if m.image_critic_num_layers < 2 or m.image_size % 2 ** m.image_critic_num_layers:
      raise UserError(f"model.image_critic_num_layers must be >= 2 with model.image_size "
                      f"divisible by 2**it; got {m.image_critic_num_layers} at {m.image_size} px.")
    if not m.noise_sigma >= 0:
      raise UserError(f"model.noise_sigma must be >= 0, got {m.noise_sigma}.")

  def build_generator(self, rngs):
    m = self.config.model
    return nets.VideoGenerator(m.image_size, NUM_CLASSES, content_dim=m.content_dim,
                               motion_dim=m.motion_dim, base_channels=m.gen_base_channels,
                               rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.Critic(m.num_frames, m.image_size, NUM_CLASSES,
                       image_base_channels=m.image_critic_base_channels,
                       image_num_layers=m.image_critic_num_layers,
                       video_base_channels=m.video_critic_base_channels,
                       video_num_layers=m.video_critic_num_layers, noise_sigma=m.noise_sigma,
                       rngs=rngs)

  def noise_shapes(self, count: int, num_frames: int) -> dict[str, tuple[int, ...]]:
    """``content`` z_C (B, content_dim), ``h0`` (B, motion_dim) and ``motion_noise`` e_t
    (B, T, motion_dim): the GRU runs as long as asked."""
    m = self.config.model
    return {"content": (count, m.content_dim), "h0": (count, m.motion_dim),
            "motion_noise": (count, num_frames, m.motion_dim)}

  def generate(self, gen, noise: dict, labels_B):
    return gen(noise["content"], noise["h0"], noise["motion_noise"], labels_B).frames_BxTxHxWx3

  def fakes(self, gen, labels_B, key, faces_B=None) -> dict:
    """``video`` (B, T, H, W, 3): clips of the classes ``labels``; ``image`` (B, H, W, 3): one
    frame, at a random t, of each of B other clips of those classes. (No ``faces_B``: MoCoGAN's
    clips come from noise here.)"""
    del faces_B
    count, frames = labels_B.shape[0], self.config.model.num_frames
    k_video, k_image, k_frame = jax.random.split(key, 3)
    video = self.generate(gen, self.latent_noise(k_video, count), labels_B)
    n = self.latent_noise(k_image, count)
    image = gen.images(n["content"], n["h0"], n["motion_noise"], labels_B,
                       jax.random.randint(k_frame, (count,), 0, frames))
    return {"video": video, "image": image}

  def real_images(self, video_BxTxHxWx3, key):
    """One frame of each real clip, at a random t."""
    b, t = video_BxTxHxWx3.shape[:2]
    return video_BxTxHxWx3[jnp.arange(b), jax.random.randint(key, (b,), 0, t)]

  def extra_critic_terms(self, critic, batch, fakes, key) -> dict:
    k_frame, k_real, k_fake = jax.random.split(key, 3)
    real = critic.image(self.real_images(batch["frames"], k_frame), k_real)
    return {"critic/image_adv": losses.nonsaturating_critic_loss(
        real, critic.image(fakes["image"], k_fake))}

  def extra_generator_terms(self, gen, critic, fakes, labels_B, key) -> dict:
    del gen, labels_B
    return {"gen/image_adv": losses.nonsaturating_generator_loss(critic.image(fakes["image"],
                                                                              key))}

  def eval_metrics(self, gen, critic, batch, key):
    """The shared readings of the video critic, and the image critic's mean probability of
    "real" on one frame of each real clip and on generated frames."""
    k_fake, k_frame = jax.random.split(key)
    metrics = super().eval_metrics(gen, critic, batch, k_fake)
    fakes = self.fakes(frozen(gen), motion_class(batch["emotion"]), k_fake)
    return {**metrics,
            "p_image_real": jnp.mean(jax.nn.sigmoid(critic.image(self.real_images(
                batch["frames"], k_frame)))),
            "p_image_fake": jnp.mean(jax.nn.sigmoid(critic.image(fakes["image"])))}
