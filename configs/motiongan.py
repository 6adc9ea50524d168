"""MotionGAN (the survey's cWGAN-P3, motion stage): a conditional WGAN-GP of landmark motions.

No 2-D code was published; the settings are the paper's as the survey gives them and the
authors' 3-D successor code (Motion3DGAN / PredictiveMA-WGAN ``SRVF_WGAN.py``): 30 frames, noise
128, batch 64, WGAN-GP weight 10, L1 and geodesic weights 10, 4 critic steps per generator step,
Adam(lr 1e-6, 0.5, 0.9) decaying every 1,000 steps, inner products clipped to +-0.98, motion
intensity 0.14. The paper's data (CK+, Oulu-CASIA, MUG) are not public here: SynthFaces'
neutral -> apex landmark sequences stand in (only their landmarks are used, so the 64 px build).
Variants: ``:demo`` (CPU, learns in minutes), ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="motiongan", dataset="synth_faces/sequences_64")
  config.data.batch_size = 64  # the authors' 3-D code
  config.data.flip = False  # no augmentation (a mirrored motion is another motion)
  config.optim.lr = 1e-6  # the paper (2-D)
  config.optim.b1, config.optim.b2 = 0.5, 0.9
  config.optim.critic_steps = 4
  # Staircase exponential decay every 1,000 iterations (the authors' schedule; their released
  # 3-D code passes a rate of 1.0, the 2-D rate is not published: 0.96 is our choice).
  config.optim.decay_rate = 0.96
  config.optim.decay_every_steps = 1000
  config.num_train_steps = 100_000  # not published: 25,000 generator updates

  m = config.model
  m.num_frames = 30  # arc-length resampled frames (the authors' scripts)
  m.noise_dim = 128
  m.gen_base_channels = 512  # the authors' num_gen_channels (FC output), halved per block
  m.gen_num_up = 2  # x2 upsampling blocks: log2(30) - 5 // 2, as the authors' formula
  m.tangent_scale = 1.0  # tangent vector = tangent_scale * tanh output (the authors: 1)
  m.critic_channels = (64, 32, 16)  # stride-2 5-convs (the authors' num_hidden_layer_channels)
  m.critic_kernel = 5
  m.critic_hidden = 1024  # the authors' D_img_fc1
  m.critic_norm = "none"  # the authors' batch norm breaks the per-sample GP: "none" or "layer"
  m.lambda_gp = 10.0
  m.lambda_l1 = 10.0  # L1(log_mu real - log_mu fake), pairs by batch position
  m.lambda_geodesic = 10.0  # geodesic(fake, real), pairs by batch position
  m.log_clip = 0.98  # the authors' log map clips <mu, q> to +-0.98 (1.0 = the exact log)
  m.geodesic_clip = 0.98  # ... and so does their geodesic loss
  m.motion_scale = 0.14  # L_t = L_0 + motion_scale * curve_t (hard-coded by the authors)

  g = config.generate = ml_collections.ConfigDict()
  g.num_faces = 3  # held-out neutral faces in motions.png (7 emotions each)

  config.evals.motion = common.eval_spec("motion", predict="sample_motion", real="srvf",
                                         output="srvf")
  config.evals.critic = common.eval_spec("critic")
  return common.finalize(config, arg, VARIANTS, "configs/motiongan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  # 2,000 generator updates at 100x the paper's rate: lr 1e-6 barely moves in minutes.
  config.optim.lr = 1e-4
  config.num_train_steps = 8000
  config.optim.decay_every_steps = 1000
  config.checkpoint.every_steps = 2000
  config.logging.every_steps = 100
  config.logging.sample_every_steps = 1000
  m = config.model
  # SynthFaces' motions are short: the normalised landmark curves of sequences_64's train split
  # have a mean arc length of 0.050 (0.019-0.13), so 0.14 would exaggerate them ~3x.
  m.motion_scale = 0.05
  m.gen_base_channels = 256  # half the width: ~4x fewer generator FLOPs on CPU


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/sequences_smoke"
  config.optim.critic_steps = 1  # a generator update in each of the 2 steps
  m = config.model
  m.num_frames = 8
  m.noise_dim = 8
  m.gen_base_channels = 16
  m.gen_num_up = 1
  m.critic_channels = (8, 4)
  m.critic_hidden = 16
  config.generate.num_faces = 1


VARIANTS = {"demo": _demo, "smoke": _smoke}
