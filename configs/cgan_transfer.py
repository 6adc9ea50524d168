"""cGAN expression transfer (the survey's cGAN-P1) and its pix2pix and CGAN baselines.

No code was published: the training settings are pix2pix's (Isola et al. 2017, the paper's
baseline and the U-Net / PatchGAN it modifies): 128 px here (the paper's RaFD / CK+ crops are not
public), batch 1, Adam(2e-4, 0.5, 0.999), 100 epochs constant + 100 linear decay, L1 weight 100,
the vanilla (cross-entropy) GAN loss. Variants: ``:pix2pix`` (the baseline: no landmark module,
transposed convs, the source image as the condition), ``:cgan_baseline`` (the survey's CGAN
baseline, Mirza & Osindero 2014: pix2pix's networks conditioned on the keypoint image of the
source's landmarks moved onto the target's face, adversarial loss only), ``:demo`` (CPU, 64 px,
~25 minutes; a residual output), ``:smoke`` (tests); combine them, e.g. ``:pix2pix,demo``.
C2GAN, the survey's other landmark baseline, is its own recipe: ``configs/c2gan.py``.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="cgan_transfer", dataset="synth_faces/transfer_128")
  config.data.batch_size = 1
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 1
  # 200 epochs of synth_faces/transfer_128 (300 identities x 7 expressions = 2,100 pairs).
  config.num_train_steps = 200 * 2100
  config.optim.decay_start_step = 100 * 2100

  m = config.model
  # "cgan": fusion module + J_gen; "pix2pix": U-Net on (target, source); "keypoints" (the CGAN
  # baseline): U-Net on (target, J of the source's landmarks moved onto the target's face)
  m.variant = "cgan"
  m.image_size = 128
  m.gen_base_channels = 64  # pix2pix ngf
  m.unet_num_down = 0  # 0 = down to 1 x 1 (log2 of the size), as pix2pix's unet_256 at 256 px
  m.output = "absolute"  # the U-Net's tanh is the image (pix2pix); "residual": target + change
  m.upsample = "resize"  # the paper: resize-convs against checkerboards; pix2pix: "transpose"
  m.keypoint_kind = "heatmaps"  # J: per-landmark Gaussians ("contours": soft iBUG lines)
  m.keypoint_sigma = 1.0  # pixels at 64 px; scale with the size
  m.encoder = "image"  # fusion encoders on keypoint images (the abstract); "coords": on 68 x 2
  m.fusion_base_channels = 32
  m.critic_base_channels = 64  # pix2pix ndf
  m.critic_num_layers = 3  # pix2pix's n_layers_D = 3 (a 70 x 70 receptive field at 256 px)
  m.critic_norm = "spectral"  # the paper's Markov discriminator with spectral normalisation
  m.gan_loss = "vanilla"  # pix2pix's; "lsgan" or "hinge"
  m.lambda_l1 = 100.0  # pix2pix
  m.lambda_landmark = 100.0  # L1 of normalised landmark coordinates (not in the paper)

  g = config.generate = ml_collections.ConfigDict()
  g.num_images = 6  # held-out pairs in transfers.png
  # Two image files of your own (square face crops; resized to model.image_size), with their 68
  # landmarks (.npy (68, 2) or 68 lines "x y", in the file's pixels; the cGAN needs them):
  # transfers_files.png, columns source | target | J_gen | output.
  g.source_image = ""
  g.source_landmarks = ""
  g.target_image = ""
  g.target_landmarks = ""

  config.evals.transfer = common.eval_spec("transfer", predict="transfer")
  return common.finalize(config, arg, VARIANTS, "configs/cgan_transfer.py")


def _pix2pix(config: ml_collections.ConfigDict) -> None:
  m = config.model
  m.variant = "pix2pix"
  m.upsample = "transpose"  # pix2pix's U-Net
  m.critic_norm = "instance"  # pix2pix's batch norm at batch 1 (no norm on its first layer)


def _cgan_baseline(config: ml_collections.ConfigDict) -> None:
  """CGAN (Mirza & Osindero 2014) as the cGAN-P1 paper's baseline: a conditional GAN whose
  generator and discriminator both see the condition, here the keypoint image J of the source's
  landmarks moved onto the target's face (``recipes.cgan_transfer.landmarks_on_target``: the
  information the cGAN and pix2pix get, no true landmarks) beside the target face; the
  adversarial loss alone (no L1 to the truth: what separates it from pix2pix). The networks are
  pix2pix's (the paper's MLPs do not take images; the comparison does not say)."""
  m = config.model
  m.variant = "keypoints"
  m.upsample = "transpose"  # pix2pix's U-Net
  m.critic_norm = "instance"  # pix2pix's batch norm at batch 1 (no norm on its first layer)
  m.lambda_l1 = 0.0


def _demo(config: ml_collections.ConfigDict) -> None:
  config.data.name = "synth_faces/transfer_64"
  config.data.batch_size = 16
  m = config.model
  m.image_size = 64
  m.gen_base_channels = 32
  m.critic_base_channels = 32
  m.fusion_base_channels = 16
  # The U-Net draws a change of the target, starting as copy-the-target: with pix2pix's absolute
  # output (no full-resolution skip) 3,000 CPU steps stay far from the target's pixels
  # (docs/papers/cgan_transfer.md).
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
  m.unet_num_down = 3
  m.fusion_base_channels = 4
  m.critic_base_channels = 8
  m.critic_num_layers = 2


VARIANTS = {"pix2pix": _pix2pix, "cgan_baseline": _cgan_baseline, "demo": _demo,
            "smoke": _smoke}
