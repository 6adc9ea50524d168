"""AttGAN (He et al., TIP 2019), settings of the official code (128 px model) with SynthFaces'
8 expression classes as the attributes.

Paper default: 128 px, batch 32, Adam(2e-4, 0.5, 0.999) for both networks, 5 critic steps per
generator step, WGAN-GP (10), attribute BCE 1 (critic) / 10 (generator), reconstruction L1 100,
attributes fed as +-0.5 (thres_int), one encoder-decoder shortcut and one attribute injection,
200 epochs with the rate divided by 10 after 100. Variants: ``:demo`` (CPU, 64 px: trained as
StarGAN's ``:demo``, so that the baselines compare like for like) and ``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="attgan", dataset="synth_faces/stills_128")
  config.data.batch_size = 32
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 5
  # 200 epochs, counted in updates. The official epoch reads the train set once, one batch per
  # update, critic and generator updates 5:1; stills_128's train split holds 300 identities x 8
  # classes = 2,400 images, so an epoch is 2,400 / 32 = 75 updates: 62.5 critic + 12.5
  # generator. Here an iteration is a critic update, and every 5th also a generator update on
  # the same batch: 200 epochs' 12,500 critic and 2,500 generator updates are 12,500 iterations
  # (12,500 batches, 167 passes over the data). The rate: 2e-4 for the first 100 epochs, then
  # 2e-5 (lr / 10 ** (epoch // 100)): a staircase decay by 0.1 after 6,250 iterations.
  config.num_train_steps = 12_500
  config.optim.decay_start_step = 0
  config.optim.decay_rate = 0.1
  config.optim.decay_every_steps = 6_250

  m = config.model
  m.image_size = 128
  m.num_classes = 8  # neutral happy sad surprised angry fearful disgusted contemptuous
  m.gen_base_channels = 64  # encoder 64 -> 1024, decoder 1024 -> 128 -> 3
  m.gen_num_layers = 5  # a 4x4 bottleneck at 128 px
  m.shortcut_layers = 1  # the first decoder layer's output gets the encoder's 8x8 map
  m.inject_layers = 1  # ... and the attribute vector again
  m.upsample = "transpose"  # official: 4x4 stride-2 transposed convs; "resize": nearest + 3x3
  m.critic_base_channels = 64
  m.critic_num_layers = 5  # 64 -> 1024, a 4x4 map at 128 px
  m.critic_fc_dim = 1024
  m.thres_int = 0.5  # attributes fed to the generator as (a * 2 - 1) * thres_int
  m.lambda_gp = 10.0
  m.lambda_critic_cls = 1.0
  m.lambda_gen_cls = 10.0
  m.lambda_rec = 100.0
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
  return common.finalize(config, arg, VARIANTS, "configs/attgan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """The baseline trained as StarGAN's ``:demo`` (data, batch, schedule, truth terms, critic
  rate, up-sampling, cadence), with the paper's own loss weights.

  Generator: base 32 (encoder 32 -> 512, a 2x2 bottleneck at 64 px), about 0.35 GMAC a forward
  pass against StarGAN ``:demo``'s 0.61 (a generator update: one encoding, two decodings, about
  0.66 GMAC against StarGAN's two passes, 1.2); 7.3 M weights against 1.5 M, most of them in the
  small-map layers. Critic: base 32, five layers (32 -> 512) as StarGAN ``:demo``'s, heads of
  512."""
  common.class_editor_demo(config)
  m = config.model
  m.gen_base_channels = 32
  m.critic_base_channels = 32
  m.critic_fc_dim = 512
  config.optim.decay_rate = 0.0  # StarGAN :demo's linear decay to 0 from step 833


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/stills_smoke"
  m = config.model
  m.image_size = 32
  m.gen_base_channels = 8
  m.gen_num_layers = 4  # 2x2 maps: an instance norm over a 1x1 map would erase it
  m.critic_base_channels = 8
  m.critic_num_layers = 4
  m.critic_fc_dim = 16
  config.optim.critic_steps = 1
  config.generate.num_images = 2


VARIANTS = {"demo": _demo, "smoke": _smoke}
