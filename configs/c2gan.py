"""C2GAN (Tang et al., ACM MM 2019), the cGAN-P1 paper's keypoint-guided baseline, on the
expression-transfer pairs the cGAN transfer trains on (``configs/cgan_transfer.py``).

Paper default = the official code's settings (``Ha0Tang/C2GAN``: ``train_c2gan.sh`` and
``options/``): pix2pix U-Nets with transposed convs for G_I and G_K (ngf 64, down to 1 x 1 px),
PatchGANs with 3 stride-2 layers (ndf 64) for D_I and D_K, the LSGAN loss, lambda_recon 10,
lambda_cycle 10 (the image and the keypoint cycles), Adam(2e-4, 0.5, 0.999), batch 8, 100 epochs
constant + 100 linear decay, no flips (commented out in its data loader). 128 px here, as the
cGAN transfer's paper config (the code's RaFD runs are 256 px). Variants: ``:demo`` (CPU, 64 px:
trained as ``configs/cgan_transfer.py:demo``) and ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="c2gan", dataset="synth_faces/transfer_128")
  config.data.batch_size = 8  # train_c2gan.sh --batch 8
  config.data.flip = False  # the official data loader's flip is commented out
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 1
  # 200 epochs of synth_faces/transfer_128 (2,100 pairs) at batch 8, decay over the last 100.
  config.num_train_steps = 200 * 2100 // 8
  config.optim.decay_start_step = 100 * 2100 // 8

  m = config.model
  m.image_size = 128
  m.gen_base_channels = 64  # G_I's ngf
  m.keypoint_gen_base_channels = 64  # G_K's (the code: the same U-Net)
  m.unet_num_down = 0  # 0 = down to 1 x 1 (log2 of the size): unet_256 at the code's 256 px
  m.output = "absolute"  # G_I's tanh is the image (the code); "residual": input + change
  m.upsample = "transpose"  # pix2pix's U-Net; "resize": nearest x2 + 3x3 conv
  # The keypoint images, as the cGAN transfer's (the code draws 3-channel landmark figures).
  m.keypoint_kind = "heatmaps"
  m.keypoint_sigma = 1.0
  m.critic_base_channels = 64  # ndf
  m.critic_num_layers = 3  # n_layers_D
  m.critic_norm = "instance"  # the code's batch norm (no norm on the first layer)
  m.lambda_l1 = 10.0  # lambda_recon: L1(y', y)
  m.lambda_cycle = 10.0  # L1(x'', x)
  m.lambda_keypoint = 10.0  # the code's lambda_cycle on the keypoint cycles
  # The code: G_K's losses update G_K only (its own optimiser). True: they reach G_I through
  # y' and x'' (the paper's "end-to-end" cycles supervising each other).
  m.keypoint_losses_train_image = False

  g = config.generate = ml_collections.ConfigDict()
  g.num_images = 6  # held-out pairs in transfers.png
  # Two image files of your own with their 68 landmarks (as configs/cgan_transfer.py):
  # transfers_files.png, columns source | target | k_y | output.
  g.source_image = ""
  g.source_landmarks = ""
  g.target_image = ""
  g.target_landmarks = ""

  config.evals.transfer = common.eval_spec("transfer", predict="transfer")
  return common.finalize(config, arg, VARIANTS, "configs/c2gan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """Trained as ``configs/cgan_transfer.py:demo`` (data, batch 16, 3,000 steps with decay from
  2,000, flips, residual output): G_I and the critics at its U-Net's and critic's 32 channels,
  G_K at its fusion module's 16."""
  config.data.name = "synth_faces/transfer_64"
  config.data.batch_size = 16
  config.data.flip = True
  m = config.model
  m.image_size = 64
  m.gen_base_channels = 32
  m.keypoint_gen_base_channels = 16
  m.critic_base_channels = 32
  m.output = "residual"
  config.num_train_steps = 3000
  config.optim.decay_start_step = 2000
  config.checkpoint.every_steps = 500
  config.logging.sample_every_steps = 500


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/transfer_smoke"
  m = config.model
  m.image_size = 32
  m.gen_base_channels = 8
  m.keypoint_gen_base_channels = 4
  m.unet_num_down = 3
  m.critic_base_channels = 8
  m.critic_num_layers = 2


VARIANTS = {"demo": _demo, "smoke": _smoke}
