"""TextureGAN (the image half of the survey's cWGAN-P3): neutral face + one frame's landmarks ->
that frame.

No code was published; the networks are the cGAN transfer's (``configs/cgan_transfer.py``) with
pix2pix's training settings: 128 px (the paper's CK+ / Oulu-CASIA / MUG crops are not public:
``synth_faces/sequences_128``, frame t of a clip is the exact truth), batch 1, Adam(2e-4, 0.5,
0.999), L1 weight 100, the vanilla GAN loss, 100 epochs constant + 100 linear decay. Variants:
``:demo`` (CPU, 64 px, ~30 minutes), ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="texturegan", dataset="synth_faces/sequences_128")
  config.data.batch_size = 1
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 1
  # sequences_128: 100 train identities x 7 clips x 15 frames t > 0 = 10,500 examples; 200
  # epochs of them.
  config.num_train_steps = 200 * 10_500
  config.optim.decay_start_step = 100 * 10_500

  m = config.model
  m.variant = "keypoints"  # fixed: the U-Net on (neutral face, J of the frame's landmarks)
  m.image_size = 128
  m.frames_per_sequence = 0  # examples per clip: 0 = every frame t > 0, k = k spread evenly
  m.gen_base_channels = 64  # pix2pix ngf
  m.unet_num_down = 0  # 0 = down to 1 x 1 (log2 of the size)
  # The U-Net draws a change of the neutral face (clip(neutral + 2 tanh)), its last kernel zero:
  # the generator starts as copy-the-neutral-face, as the cGAN transfer's :demo
  # (docs/papers/cgan_transfer.md).
  m.output = "residual"
  m.upsample = "resize"  # resize-convs (no checkerboards); "transpose": pix2pix's
  m.keypoint_kind = "heatmaps"  # J: per-landmark Gaussians, one channel per facial part
  m.keypoint_sigma = 2.0  # pixels (1.0 at 64 px)
  m.critic_base_channels = 64  # pix2pix ndf
  m.critic_num_layers = 3  # pix2pix's n_layers_D
  m.critic_norm = "spectral"  # as the cGAN transfer's PatchGAN
  m.gan_loss = "vanilla"  # pix2pix's; "lsgan" or "hinge"
  m.lambda_l1 = 100.0  # reconstruction L1 to the true frame (pix2pix's weight)
  # Identity: L1 to the neutral face where no landmark (of frame 0 or frame t) lies within a
  # few identity_sigma (a soft mask, 1 - max of Gaussians): hair, background, outer skin keep
  # the person. Not in the paper's text beyond "identity loss"; weight chosen below the L1.
  m.lambda_identity = 10.0
  m.identity_sigma = 8.0  # pixels at 128 px

  g = config.generate = ml_collections.ConfigDict()
  g.num_images = 6  # frames.png: 3 held-out clips, true and rendered rows
  # A face of your own for --mode=generate's videos (a square crop, resized to model.image_size)
  # and its 68 landmarks (.npy (68, 2) or 68 lines "x y" in the file's pixels; without them
  # dlib finds them): file_<emotion>.{gif,mp4}, file_<emotion>_landmarks.gif.
  g.neutral_image = ""
  g.neutral_landmarks = ""

  # Videos: MotionGAN's motions rendered by this model (fxs_jax.animation). ``motion`` names the
  # MotionGAN run (a workdir or an export) for model.animate(...) and --mode=generate.
  v = config.video = ml_collections.ConfigDict()
  v.motion = ""
  v.emotions = ""  # --mode=generate: comma-separated names; "" = all seven (happy .. contemptuous)
  v.num_faces = 2  # held-out neutral faces --mode=generate animates (frame 0 of held-out clips)
  v.frames = 0  # frames per video; 0 = the motion run's model.num_frames
  v.fps = 15.0
  v.min_side = 256  # videos are upscaled (nearest neighbour) to at least this many pixels

  # SSIM / PSNR of frames rendered from frame 0 + frame t's landmarks vs frame t, beside
  # copy-the-neutral-frame (copy_input) and ground-truth rows (fxs_jax/eval/suite.py).
  config.evals.frames = common.eval_spec(
      "transfer", predict="render_frames",
      inputs={"neutral_images": "target_image", "landmarks": "landmarks"})
  # ACD (identity across a video's frames) and ACD-I (frames to the neutral input) of held-out
  # sequences rendered from their true landmarks, copied, true, and (with config.video.motion)
  # animated by MotionGAN's motions (fxs_jax/eval/video.py); num_videos 0 = all.
  config.evals.video = common.eval_spec("video", predict="render_frames", num_videos=0)
  # The AU regressor / expression classifier judging the frames train on SynthFaces' stills of
  # the same renderer and size (a sequences dataset has no stills to train them on).
  config.eval.evaluator_dataset = "synth_faces/stills_128"
  return common.finalize(config, arg, VARIANTS, "configs/texturegan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  config.data.name = "synth_faces/sequences_64"
  config.data.batch_size = 16
  m = config.model
  m.image_size = 64
  m.frames_per_sequence = 5  # 700 clips x 5 = 3,500 examples: variety over near-copies
  m.gen_base_channels = 32
  m.critic_base_channels = 32
  m.keypoint_sigma = 1.0
  m.identity_sigma = 4.0
  config.eval.evaluator_dataset = "synth_faces/stills_64"
  # 5,000 steps: at 3,000 the expression is faint (docs/papers/motiongan_texturegan.md).
  config.num_train_steps = 5000
  config.optim.decay_start_step = 3500
  config.checkpoint.every_steps = 500
  config.logging.sample_every_steps = 500


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/sequences_smoke"
  m = config.model
  m.image_size = 32
  m.frames_per_sequence = 3
  m.gen_base_channels = 8
  m.unet_num_down = 3
  m.critic_base_channels = 8
  m.critic_num_layers = 2
  m.keypoint_sigma = 1.0
  m.identity_sigma = 2.0
  config.eval.evaluator_dataset = "synth_faces/stills_smoke"


VARIANTS = {"demo": _demo, "smoke": _smoke}
