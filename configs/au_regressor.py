"""AU regressor: an independent judge of GAN outputs (17 AU intensities, 0-5 scale).

Trained on SynthFaces with its exact AU labels, validated on held-out identities. The default is
64 px (GANimation ``:demo``); ``:128`` matches the paper-size GANs; ``:smoke`` is for tests.
The 64 px default is shipped as a fixed judge (``fxs_jax/pretrained/judges``, made by
``python experiments/train_judges.py``); for other data and sizes
``fxs_jax.judges.ensure_trained`` trains this default on first use.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = common.base_config(model="au_regressor", dataset="synth_faces/stills_64")
  evaluator_sections(config)
  return common.finalize(config, arg, VARIANTS, "configs/au_regressor.py")


def evaluator_sections(config: ml_collections.ConfigDict) -> None:
  """Settings shared by both evaluators (configs/expression_classifier.py imports this)."""
  # 2,400 train images / batch 32 = 75 steps per epoch: 2,000 steps = 27 epochs, last 40%
  # decaying linearly to 0.
  config.num_train_steps = 2000
  config.data.batch_size = 32
  config.optim.lr = 1e-3
  config.optim.b1, config.optim.b2 = 0.9, 0.999
  config.optim.decay_start_step = 1200
  # Augmentation in the train step, on top of the pipeline's flips (see training._augment).
  config.data.max_shift = 2  # pixels, at any image size
  config.data.color_jitter = 0.1  # +-10% colour gain and contrast, a +-0.1 offset in [-1, 1]

  m = config.model
  m.image_size = 64
  m.base_channels = 32
  m.max_channels = 256
  m.num_blocks = 0  # 0 = down to a 4x4 map (4 blocks at 64 px, 5 at 128 px)
  m.norm = "instance"  # in all but the first and last blocks; or "none"
  m.negative_slope = 0.2
  m.pool = "flatten"  # "average" (global) or "flatten" (keeps where on the aligned face)

  config.checkpoint.every_steps = 500
  config.eval.batch_size = 64  # predict_fn chunk; held-out evaluation batch
  config.logging.every_steps = 100
  config.logging.eval_every_steps = 500  # held-out check on logging.eval_examples (0 = never)
  config.logging.eval_examples = 480
  config.logging.progress_bar = False


def _size_128(config: ml_collections.ConfigDict) -> None:
  config.data.name = "synth_faces/stills_128"
  config.model.image_size = 128


def _smoke(config: ml_collections.ConfigDict) -> None:
  common.smoke_sections(config)
  config.data.name = "synth_faces/stills_smoke"
  config.model.image_size = 32
  config.model.base_channels = 8
  config.model.max_channels = 16
  config.optim.decay_start_step = 0
  config.logging.eval_every_steps = 0
  config.eval.batch_size = 4


VARIANTS = {"128": _size_128, "smoke": _smoke}
