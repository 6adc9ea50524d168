"""StarGAN (Choi et al., CVPR 2018), settings of the official code on RaFD.

Paper default: 128 px, 8 expression classes, batch 16, Adam(1e-4, 0.5, 0.999) for both networks,
5 critic steps per generator step, lambda_cls 1, lambda_rec 10, lambda_gp 10, 200k iterations
with linear decay over the last 100k. Variants: ``:demo`` (CPU, 64 px: trained as LGP-GAN's
``:demo``, so that the two compare like for like) and ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="stargan", dataset="synth_faces/stills_128")
  config.data.batch_size = 16
  config.optim.lr = 1e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 5
  config.num_train_steps = 200_000
  config.optim.decay_start_step = 100_000

  m = config.model
  m.image_size = 128
  m.num_classes = 8  # RaFD / SynthFaces: neutral happy sad surprised angry fearful disgusted contemptuous
  m.gen_base_channels = 64
  m.gen_num_res_blocks = 6
  m.upsample = "transpose"  # official: 4x4 stride-2 transposed convs; "resize": nearest + 3x3
  m.critic_base_channels = 64
  m.critic_num_layers = 6  # 64 -> 2048, a 2x2 map at 128 px
  m.lambda_cls = 1.0
  m.lambda_rec = 10.0
  m.lambda_gp = 10.0
  # Paper: unpaired training (0). > 0: train on SynthFaces' same-identity pairs with this weight
  # on an L1 to the exact true target (fxs_jax.data.target_pairs; not in the paper).
  m.lambda_truth = 0.0
  # > 0 (with lambda_truth): the truth L1 again, its mean over only the pixels the truth changes
  # (times this weight and lambda_truth): the edited region's own target (not in the paper).
  m.changed_truth_weight = 0.0

  # --mode=generate: edits of test images towards expression classes.
  g = config.generate = ml_collections.ConfigDict()
  g.emotions = "neutral,happy,sad,surprised,angry,fearful,disgusted,contemptuous"
  g.num_images = 6
  common.editing_evals(config, target="emotion")
  return common.finalize(config, arg, VARIANTS, "configs/stargan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """The baseline trained as LGP-GAN's ``:demo`` (data, batch, schedule, class and truth terms,
  critic rate, up-sampling), with GANimation ``:demo``'s generator and critic sizes."""
  common.class_editor_demo(config)
  m = config.model
  m.gen_base_channels = 32
  m.gen_num_res_blocks = 4
  m.critic_base_channels = 32
  m.critic_num_layers = 5
  m.lambda_cls = 5.0


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/stills_smoke"
  m = config.model
  m.image_size = 32
  m.gen_base_channels = 8
  m.gen_num_res_blocks = 1
  m.critic_base_channels = 8
  m.critic_num_layers = 4
  config.optim.critic_steps = 1
  config.generate.num_images = 2


VARIANTS = {"demo": _demo, "smoke": _smoke}
