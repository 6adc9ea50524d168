"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016, "Generating Videos with Scene Dynamics"):
expression clips from noise and an expression class, a baseline of MotionGAN + TextureGAN (the
survey's cWGAN-P3) for IS, ACD and ACD-I, beside MoCoGAN and TGAN.

The losses as the official Torch code trains (``cvondrick/videogan``, ``main.lua``), with the
class conditioning every noise-to-video baseline here shares
(``fxs_jax.recipes.video_from_noise``):

Critic: ``BCE(D(v), 1) + BCE(D(G(z, y)), 0) + lambda_cls * CE(D^cls(v), y)``;
generator: ``BCE(D(G(z, y)), 1) + lambda_cls * CE(D^cls(G(z, y)), y) + lambda_mask * mean|m|``,
with ``BCE(., 1) = mean softplus(-logit)`` (the non-saturating loss), ``BCE(., 0) = mean
softplus(logit)`` and ``m`` the foreground mask of the generated clips (the reference's
``nn.L1Penalty(0.1, sizeAverage)`` after the mask's sigmoid, in the generator's backward only).

Where it departs from the paper and its code:

* Class conditioning (not in VGAN): the class one-hot is concatenated with z for both streams,
  and the critic has a class head trained on real clips whose reading of the generated clips the
  generator must match, as MoCoGAN's categorical variant (``--use_infogan --use_categories``), so
  that VGAN samples each expression as MotionGAN + TextureGAN and MoCoGAN do.
* 16-frame clips of SynthFaces' neutral -> apex sequences (7 expressions), not 32 frames of
  stabilised Flickr videos (beach, golf, train station, hospital): the generator's first
  foreground kernel spans 1 frame, not 2, and the critic's head 1x4x4, not 2x4x4
  (``fxs_jax.models.vgan``).
* The reference's discriminator has two outputs under a 2-way softmax cross-entropy (real,
  fake), its loss halved (``errD / 2``); here one logit under the logistic loss (the same
  function of the two logits' difference) and no halving (Adam is invariant to the scale).
* The reference's generator update reuses the noise and the fakes of the discriminator's update;
  here it draws fresh noise, as every GAN recipe here.
* The reference divides the rate by 10 every ``lr_decay`` (1000) epochs, in effect never (it
  trains ``niter`` 100 epochs); here a constant Adam(2e-4, 0.5, 0.999) for the paper's setting.

By default VGAN's ``sample_video`` makes clips of an expression class from noise only, like
every noise-to-video baseline: no input face, so no ACD-I. ``model.from_face=True``
(``configs/vgan.py:from_face``) is the paper's future generation from a static image
(``main_conditional.lua``): an image encoder in place of z (``fxs_jax.models.vgan
.FaceToVideoGenerator``), given each clip's first (neutral) frame and asked to reproduce it as
the clip's first frame (``lambda_first_frame * mean|G(x)_0 - x|``, the reference's
``AbsCriterion`` with lambda 10), no mask penalty (the reference's conditional model has none),
and the same video critic; its prediction is ``animate_face`` (a neutral face and a class), so
the video evaluator reports its ACD-I.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from fxs_jax.errors import UserError
from fxs_jax.models import vgan as nets
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes.video_from_noise import NUM_CLASSES
from fxs_jax.recipes.video_from_noise import VideoFromNoiseRecipe
from fxs_jax.recipes.video_from_noise import motion_class


class VGAN(VideoFromNoiseRecipe):
  """The recipe: the two-stream generator, its video critic and the mask's L1 penalty."""

  video_critic = nets.VideoCritic
  title = "VGAN"
  identity_noise = "z"  # the only noise: sample_video's content= gives the whole z
  supports_from_face = True  # main_conditional.lua: an image encoder in place of z

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    try:
      nets.first_frames(m.num_frames, m.image_size)
      nets.critic_head_extent(m.num_frames, m.image_size, m.critic_num_layers)
    except ValueError as e:
      raise UserError(f"VGAN's model settings do not build: {e}") from None
    for name in ("z_dim", "gen_base_channels", "critic_base_channels"):
      if not (isinstance(m[name], int) and m[name] >= 1):
        raise UserError(f"model.{name} must be a whole number >= 1, got {m[name]}.")
    if not m.lambda_mask >= 0:
      raise UserError(f"model.lambda_mask must be >= 0, got {m.lambda_mask}.")

  def build_generator(self, rngs):
    m = self.config.model
    if self.from_face:
      return nets.FaceToVideoGenerator(m.num_frames, m.image_size, NUM_CLASSES,
                                       base_channels=m.gen_base_channels, rngs=rngs)
    return nets.VideoGenerator(m.num_frames, m.image_size, NUM_CLASSES, z_dim=m.z_dim,
                               base_channels=m.gen_base_channels, rngs=rngs)

  def noise_shapes(self, count: int, num_frames: int) -> dict[str, tuple[int, ...]]:
    """``z`` (B, z_dim): one code for the whole clip (the generator's length is fixed); none
    from a face (the face's code takes z's place)."""
    del num_frames
    return {} if self.from_face else {"z": (count, self.config.model.z_dim)}

  def source(self, inputs: dict):
    """What the generator starts from: the face (``model.from_face``) or z."""
    return inputs["face"] if self.from_face else inputs["z"]

  def check_frames(self, frames: int) -> None:
    m = self.config.model
    if frames != m.num_frames:
      raise UserError(f"VGAN's generator makes clips of model.num_frames = {m.num_frames} "
                      f"frames only (its 3-D convs fix the length); got frames={frames}.")

  def generate(self, gen, noise: dict, labels_B):
    return gen(self.source(noise), labels_B).frames_BxTxHxWx3

  def fakes(self, gen, labels_B, key, faces_B=None) -> dict:
    """``video`` (B, T, H, W, 3): clips of the classes ``labels`` (from ``faces_B`` with
    ``model.from_face``); ``mask`` (B, T, H, W, 1): their foreground masks m."""
    out = gen(self.source(self.generator_inputs(key, labels_B.shape[0], faces_B)), labels_B)
    return {"video": out.frames_BxTxHxWx3, "mask": out.mask_BxTxHxWx1}

  def extra_generator_terms(self, gen, critic, fakes, labels_B, key) -> dict:
    """``gen/mask``: ``lambda_mask * mean|m|`` (the reference's L1Penalty, sizeAverage)."""
    del gen, critic, labels_B, key
    return {"gen/mask": self.config.model.lambda_mask * jnp.mean(jnp.abs(fakes["mask"]))}

  def eval_metrics(self, gen, critic, batch, key):
    """The shared readings of the video critic, and ``mask_fake``: the mean of the generated
    clips' foreground masks (0: all background, 1: all foreground)."""
    metrics = super().eval_metrics(gen, critic, batch, key)
    fakes = self.fakes(frozen(gen), motion_class(batch["emotion"]), key, self.first_faces(batch))
    return {**metrics, "mask_fake": jnp.mean(fakes["mask"])}
