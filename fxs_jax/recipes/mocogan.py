"""MoCoGAN (Tulyakov et al., CVPR 2018), the categorical variant: expression clips from noise and
an expression class, a baseline of MotionGAN + TextureGAN (the survey's cWGAN-P3) for IS, ACD and
ACD-I.

The losses as the official code trains its ``CategoricalVideoDiscriminator`` with
``--use_infogan --use_categories`` (``sergeytulyakov/mocogan``, ``src/trainers.py``), with the
non-saturating GAN loss on logits (``BCEWithLogitsLoss``) and the class of a clip as the
condition (``y``, SynthFaces' ``emotion`` 1-7 as class 0-6, like MotionGAN's):

Critic: ``BCE(D_I(x_t), 1) + BCE(D_I(G_I), 0) + BCE(D_V(v), 1) + BCE(D_V(G_V), 0)
+ lambda_cls * CE(D_V^cls(v), y)`` with ``v`` a real clip, ``x_t`` one of its frames at a random
t, ``G_V`` a generated clip of class y and ``G_I`` one frame, at a random t, of another generated
clip of class y. The class term is an auxiliary classifier on the video critic trained on REAL
clips only (the official ``use_categories``), not on fakes (as AC-GAN would).
Generator: ``BCE(D_I(G_I), 1) + BCE(D_V(G_V), 1) + lambda_cls * CE(D_V^cls(G_V), y)`` (the
official ``use_infogan``: the generated clip must be classified as the class it was asked for),
with fresh noise (the reference samples again for its generator update).
BCE(., 1) = mean softplus(-logit), BCE(., 0) = mean softplus(logit), over every patch of the
image critic's map.

The reference updates D_I and D_V with two Adam optimisers, one after the other, on the same
generator; here one critic update minimises their sum. Adam (and its L2 weight decay) works per
parameter and the two critics share none, so the updates are the same; only the fakes are shared
by the two (the reference draws each its own).

Data (``examples``): each labelled sequence (``frames`` (T0, H, W, 3), ``emotion`` 1-7) becomes
one clip of ``model.num_frames`` frames spread evenly over it (all of them when T0 equals it: 16
for SynthFaces' sequences, the reference's length); unlabelled or neutral sequences are left out
(the generator is conditioned on the class). The real image batch is one random frame of each real
clip of the batch (the reference draws its image batch apart, uniformly over all frames).

MoCoGAN cannot start from a given face: its ``sample_video`` prediction makes clips of an
expression class from noise only (``fxs_jax.recipes.base.TASKS``); the video evaluator reports
their ACD beside the true clips', and no ACD-I (no input face).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from fxs_jax import errors
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.errors import UserError
from fxs_jax.models import mocogan as nets
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor

MOTION_EMOTIONS = inputs.MOTION_EMOTIONS
NUM_CLASSES = len(MOTION_EMOTIONS)  # happy .. contemptuous
MAX_VIDEO_SAMPLES = 256  # clips one sample_video call draws (256 x 16 x 64 x 64 x 3 floats: 200 MB)


def motion_class(emotion_B):
  """The generator's class of a SynthFaces / ``facs`` emotion label (1 = happy ... 7)."""
  return emotion_B - 1


def clip_frames(num_source: int, num_frames: int) -> np.ndarray:
  """The frames of a ``num_source``-frame sequence a ``num_frames`` clip takes: evenly spread
  from the first (neutral) to the last (apex), all of them when the lengths agree."""
  if num_source < num_frames:
    raise UserError(f"MoCoGAN's clips are model.num_frames = {num_frames} frames, but the "
                    f"sequences have {num_source}: lower model.num_frames (and the video "
                    "critic's layers) or use longer sequences.")
  return np.round(np.linspace(0, num_source - 1, num_frames)).astype(int)


class Clips:
  """Random-access clips (``frames`` (T, H, W, 3) uint8, ``emotion``, ``identity``) of the
  labelled, non-neutral sequences of a split."""

  def __init__(self, source, num_frames: int):
    self.source, self.num_frames, self.rows = source, num_frames, []
    for i in range(len(source)):
      example = source[i]
      if "frames" not in example or np.ndim(example["frames"]) != 4:
        raise UserError("MoCoGAN trains on sequences, frames (T, H, W, 3) per example; got "
                        f"{sorted(example)} (use a sequences dataset, e.g. "
                        "synth_faces/sequences_64).")
      clip_frames(len(example["frames"]), num_frames)  # too short: say so now
      if 1 <= int(example["emotion"]) <= NUM_CLASSES:
        self.rows.append(i)

  def __len__(self) -> int:
    return len(self.rows)

  def __getitem__(self, index: int) -> dict:
    example = self.source[self.rows[int(index)]]
    frames = np.asarray(example["frames"])
    return {"frames": frames[clip_frames(len(frames), self.num_frames)],
            "emotion": np.int32(example["emotion"]),
            "identity": np.int32(example.get("identity", -1))}


def class_loss(logits_BxK, labels_B):
  """Mean softmax cross-entropy (``nn.CrossEntropyLoss``)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B))


class MoCoGAN(GANRecipe):
  """The recipe: clips of sequences, the two losses, sample grids, ``sample_video``."""

  title = "MoCoGAN"

  fields = augment.Fields(images=("frames",), landmarks=("landmarks",))
  compute_dtype_inputs = ("frames",)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    try:
      nets.num_up_layers(m.image_size)
      nets.video_head_extent(m.num_frames, m.image_size, m.video_critic_num_layers)
    except ValueError as e:
      raise UserError(f"MoCoGAN's model settings do not build: {e}") from None
    if m.image_critic_num_layers < 2 or m.image_size % 2 ** m.image_critic_num_layers:
      raise UserError(f"model.image_critic_num_layers must be >= 2 with model.image_size "
                      f"divisible by 2**it; got {m.image_critic_num_layers} at {m.image_size} px.")
    for name in ("noise_sigma", "lambda_cls"):
      if not m[name] >= 0:
        raise UserError(f"model.{name} must be >= 0, got {m[name]}.")
    self._cache: dict[str, tuple] = {}

  def build_generator(self, rngs):
    m = self.config.model
    return nets.VideoGenerator(m.image_size, NUM_CLASSES, content_dim=m.content_dim,
                               motion_dim=m.motion_dim, base_channels=m.gen_base_channels,
                               rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.Critic(m.num_frames, m.image_size, NUM_CLASSES,
                       image_base_channels=m.image_critic_base_channels,
                       image_num_layers=m.image_critic_num_layers,
                       video_base_channels=m.video_critic_base_channels,
                       video_num_layers=m.video_critic_num_layers, noise_sigma=m.noise_sigma,
                       rngs=rngs)

  # ---- data (host) ---------------------------------------------------------------------------
  def examples(self, source, split: str):
    """The split's labelled sequences as clips (``Clips``, built once per split and source)."""
    cached = self._cache.get(split)
    if cached is None or cached[0] is not source:
      self._cache[split] = cached = (source, Clips(source, self.config.model.num_frames))
    return cached[1]

  # ---- training (jitted) ---------------------------------------------------------------------
  def latent_noise(self, key, count: int, num_frames: int | None = None) -> dict:
    """``content`` z_C (B, content_dim), ``h0`` (B, motion_dim) and ``motion_noise`` e_t
    (B, T, motion_dim), all N(0, I)."""
    m = self.config.model
    k_content, k_h0, k_motion = jax.random.split(key, 3)
    t = num_frames or m.num_frames
    return {"content": jax.random.normal(k_content, (count, m.content_dim)),
            "h0": jax.random.normal(k_h0, (count, m.motion_dim)),
            "motion_noise": jax.random.normal(k_motion, (count, t, m.motion_dim))}

  def generate(self, gen, noise: dict, labels_B) -> nets.VideoOutput:
    return gen(noise["content"], noise["h0"], noise["motion_noise"], labels_B)

  def fakes(self, gen, labels_B, key) -> dict:
    """``video`` (B, T, H, W, 3): clips of the classes ``labels``; ``image`` (B, H, W, 3): one
    frame, at a random t, of each of B other clips of those classes."""
    count, frames = labels_B.shape[0], self.config.model.num_frames
    k_video, k_image, k_frame = jax.random.split(key, 3)
    video = self.generate(gen, self.latent_noise(k_video, count), labels_B).frames_BxTxHxWx3
    n = self.latent_noise(k_image, count)
    image = gen.images(n["content"], n["h0"], n["motion_noise"], labels_B,
                       jax.random.randint(k_frame, (count,), 0, frames))
    return {"video": video, "image": image}

  def real_images(self, video_BxTxHxWx3, key):
    """One frame of each real clip, at a random t."""
    b, t = video_BxTxHxWx3.shape[:2]
    return video_BxTxHxWx3[jnp.arange(b), jax.random.randint(key, (b,), 0, t)]

  def fakes_for_critic(self, gen, batch, key):
    return self.fakes(gen, motion_class(batch["emotion"]), jax.random.fold_in(key, 0))

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    m = self.config.model
    labels, video = motion_class(batch["emotion"]), batch["frames"]
    k_frame, k1, k2, k3, k4 = jax.random.split(key, 5)  # k1..k4: instance noise
    image_real = critic.image(self.real_images(video, k_frame), k1)
    image_fake = critic.image(fakes["image"], k2)
    real, fake = critic.video(video, k3), critic.video(fakes["video"], k4)
    terms = {
        "critic/image_adv": losses.nonsaturating_critic_loss(image_real, image_fake),
        "critic/video_adv": losses.nonsaturating_critic_loss(real.logit_B, fake.logit_B),
        "critic/cls": m.lambda_cls * class_loss(real.class_logits_BxK, labels)}
    metrics = {**terms, "critic/acc_real": jnp.mean(
        jnp.argmax(real.class_logits_BxK, -1) == labels)}
    return sum(terms.values()), metrics

  def generator_loss(self, gen, critic, batch, key):
    m = self.config.model
    labels = motion_class(batch["emotion"])
    fakes = self.fakes(gen, labels, jax.random.fold_in(key, 1))  # fresh noise, as the reference
    k_image, k_video = jax.random.split(jax.random.fold_in(key, 2))
    judged = critic.video(fakes["video"], k_video)
    terms = {
        "gen/image_adv": losses.nonsaturating_generator_loss(critic.image(fakes["image"],
                                                                          k_image)),
        "gen/video_adv": losses.nonsaturating_generator_loss(judged.logit_B),
        "gen/cls": m.lambda_cls * class_loss(judged.class_logits_BxK, labels)}
    return sum(terms.values()), terms

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out, with the generator as it predicts (batch norms on their running averages) and
    no instance noise: the video critic's class accuracy on real clips and on generated ones
    (against the class asked for), both critics' mean probability of "real" on real and
    generated inputs, and the mean absolute change between consecutive frames of generated and
    real clips (0: a still video)."""
    labels, video = motion_class(batch["emotion"]), batch["frames"]
    k_fake, k_frame = jax.random.split(key)
    fakes = self.fakes(frozen(gen), labels, k_fake)
    real, fake = critic.video(video), critic.video(fakes["video"])

    def change(v):
      return jnp.mean(jnp.abs(v[:, 1:] - v[:, :-1]))
    return {"acc_real": jnp.mean(jnp.argmax(real.class_logits_BxK, -1) == labels),
            "acc_fake": jnp.mean(jnp.argmax(fake.class_logits_BxK, -1) == labels),
            "p_video_real": jnp.mean(jax.nn.sigmoid(real.logit_B)),
            "p_video_fake": jnp.mean(jax.nn.sigmoid(fake.logit_B)),
            "p_image_real": jnp.mean(jax.nn.sigmoid(critic.image(self.real_images(video,
                                                                                  k_frame)))),
            "p_image_fake": jnp.mean(jax.nn.sigmoid(critic.image(fakes["image"]))),
            "frame_change_fake": change(fakes["video"]), "frame_change_real": change(video)}

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, T, H, W, 3) in [-1, 1]: ``classes``, one content and motion noise (fixed by
    ``config.seed``) under each class, happy .. contemptuous; ``real_vs_generated``, for each
    sample example its real clip, then a generated clip of its class."""
    gen = frozen(gen)
    n = min(self.config.logging.num_samples, batch["frames"].shape[0])
    key = jax.random.key(self.config.seed)
    one = self.latent_noise(key, 1)
    same = {k: jnp.repeat(v, NUM_CLASSES, axis=0) for k, v in one.items()}
    classes = self.generate(gen, same, jnp.arange(NUM_CLASSES)).frames_BxTxHxWx3
    labels = motion_class(batch["emotion"][:n])
    generated = self.generate(gen, self.latent_noise(jax.random.fold_in(key, 1), n),
                              labels).frames_BxTxHxWx3
    real = batch["frames"][:n].astype(generated.dtype)
    pairs = jnp.stack([real, generated], axis=1).reshape(2 * n, *real.shape[1:])
    return {"classes": classes, "real_vs_generated": pairs}

  def render_samples(self, outputs, batch):
    """``videos``: rows happy .. contemptuous (one identity), columns the frames;
    ``real_vs_generated``: real clip and generated clip of its class, alternating rows."""
    del batch
    return {"videos": viz.tile_grid(outputs["classes"]),
            "real_vs_generated": viz.tile_grid(outputs["real_vs_generated"])}

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"sample_video": Predictor(
        compute=self._sample_video, inputs=self.sample_video_inputs,
        conditions=("motion_class",), returns="frames", image_arg="", one_in_one_out=False,
        doc="Clips of an expression class from noise (no input face).")}

  def _sample_video(self, gen, batch):
    return self.generate(frozen(gen), batch, motion_class(batch["emotion"])).frames_BxTxHxWx3

  def sample_video_inputs(self, emotion, num_samples: int | None = None, seed: int = 0,
                          content=None, same_content: bool = False,
                          frames: int | None = None) -> dict:
    """Clips of ``emotion`` (a name, happy .. contemptuous, or its index 1-7; once or per
    sample), generated from noise: ``model.sample_video(...)`` returns (B, T, H, W, 3) float32
    in [-1, 1] (``fxs_jax.data.augment.to_uint8`` for uint8). ``seed`` fixes the noise;
    ``content`` ((content_dim,) or (B, content_dim)) gives the content codes z_C (the
    identity) instead of drawing them, and ``same_content=True`` draws one for every sample
    (the same face under each class); the motion noise of a seed does not depend on either.
    ``frames``: the clip length (default ``model.num_frames``; the GRU runs as long as asked,
    the model was trained at its own length)."""
    m = self.config.model
    seed = errors.check_number(seed, "seed", low=0, high=2**63 - 1, integer=True,
                               meaning="the sampling seed", fix="pass e.g. seed=0")
    if num_samples is not None:
      num_samples = errors.check_number(
          num_samples, "num_samples", low=1, high=MAX_VIDEO_SAMPLES, integer=True,
          meaning="the number of clips", fix="sample more in several calls")
    frames = m.num_frames if frames is None else errors.check_number(
        frames, "frames", low=1, high=errors.MAX_FRAMES, integer=True,
        meaning="the frames of a clip", fix="generate a longer video in parts")
    given = None if content is None else np.asarray(content, np.float32)
    if given is not None and (given.ndim not in (1, 2) or given.shape[-1] != m.content_dim
                              or not np.all(np.isfinite(given))):
      raise UserError(f"content must be finite codes of {m.content_dim} numbers, "
                      f"({m.content_dim},) or (B, {m.content_dim}); got shape "
                      f"{np.shape(content)}.")
    count = num_samples or (len(given) if given is not None and given.ndim == 2 else None) or (
        np.size(emotion) if np.ndim(emotion) else 1)
    if count > MAX_VIDEO_SAMPLES:
      raise UserError(f"{count} clips asked for; a call draws at most {MAX_VIDEO_SAMPLES}: "
                      "sample more in several calls.")
    labels = inputs.motion_labels(emotion, count)
    rng = np.random.default_rng(seed)
    drawn = rng.standard_normal((count, m.content_dim))  # drawn always: the motion noise of a
    h0 = rng.standard_normal((count, m.motion_dim))      # seed is the same with or without
    motion = rng.standard_normal((count, frames, m.motion_dim))  # content=
    if given is not None:
      if given.ndim == 2 and len(given) != count:
        raise UserError(f"content must be given once or once per sample ({count}), got "
                        f"{len(given)} codes.")
      drawn = np.broadcast_to(given, (count, m.content_dim))
    elif same_content:
      drawn = np.broadcast_to(drawn[:1], drawn.shape)
    return {"emotion": labels, "content": np.array(drawn, np.float32),
            "h0": h0.astype(np.float32), "motion_noise": motion.astype(np.float32)}
