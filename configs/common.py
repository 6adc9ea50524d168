"""Shared config sections and the variant mechanism used by every model config.

A model config file defines ``get_config(arg=None)`` as::

    def get_config(arg=None):
      config = common.base_config(model="ganimation", dataset="synth_faces/stills_128")
      ...                                  # the paper's settings
      return common.finalize(config, arg, VARIANTS)

``arg`` is what follows ``:`` on the command line (``--config=configs/ganimation.py:demo``): a
comma-separated list of variant names applied in order (``demo``: a CPU run that learns visibly
in minutes; ``smoke``: tiny shapes for tests). The result is locked: a mistyped key, on the command
line (``--config.optim.lrr=1``) or in code, raises an error naming the closest existing key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], None]


def base_config(model: str, dataset: str) -> ml_collections.ConfigDict:
  """The sections every model shares: data, optim, checkpoint, logging."""
  config = ml_collections.ConfigDict()
  config.model_name = model
  config.seed = 0
  config.num_train_steps = 100_000
  # Recipe-specific settings (architecture, loss weights) go in config.model.
  config.model = ml_collections.ConfigDict()

  config.data = ml_collections.ConfigDict()
  config.data.name = dataset  # "tfds_name/config_name"
  config.data.data_dir = ""  # "" = TFDS default ($TFDS_DATA_DIR or ~/tensorflow_datasets)
  config.data.build_if_missing = True  # build procedural datasets on first use
  # A real dataset's download (RaFD, CK+, ...: datasets/<name>/README.md says what to point at);
  # "" = $FXS_JAX_MANUAL_DIR/<name>, else the folder its last build read, else
  # <data_dir>/downloads/manual/<name>. A changed folder is rebuilt; it is never written to.
  config.data.manual_dir = ""
  # How a dataset of photos frames each face (fxs_jax/faces/framing.py): "" = the dataset's own
  # preset (its paper's: RaFD stargan_rafd, CK+ / Oulu-CASIA / MUG face_box, AU-labelled photos
  # face_crop); "synthfaces" frames photos as SynthFaces and the bundled models.
  config.data.framing = ""
  config.data.train_split = "train"
  # Training's periodic evaluation and every choice read validation; `--mode=eval --split=test`
  # reports. Datasets built from a download carve validation subjects out of train.
  config.data.eval_split = "validation"
  config.data.batch_size = 25  # global batch, split over all devices
  config.data.flip = True  # horizontal flip augmentation (mirrors landmarks too)
  config.data.num_threads = 4  # grain reader threads
  config.data.prefetch = 64  # grain prefetch buffer (elements)

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.decay_start_step = 0  # constant lr until here, then linear decay to 0
  config.optim.critic_steps = 1  # critic updates per generator update
  config.optim.critic_lr_scale = 1.0  # critic lr = lr * this (two time-scale update rule)
  # > 0: keep an exponential moving average of the generator's weights (decay per generator
  # update, warmed up as in fxs_jax/train/state.py) and sample / evaluate / export it; 0 = none
  # (every paper here).
  config.optim.ema_decay = 0.0

  # How the networks compute (never what they compute: parameters and checkpoints are the same).
  config.compute = ml_collections.ConfigDict()
  config.compute.conv_impl = "auto"  # "auto" (fast exact forms on CPU, lax.conv on GPU/TPU),
  # "fast" or "plain"; see fxs_jax/nn/layers.py
  # "float32" | "bfloat16": bf16 compute, float32 params and optimiser state (GPU/TPU); any
  # other value stops the trainer with a one-line error (fxs_jax/train/precision.py).
  config.compute.dtype = "float32"
  # glibc malloc of `python -m fxs_jax.main` on CPU (fxs_jax/envtune.py): "reuse" keeps freed
  # memory in the process (no per-step page faults; faster at 128 px, slower at 64 px:
  # docs/performance.md), "glibc" leaves glibc's default, "auto" = reuse from 128 px up.
  config.compute.malloc = "auto"

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every_steps = 1000
  config.checkpoint.keep = 3
  config.checkpoint.on_sigterm = True

  # --mode=eval: held-out pairs judged by independent evaluators (fxs_jax/eval).
  config.eval = ml_collections.ConfigDict()
  config.eval.num_examples = 0  # held-out inputs to edit (0 = the whole split)
  config.eval.batch_size = 16
  config.eval.pairs_seed = 0  # which held-out pairs are judged: the same for every training seed
  config.eval.evaluators = True  # AU regressor + expression classifier (see config.eval.judges)
  # Where the AU regressor and classifier come from: "shipped" = the fixed, versioned judges in
  # fxs_jax/pretrained/judges for SynthFaces at 64 px (stills, transfer, sequences), the same on
  # every machine; for other data or sizes they are trained on first use, with one printed line.
  # "train" = always trained on first use into evaluator_dir (the papers' datasets, other sizes).
  # eval.json records their version and held-out quality either way.
  config.eval.judges = "shipped"
  config.eval.evaluator_dir = ""  # "" = ~/.cache/fxs_jax/evaluators
  # The still images the evaluators train on: "" = the run's own data.name (a dataset of
  # sequences has no stills: TextureGAN names SynthFaces' stills of its size).
  config.eval.evaluator_dataset = ""
  config.eval.identity = True  # ACD-I with dlib's face embedding (needs the `faces` extra)
  config.eval.use_ema = True  # False: judge the live generator weights, not their average
  config.eval.inception_weights = ""  # FID / IS: path to the Inception weights (docs/evaluation.md)
  # Which evaluators --mode=eval runs, on which of the recipe's predictions: name -> spec
  # (eval_spec below; fxs_jax/eval/suite.py). config.eval holds the settings they share.
  config.evals = ml_collections.ConfigDict()

  config.logging = ml_collections.ConfigDict()
  config.logging.every_steps = 50
  config.logging.sample_every_steps = 1000
  config.logging.num_samples = 4  # test images in the sample grid
  config.logging.eval_examples = 256  # held-out examples for the eval metrics
  config.logging.progress_bar = True
  return config


def apply_variants(config: ml_collections.ConfigDict, arg: str | None,
                   variants: Mapping[str, Variant], config_name: str = "this config") -> None:
  """Applies the comma-separated variants named in ``arg`` (None or "" = the paper setting)."""
  for name in filter(None, (part.strip() for part in (arg or "").split(","))):
    if name not in variants:
      choices = ", ".join(sorted(variants)) or "none"
      raise ValueError(
          f"Unknown variant {name!r} for {config_name}: choose from {choices} "
          f"(e.g. --config=configs/{config.model_name}.py:{next(iter(sorted(variants)), '')}), "
          "or give none for the paper's setting.")
    variants[name](config)


def finalize(config: ml_collections.ConfigDict, arg: str | None,
             variants: Mapping[str, Variant], config_name: str = "this config"
             ) -> ml_collections.ConfigDict:
  """Applies variants, then locks the config against new (mistyped) keys."""
  apply_variants(config, arg, variants, config_name)
  config.lock()
  return config


def smoke_sections(config: ml_collections.ConfigDict) -> None:
  """Shared part of every ``:smoke`` variant: tiny, fast, no threads, no progress bar."""
  config.num_train_steps = 2
  config.data.batch_size = 2
  config.data.num_threads = 1
  config.data.prefetch = 2
  config.checkpoint.every_steps = 1
  config.logging.every_steps = 1
  config.logging.sample_every_steps = 2
  config.logging.num_samples = 2
  config.logging.eval_examples = 4
  config.logging.progress_bar = False
  config.eval.num_examples = 8
  config.eval.batch_size = 4
  config.eval.evaluators = False  # training the evaluators takes minutes: tests cover them apart
  if "fer" in config.get("evals", {}):  # loading and compiling the judge: tests enable it apart
    config.evals.fer.enabled = False


def eval_spec(kind: str, **fields) -> ml_collections.ConfigDict:
  """One entry of ``config.evals``: evaluator ``kind`` (see ``fxs_jax/eval/suite.py``) with its
  fields; ``--config.evals.<name>.enabled=False`` turns it off."""
  return ml_collections.ConfigDict({"type": kind, "enabled": True, **fields})


def editing_evals(config: ml_collections.ConfigDict, target: str) -> None:
  """``config.evals`` of an image editor: the held-out pairs harness on the ``edit`` prediction
  with the target example's ``target`` (``aus`` or ``emotion``) as the condition, the critic's
  own metrics and the FER2013 judge's reads of the requested emotion."""
  # input_emotions / target_emotions: comma-separated expressions the held-out pairs are
  # restricted to ("" = all; e.g. neutral faces towards happy, a two-domain CycleGAN's pairs).
  config.evals.pairs = eval_spec("pairs", predict="edit", target=target, input_emotions="",
                                 target_emotions="")
  config.evals.critic = eval_spec("critic")
  # A judge trained on real faces (FER2013), for edits of real photos; a measure, never a loss.
  config.evals.fer = eval_spec("fer", predict="edit", target=target, input_emotions="",
                               target_emotions="")


def class_editor_demo(config: ml_collections.ConfigDict) -> None:
  """What every class-conditioned editor's ``:demo`` shares (LGP-GAN's, and the baselines
  compared with it, trained alike): SynthFaces 64 px same-identity pairs with the truth terms
  (``model.lambda_truth=1000``, ``model.changed_truth_weight=0.5``; not in the papers), batch
  16, one critic update per generator update at 3x the generator's rate, 1,250 iterations
  decaying from 833, resize-conv up-sampling, the reporting cadence."""
  config.data.name = "synth_faces/stills_64"
  config.data.batch_size = 16
  config.model.image_size = 64
  config.model.upsample = "resize"
  config.model.lambda_truth = 1000.0
  config.model.changed_truth_weight = 0.5
  config.optim.critic_lr_scale = 3.0
  config.optim.critic_steps = 1
  config.num_train_steps = 1250
  config.optim.decay_start_step = 833
  config.checkpoint.every_steps = 500
  config.logging.sample_every_steps = 250
  config.logging.eval_examples = 128


def video_from_noise(config: ml_collections.ConfigDict) -> None:
  """What the noise-to-video baselines (MoCoGAN, VGAN, TGAN) share in every variant: the class
  terms' weight, the generated videos and the evals: ACD of clips sampled from noise for each
  held-out sequence's class beside the true clips' (faces found by dlib; no ACD-I: they start
  from no face; ``fxs_jax/eval/video.py``; ``num_videos`` 0 = all) and the critic's readings."""
  config.model.lambda_cls = 1.0  # class cross-entropy: critic (real clips), generator (its clips)
  g = config.generate = ml_collections.ConfigDict()
  g.num_faces = 3  # noise draws in videos.png / videos.gif, each under all 7 expressions
  g.fps = 8.0
  config.evals.video = eval_spec("video", predict="sample_video", num_videos=0)
  config.evals.critic = eval_spec("critic")


def video_from_noise_demo(config: ml_collections.ConfigDict) -> None:
  """Their ``:demo``s' shared part: 16 clips a batch, held-out readings on 128 clips."""
  config.data.batch_size = 16
  config.logging.eval_examples = 128


def video_from_noise_smoke(config: ml_collections.ConfigDict) -> None:
  """Their ``:smoke``s' shared part: 32 px 8-frame clips, two steps, no dlib."""
  smoke_sections(config)
  config.data.name = "synth_faces/sequences_smoke"  # 32 px, 8-frame clips
  config.num_train_steps = 2
  config.optim.decay_start_step = 2
  config.eval.identity = False  # dlib's ACD is the eval suite's test, not the smoke run's
  config.model.image_size = 32
  config.model.num_frames = 8
  config.generate.num_faces = 1
