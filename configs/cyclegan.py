"""CycleGAN (Zhu et al., ICCV 2017), settings of the official code
(junyanz/pytorch-CycleGAN-and-pix2pix), one model per pair of expression domains.

Paper default: neutral <-> happy on SynthFaces' 128 px stills, ResNet generators with 6 residual
blocks (the official ``resnet_6blocks``, its choice for 128 px images; 9 at 256 px), 70x70
PatchGAN discriminators, LSGAN, cycle weights 10 / 10, identity weight 0.5 (x 10), an image
pool of 50 fakes, Adam(2e-4, 0.5, 0.999) for both, batch 1, 100 epochs at a constant rate then
100 decaying linearly. GANimation's comparison trains one CycleGAN per expression from neutral:
``--config.model.domain_b=sad`` etc. (seven runs). Variants: ``:demo`` (CPU, 64 px) and
``:smoke`` (tests).
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="cyclegan", dataset="synth_faces/stills_128")
  config.data.batch_size = 1
  config.optim.lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.5, 0.999
  config.optim.critic_steps = 1
  # An official epoch is max(|A|, |B|) iterations (data/unaligned_dataset.py). SynthFaces'
  # stills_128 train split renders each of its 300 identities once with each of the 8
  # expressions: 300 neutral and 300 happy images, so 300 iterations an epoch at batch 1, and
  # 100 + 100 epochs = 60,000 iterations, the decay from 30,000 (per iteration here, per epoch
  # in the official code).
  config.num_train_steps = 200 * 300
  config.optim.decay_start_step = 100 * 300

  m = config.model
  m.domain_a = "neutral"  # G_AB translates domain_a -> domain_b, G_BA back (fxs_jax.facs.EMOTIONS)
  m.domain_b = "happy"
  m.image_size = 128
  m.gen_base_channels = 64
  m.gen_num_res_blocks = 6
  m.upsample = "transpose"  # official: 3x3 stride-2 transposed convs; "resize": nearest + 3x3
  m.critic_base_channels = 64
  m.critic_num_layers = 3  # the 70x70 PatchGAN: a 14x14 score map at 128 px
  m.lambda_a = 10.0  # cycle A -> B -> A
  m.lambda_b = 10.0  # cycle B -> A -> B
  m.lambda_identity = 0.5  # identity L1 weights: 0.5 * lambda_b (G_AB(B) = B), 0.5 * lambda_a
  m.pool_size = 50  # fakes kept for the discriminators (0: the current fakes only)
  # Paper: unpaired training (0). > 0: train on SynthFaces' same-identity (A, B) pairs with this
  # weight on an L1 to the exact translation, both ways (fxs_jax.data.domain_pairs; not in the
  # paper).
  m.lambda_truth = 0.0
  # > 0 (with lambda_truth): the truth L1 again, its mean over only the pixels the truth changes
  # (times this weight and lambda_truth): the edited region's own target (not in the paper).
  m.changed_truth_weight = 0.0

  # --mode=generate: domain_a test faces translated to domain_b (one column).
  g = config.generate = ml_collections.ConfigDict()
  g.num_images = 6

  common.editing_evals(config, target="emotion")
  # The held-out pairs a CycleGAN can make: a domain_a face towards the same face in domain_b
  # (the other expressions are outside its two domains). References: a --config.model.domain_*
  # override moves them along; set them apart to judge another direction (e.g. B -> A).
  for name in ("pairs", "fer"):
    config.evals[name].input_emotions = m.get_ref("domain_a") + ""
    config.evals[name].target_emotions = m.get_ref("domain_b") + ""
  return common.finalize(config, arg, VARIANTS, "configs/cyclegan.py")


def _demo(config: ml_collections.ConfigDict) -> None:
  """A CPU run (64 px, batch 16, 1,250 iterations) trained as the other editors' ``:demo``s
  (data, batch, schedule, truth terms, up-sampling), with generators near StarGAN ``:demo``'s in
  cost per image: 32 channels and 5 residual blocks with resize up-sampling are 605 M
  multiply-adds a pass at 64 px, StarGAN ``:demo``'s generator 610 M (its 4 residual blocks,
  8 class channels into the stem and 4x4 down convs). An iteration runs the generators 8 times
  (2 for the critic's fakes, 6 in the generator update: both translations, both cycles, both
  identity terms) where StarGAN runs its one 3 times."""
  config.data.name = "synth_faces/stills_64"
  config.data.batch_size = 16
  m = config.model
  m.image_size = 64
  m.gen_base_channels = 32
  m.gen_num_res_blocks = 5
  m.upsample = "resize"
  m.critic_base_channels = 32
  # 2 layers: a 34 px receptive field, about half the face's side as the 70 px patches at 128
  # px (3 layers at 64 px would judge the whole face).
  m.critic_num_layers = 2
  config.num_train_steps = 1250
  config.optim.decay_start_step = 833
  config.checkpoint.every_steps = 500
  config.logging.sample_every_steps = 250
  config.logging.eval_examples = 128
  m.lambda_truth = 1000.0  # configs/stargan.py :demo's
  m.changed_truth_weight = 0.5


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/stills_smoke"
  m = config.model
  m.image_size = 32
  m.gen_base_channels = 8
  m.gen_num_res_blocks = 1
  m.critic_base_channels = 8
  m.critic_num_layers = 3  # a 2x2 score map at 32 px
  m.pool_size = 2  # full after the first step: the second draws from it
  config.generate.num_images = 2


VARIANTS = {"demo": _demo, "smoke": _smoke}
