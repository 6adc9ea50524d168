"""TGAN (Saito, Matsumoto & Saito, "Temporal Generative Adversarial Nets with Singular Value
Clipping", ICCV 2017), with a class condition: expression clips from noise and an expression
class, a baseline of MotionGAN + TextureGAN (the survey's cWGAN-P3) for IS and ACD.

The WGAN with singular value clipping (SVC) as the official code trains it
(``pfnet-research/tgan``, ``updaters/tgan_updater_wgan.py`` ``TGANUpdaterWGANSVC`` with
``freq: 5``), the class terms of the shared noise-to-video recipe
(``fxs_jax.recipes.video_from_noise``, MoCoGAN's categorical variant) added:

Critic: ``mean D(G(z0, y)) - mean D(v) + lambda_cls * CE(D^cls(v), y)``; generator:
``-mean D(G(z0, y)) + lambda_cls * CE(D^cls(G(z0, y)), y)`` with fresh noise, ``v`` a real clip
of class ``y``. After every ``model.svc_every``-th critic update (5) the critic's parameters are
projected (``critic_projection``, ``fxs_jax.nn.spectral.singular_value_clipping``): every conv
and linear weight, as a matrix, has its singular values clipped to <= 1, and each batch norm's
scale is clipped to ``[0.01 sd, sd]`` with ``sd`` the square root of its running variance (the
official code's bounds; the paper's ``0 < gamma <= sigma``). The trainer's critic optimiser
applies it (``fxs_jax.train.state.projected``): one mechanism for any recipe with a projection.

Departures, for the comparison with MotionGAN + TextureGAN (docs/papers/baselines.md#tgan):
* the class condition (not in the paper): the one-hot class joins z0 at the input of G0 and of
  G1's z0 path, and the critic has a class head (MoCoGAN's categorical variant, as MoCoGAN here);
* z0 ~ N(0, I) as every noise-to-video baseline here draws its noise (the official U(-1, 1));
* 16-frame clips of SynthFaces' neutral -> apex sequences (7 expressions) stand in for UCF-101;
* one critic update per generator update, as the official updater (critic first here, on the
  same iteration's batch; the reference updates G first on the same fakes).

TGAN cannot start from a given face: the clips come from noise only (``sample_video``), so the
video evaluator reports their ACD and no ACD-I.
"""

from __future__ import annotations

import ml_collections

from fxs_jax import losses
from fxs_jax.errors import UserError
from fxs_jax.models import tgan as nets
from fxs_jax.nn import spectral
from fxs_jax.recipes.video_from_noise import NUM_CLASSES
from fxs_jax.recipes.video_from_noise import VideoFromNoiseRecipe


class TGAN(VideoFromNoiseRecipe):
  """The recipe: G0 + G1 from (z0, class), the WGAN video critic kept 1-Lipschitz by SVC."""

  video_critic = nets.VideoCritic
  title = "TGAN"
  identity_noise = "content"  # z0: it fixes the whole clip, with the class
  critic_adversarial = staticmethod(losses.wgan_critic_loss)
  generator_adversarial = staticmethod(losses.wgan_generator_loss)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    try:
      nets.num_time_layers(m.num_frames)
      nets.num_up_layers(m.image_size)
      nets.critic_head_extent(m.num_frames, m.image_size, m.critic_num_layers)
    except ValueError as e:
      raise UserError(f"TGAN's model settings do not build: {e}") from None
    for name in ("z_dim", "frame_dim", "temporal_base_channels", "gen_base_channels",
                 "critic_base_channels", "svc_every"):
      value = m[name]
      if not (isinstance(value, int) and value >= 1):
        raise UserError(f"model.{name} must be a whole number >= 1, got {value!r}.")
    if not m.gen_wscale > 0:
      raise UserError(f"model.gen_wscale must be > 0, got {m.gen_wscale}.")

  def build_generator(self, rngs):
    m = self.config.model
    return nets.VideoGenerator(m.num_frames, m.image_size, NUM_CLASSES, z_dim=m.z_dim,
                               frame_dim=m.frame_dim,
                               temporal_base_channels=m.temporal_base_channels,
                               base_channels=m.gen_base_channels, wscale=m.gen_wscale, rngs=rngs)


  def noise_shapes(self, count: int, num_frames: int) -> dict[str, tuple[int, ...]]:
    """``content`` z0 (B, z_dim): the temporal generator makes the frames' latents from it."""
    del num_frames
    return {"content": (count, self.config.model.z_dim)}

  def generate(self, gen, noise: dict, labels_B):
    return gen(noise["content"], labels_B).frames_BxTxHxWx3

  def check_frames(self, frames: int) -> None:
    if frames != self.config.model.num_frames:
      raise UserError(f"TGAN's temporal generator makes clips of model.num_frames = "
                      f"{self.config.model.num_frames} frames, not {frames}.")

  # ---- singular value clipping ---------------------------------------------------------------
  @property
  def critic_projection_every(self) -> int:
    return self.config.model.svc_every

  def critic_projection(self, params, rest):
    """SVC of the critic (module docstring): pure, on its parameters and running variances."""
    return spectral.singular_value_clipping(params, rest)
