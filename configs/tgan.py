"""TGAN (Saito et al., ICCV 2017) with a class condition: a baseline of MotionGAN + TextureGAN
(the survey's cWGAN-P3) for IS and ACD.

Paper default, from the official code (``pfnet-research/tgan``: ``models/*.py``, ``train.py``,
``configs/ucf101/ucf101_wgan_svd_zdim-100_no-beta.yml``): 64 px, 16-frame clips, z0 100-d and
z1^t 100-d (the one-hot class joins z0), G0 512 -> 256 -> 128 -> 128 -> 100 channels, G1 512
channels at 4x4 px halving to 32 at 64 px (weights U(-0.01, 0.01)), the critic 64 -> 512
channels of 3-D convs + a class head, the WGAN loss with singular value clipping every 5
iterations, RMSprop(5e-5) (Chainer's: decay 0.99) for all three networks at a constant rate,
one critic update per generator update, batch 32 clips. The official run is 1,000 epochs of
UCF-101; 100,000 iterations here. SynthFaces' 16-frame neutral -> apex clips of 7 expressions
stand in for UCF-101. Variants: ``:demo`` (CPU, 64 px, ~50 minutes) and ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="tgan", dataset="synth_faces/sequences_64")
  config.data.batch_size = 32  # clips per batch
  config.data.flip = False  # the reference does not augment
  config.optim.optimizer = "rmsprop"  # train.py's make_optimizer: RMSprop(lr=5e-5)
  config.optim.rms_decay = 0.99  # Chainer RMSprop's alpha
  config.optim.lr = 5e-5
  config.optim.critic_steps = 1  # one critic and one generator update per iteration
  config.num_train_steps = 100_000
  config.optim.decay_start_step = config.num_train_steps  # a constant rate
  config.checkpoint.every_steps = 5000
  config.logging.sample_every_steps = 1000

  m = config.model
  m.image_size = 64
  m.num_frames = 16  # a power of two: G0 doubles a length-1 sequence log2(T) times
  m.z_dim = 100  # z0 (z_slow_dim)
  m.frame_dim = 100  # z1^t (z_fast_dim)
  m.temporal_base_channels = 64  # G0: 8c, 4c, 2c, 2c = 512, 256, 128, 128
  m.gen_base_channels = 32  # G1: channels at full size (conv_ch 512 / 16), doubling to 4x4 px
  m.gen_wscale = 0.01  # G1's U(-wscale, wscale) weights (VideoGeneratorInitUniform)
  m.critic_base_channels = 64  # mid_ch: 64 -> 128 -> 256 -> 512
  m.critic_num_layers = 4  # stride-2 3-D convs: 16 frames -> 1, 64 px -> 4, then the head
  m.svc_every = 5  # singular value clipping after every 5th critic update (freq: 5)

  common.video_from_noise(config)
  return common.finalize(config, arg, VARIANTS, "configs/tgan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """A 2-core CPU run of about 50 minutes (docs/papers/baselines.md#tgan: ~51 G multiply-adds
  an iteration, ~1.9 s idle, 1,500 iterations): G1 at a quarter of the paper's width (it
  runs on every frame of every clip: 16 x its multiply-adds), the critic at half, batch 16."""
  common.video_from_noise_demo(config)
  m = config.model
  m.temporal_base_channels = 32
  m.gen_base_channels = 8  # 128 channels at 4x4 px
  m.critic_base_channels = 32
  config.num_train_steps = 1500
  config.optim.decay_start_step = 1000  # the last third decays linearly (the paper: constant)
  config.checkpoint.every_steps = 500
  config.logging.sample_every_steps = 250


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.video_from_noise_smoke(config)  # 32 px, 8-frame clips, 2 steps
  m = config.model
  m.z_dim = 4
  m.frame_dim = 3
  m.temporal_base_channels = 2
  m.gen_base_channels = 2
  m.critic_base_channels = 4
  m.critic_num_layers = 2  # 8 frames -> 2, 32 px -> 8: a 2x8x8 head
  m.svc_every = 1  # the clipping runs in the smoke run's two steps


VARIANTS = {"demo": _demo, "smoke": _smoke}
