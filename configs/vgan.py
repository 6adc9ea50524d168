"""VGAN (Vondrick, Pirsiavash, Torralba, NIPS 2016), class-conditioned: a baseline of MotionGAN +
TextureGAN (the survey's cWGAN-P3) for IS, ACD and ACD-I.

Paper default, from the official code (``cvondrick/videogan``, ``main.lua``): 64 px, z 100-d
(with the class one-hot added), ngf = ndf = 64 (the foreground stream 512 -> 64 channels of 3-D
transposed convs, the background stream 512 -> 64 of 2-D ones; the critic 64 -> 512 channels of
3-D convs), the non-saturating GAN loss, the mask's L1 penalty 0.1, Adam(2e-4, 0.5, 0.999) for
both networks at a constant rate, batch 64 clips. The reference trains 100 epochs of its Flickr
scene videos (millions of clips); 100,000 iterations here. Its clips are 32 frames of stabilised
Flickr videos; SynthFaces' 16-frame neutral -> apex clips of 7 expressions stand in, so the
foreground's first kernel spans 1 frame and the critic's head 1x4x4.
``:from_face`` is the paper's future generation from a still image (``main_conditional.lua``):
clips of a class from a given neutral face (``model.from_face``), the reference's twice-as-wide
generator (ngf 128 here), an L1 of 10 on the first frame, no mask penalty.
Variants: ``:demo`` (CPU, 64 px, ~30-40 minutes), ``:from_face`` and ``:smoke`` (tests); combine
them as ``:from_face,demo`` (the demo's widths last).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="vgan", dataset="synth_faces/sequences_64")
  config.data.batch_size = 64  # clips per batch (batchSize)
  config.data.flip = False  # the reference only crops
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 1  # D, then G, every iteration
  config.num_train_steps = 100_000
  config.optim.decay_start_step = config.num_train_steps  # a constant rate
  config.checkpoint.every_steps = 5000
  config.logging.sample_every_steps = 1000

  m = config.model
  m.image_size = 64  # fineSize
  m.num_frames = 16  # frames per clip (the reference's frameSize is 32), spread evenly over each
  # sequence (all 16 frames of SynthFaces' sequences_64); a multiple of 16 at 64 px
  m.z_dim = 100
  m.gen_base_channels = 64  # ngf: 8 ngf at T0x4x4, halving to ngf, then the outputs
  m.critic_base_channels = 64  # ndf: 64 -> 512
  # Stride-2 3-D convs before the head (4: the reference's); num_frames and image_size must be
  # divisible by 2**it.
  m.critic_num_layers = 4
  m.lambda_mask = 0.1  # L1 on the foreground mask (the reference's lambda)
  # Clips from a given first (neutral) face: an image encoder in place of z (main_conditional.lua;
  # the :from_face variant); lambda_first_frame weighs the L1 between the clip's first frame and
  # that face (the reference's lambda 10).
  m.from_face = False
  m.lambda_first_frame = 10.0

  common.video_from_noise(config)
  return common.finalize(config, arg, VARIANTS, "configs/vgan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """A 2-core CPU run of about 30-40 minutes (an estimate: docs/papers/baselines.md#vgan):
  ngf 32, ndf 16, 16 clips, 600 iterations."""
  common.video_from_noise_demo(config)
  m = config.model
  m.gen_base_channels = 32  # ~0.33 G multiply-adds a clip (the foreground's 3-D convs)
  m.critic_base_channels = 16  # ~0.08 G a clip
  config.num_train_steps = 600
  config.optim.decay_start_step = 400  # the last third decays linearly (the paper: constant)
  config.checkpoint.every_steps = 200
  config.logging.sample_every_steps = 100


def _from_face(config: ml_collections.ConfigDict) -> None:
  """Future generation from a still image (``main_conditional.lua``): each clip's first frame
  in, the clip of its class out, scored with ACD-I by ``animate_face``."""
  m = config.model
  m.from_face = True
  m.gen_base_channels *= 2  # the reference's conditional generator: 1024 -> 128 channels
  m.lambda_mask = 0.0  # main_conditional.lua has no L1Penalty on the mask
  config.evals.video.predict = "animate_face"


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.video_from_noise_smoke(config)  # 32 px, 8-frame clips, 2 steps
  m = config.model
  m.z_dim = 4
  m.gen_base_channels = 4
  m.critic_base_channels = 4
  m.critic_num_layers = 3  # 8 frames -> 1, 32 px -> 4: a 1x4x4 head


VARIANTS = {"demo": _demo, "from_face": _from_face, "smoke": _smoke}
