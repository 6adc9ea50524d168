"""MoCoGAN (Tulyakov et al., CVPR 2018), the categorical variant: a baseline of MotionGAN +
TextureGAN (the survey's cWGAN-P3) for IS, ACD and ACD-I.

Paper default, from the official code (``sergeytulyakov/mocogan``: ``src/models.py``,
``src/train.py``, ``src/trainers.py``): 64 px, 16-frame clips, z_C 50, z_M 10 (a GRU cell),
the one-hot class as z_A, ngf = ndf = 64, ``PatchImageDiscriminator`` +
``CategoricalVideoDiscriminator``, the non-saturating GAN loss, the video critic's class
cross-entropy on real clips and (``--use_infogan``) on generated ones, Adam(2e-4, 0.5, 0.999) with
weight decay 1e-5 for all three networks, a constant rate, 100,000 iterations (``--batches``).
Batch 32 clips (and 32 frames) with instance noise 0.1: the settings scripts in use for MUG pass
(``--image_batch 32 --video_batch 32 --use_noise --noise_sigma 0.1``; ``train.py``'s own
defaults are 10 images, 3 clips, no noise). The paper's facial-expression data (MUG) is not public
here: SynthFaces' 16-frame neutral -> apex clips of 7 expressions stand in (MUG has 6).
Variants: ``:demo`` (CPU, 64 px, ~30-40 minutes) and ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="mocogan", dataset="synth_faces/sequences_64")
  config.data.batch_size = 32  # clips per batch; the image critic sees one frame of each
  config.data.flip = False  # the reference does not augment
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.weight_decay = 1e-5  # torch Adam's coupled L2, every network
  config.optim.critic_steps = 1  # D_I, D_V, then G, every iteration
  config.num_train_steps = 100_000
  config.optim.decay_start_step = config.num_train_steps  # a constant rate
  config.checkpoint.every_steps = 5000
  config.logging.sample_every_steps = 1000

  m = config.model
  m.image_size = 64
  m.num_frames = 16  # frames per clip (VideoDataset(dataset, 16, ...)); the clip is spread
  # evenly over each sequence (all 16 frames of SynthFaces' sequences_64)
  m.content_dim = 50  # z_C
  m.motion_dim = 10  # z_M, the GRU cell's input and state
  m.gen_base_channels = 64  # ngf: 8 ngf at 4x4 px, halving to ngf at 32 px, then RGB
  m.image_critic_base_channels = 64  # ndf
  m.image_critic_num_layers = 4  # PatchImageDiscriminator: 3 conv blocks + a 4x4 stride-2 head
  m.video_critic_base_channels = 64  # ndf
  # 3-D conv blocks before the head: 4 = CategoricalVideoDiscriminator (16 frames -> 4, 64 px ->
  # 4, then a 4x4x4 head); clips need num_frames >= 3 * layers + 1.
  m.video_critic_num_layers = 4
  m.noise_sigma = 0.1  # instance noise on the critics' conv inputs (0: none)

  common.video_from_noise(config)
  return common.finalize(config, arg, VARIANTS, "configs/mocogan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """A 2-core CPU run of about 30-40 minutes (arithmetic in docs/papers/baselines.md#mocogan):
  ~63 G multiply-adds per iteration, 1,200 iterations."""
  common.video_from_noise_demo(config)
  m = config.model
  m.gen_base_channels = 32
  m.image_critic_base_channels = 32
  # The 3-D convs dominate (4x4x4 kernels over 16 frames): a quarter of the width is 1/16 of
  # their multiply-adds.
  m.video_critic_base_channels = 16
  config.num_train_steps = 1200
  config.optim.decay_start_step = 800  # the last third decays linearly (the paper: constant)
  config.checkpoint.every_steps = 400
  config.logging.sample_every_steps = 200


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.video_from_noise_smoke(config)  # 32 px, 8-frame clips, 2 steps
  m = config.model
  m.content_dim = 4
  m.motion_dim = 3
  m.gen_base_channels = 4
  m.image_critic_base_channels = 4
  m.image_critic_num_layers = 3
  m.video_critic_base_channels = 4
  m.video_critic_num_layers = 2  # 8 frames -> 2, 32 px -> 8: a 2x8x8 head


VARIANTS = {"demo": _demo, "smoke": _smoke}
