"""What the video baselines that draw expression clips from noise share (MoCoGAN, VGAN, TGAN):
the clips they train on, a video critic with a class head, the class-conditioned losses on
clips, the held-out critic readings, the sample grids and the ``sample_video`` prediction.

The class of a clip is its condition, as for MotionGAN (SynthFaces' ``emotion`` 1-7 as class
0-6). As in MoCoGAN's categorical variant (``--use_infogan --use_categories``), the video
critic has a class head trained on REAL clips only, and the generator must make clips the head
classifies as the class asked for:

Critic: ``adv(D_V(v), D_V(G(z, y))) + lambda_cls * CE(D_V^cls(v), y)``;
generator: ``adv_G(D_V(G(z, y))) + lambda_cls * CE(D_V^cls(G(z, y)), y)``, with fresh noise.

``adv`` is the non-saturating GAN loss on logits unless a recipe says otherwise
(``critic_adversarial`` / ``generator_adversarial``). A recipe gives its networks, the shapes
of its noise (``noise_shapes``), how the generator turns noise and classes into clips
(``generate``), and any terms of its own (``extra_critic_terms``, ``extra_generator_terms``).

By default none of these baselines starts from a given face: ``sample_video`` makes clips of an
expression class from noise only (``fxs_jax.recipes.base.TASKS``); the video evaluator reports
their ACD beside the true clips', and no ACD-I (no input face). A recipe whose paper has an
image-conditioned variant (VGAN's future generation) sets ``supports_from_face``; with
``model.from_face=True`` its generator gets each clip's first (neutral) frame as ``noise["face"]``,
the generator is also asked to reproduce that frame as its first,
``lambda_first_frame * mean|G(x, y)_0 - x|``, and the prediction is ``animate_face`` (a face and
a class -> the clip), which the video evaluator scores against the true clips (ACD, ACD-I).
"""

from __future__ import annotations

import abc

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
from fxs_jax.models.mocogan import VideoOnlyCritic
from fxs_jax.nn.layers import frozen
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor

MOTION_EMOTIONS = inputs.MOTION_EMOTIONS
NUM_CLASSES = len(MOTION_EMOTIONS)  # happy .. contemptuous
MAX_VIDEO_SAMPLES = 256  # clips one sample_video call draws (256 x 16 x 64 x 64 x 3 floats: 200 MB)


def motion_class(emotion_B):
  """The generator's class of a SynthFaces / ``facs`` emotion label (1 = happy ... 7)."""
  return emotion_B - 1


def clip_frames(num_source: int, num_frames: int, title: str = "The video baseline") -> np.ndarray:
  """The frames of a ``num_source``-frame sequence a ``num_frames`` clip takes: evenly spread
  from the first (neutral) to the last (apex), all of them when the lengths agree."""
  if num_source < num_frames:
    raise UserError(f"{title}'s clips are model.num_frames = {num_frames} frames, but the "
                    f"sequences have {num_source}: lower model.num_frames (and the video "
                    "critic's layers) or use longer sequences.")
  return np.round(np.linspace(0, num_source - 1, num_frames)).astype(int)


class Clips:
  """Random-access clips (``frames`` (T, H, W, 3) uint8, ``emotion``, ``identity``) of the
  labelled, non-neutral sequences of a split."""

  def __init__(self, source, num_frames: int, title: str = "The video baseline"):
    self.source, self.num_frames, self.title, self.rows = source, num_frames, title, []
    for i in range(len(source)):
      example = source[i]
      if "frames" not in example or np.ndim(example["frames"]) != 4:
        raise UserError(f"{title} trains on sequences, frames (T, H, W, 3) per example; got "
                        f"{sorted(example)} (use a sequences dataset, e.g. "
                        "synth_faces/sequences_64).")
      clip_frames(len(example["frames"]), num_frames, title)  # too short: say so now
      if 1 <= int(example["emotion"]) <= NUM_CLASSES:
        self.rows.append(i)

  def __len__(self) -> int:
    return len(self.rows)

  def __getitem__(self, index: int) -> dict:
    example = self.source[self.rows[int(index)]]
    frames = np.asarray(example["frames"])
    return {"frames": frames[clip_frames(len(frames), self.num_frames, self.title)],
            "emotion": np.int32(example["emotion"]),
            "identity": np.int32(example.get("identity", -1))}


def class_loss(logits_BxK, labels_B):
  """Mean softmax cross-entropy (``nn.CrossEntropyLoss``)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B))


def frame_change(video_BxTxHxWx3):
  """Mean absolute change between consecutive frames (0: a still video)."""
  return jnp.mean(jnp.abs(video_BxTxHxWx3[:, 1:] - video_BxTxHxWx3[:, :-1]))


class VideoFromNoiseRecipe(GANRecipe, abc.ABC):
  """Clips of sequences, the class-conditioned video losses, sample grids, ``sample_video``.

  The critic has ``video(clip, key=None)`` returning ``logit_B`` and ``class_logits_BxK``.
  """

  fields = augment.Fields(images=("frames",), landmarks=("landmarks",))
  compute_dtype_inputs = ("frames",)
  identity_noise = "content"  # the noise entry that fixes the face (sample_video's content=)
  video_critic = None  # the critic's class, when a video critic is all it has (VGAN, TGAN)
  supports_from_face = False  # whether model.from_face (clips from a given first face) builds
  critic_adversarial = staticmethod(losses.nonsaturating_critic_loss)
  generator_adversarial = staticmethod(losses.nonsaturating_generator_loss)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    if not config.model.lambda_cls >= 0:
      raise UserError(f"model.lambda_cls must be >= 0, got {config.model.lambda_cls}.")
    self.from_face = bool(config.model.get("from_face", False))
    if self.from_face and not self.supports_from_face:
      raise UserError(f"model.from_face=True: {self.title} has no image-conditioned variant "
                      "here (its clips come from noise); drop the override.")
    if self.from_face and not config.model.lambda_first_frame >= 0:
      raise UserError("model.lambda_first_frame must be >= 0, got "
                      f"{config.model.lambda_first_frame}.")
    self._cache: dict[str, tuple] = {}

  # ---- what a recipe gives -------------------------------------------------------------------
  @abc.abstractmethod
  def noise_shapes(self, count: int, num_frames: int) -> dict[str, tuple[int, ...]]:
    """The generator's noise, name -> shape, each N(0, I), drawn in this order."""

  @abc.abstractmethod
  def generate(self, gen, noise: dict, labels_B) -> jax.Array:
    """Clips (B, T, H, W, 3) in [-1, 1] of the classes ``labels_B`` (0-6) from ``noise``."""

  def build_critic(self, rngs):
    """``video_critic`` over the clips (``model.critic_base_channels`` / ``critic_num_layers``)
    as the trainer's critic module; a recipe with more critics (MoCoGAN) builds its own."""
    m = self.config.model
    return VideoOnlyCritic(self.video_critic(
        m.num_frames, m.image_size, NUM_CLASSES, base_channels=m.critic_base_channels,
        num_layers=m.critic_num_layers, rngs=rngs))

  def extra_critic_terms(self, critic, batch, fakes, key) -> dict:
    """Loss terms of the recipe's own beside the video terms (e.g. MoCoGAN's image critic)."""
    del critic, batch, fakes, key
    return {}

  def extra_generator_terms(self, gen, critic, fakes, labels_B, key) -> dict:
    del gen, critic, fakes, labels_B, key
    return {}

  # ---- data (host) ---------------------------------------------------------------------------
  def examples(self, source, split: str):
    """The split's labelled sequences as clips (``Clips``, built once per split and source)."""
    cached = self._cache.get(split)
    if cached is None or cached[0] is not source:
      self._cache[split] = cached = (source, Clips(source, self.config.model.num_frames,
                                                   self.title))
    return cached[1]

  # ---- training (jitted) ---------------------------------------------------------------------
  def latent_noise(self, key, count: int, num_frames: int | None = None) -> dict:
    shapes = self.noise_shapes(count, num_frames or self.config.model.num_frames)
    if not shapes:
      return {}
    keys = jax.random.split(key, len(shapes))
    return {name: jax.random.normal(k, shape) for k, (name, shape) in zip(keys, shapes.items())}

  def first_faces(self, batch):
    """With ``model.from_face``, the clips' first (neutral) frames the generator starts from."""
    return batch["frames"][:, 0] if self.from_face else None

  def generator_inputs(self, key, count: int, faces_B=None) -> dict:
    """Noise for ``count`` clips and, given, the faces they start from (``"face"``)."""
    noise = self.latent_noise(key, count)
    return noise if faces_B is None else {**noise, "face": faces_B}

  def fakes(self, gen, labels_B, key, faces_B=None) -> dict:
    """``video`` (B, T, H, W, 3): clips of the classes ``labels`` (from ``faces_B``, given)."""
    return {"video": self.generate(
        gen, self.generator_inputs(key, labels_B.shape[0], faces_B), labels_B)}

  def fakes_for_critic(self, gen, batch, key):
    return self.fakes(gen, motion_class(batch["emotion"]), jax.random.fold_in(key, 0),
                      self.first_faces(batch))

  def first_frame_terms(self, fakes, faces_B) -> dict:
    """``gen/first_frame``: ``lambda_first_frame * mean|G(x, y)_0 - x|`` (from a face only)."""
    if faces_B is None:
      return {}
    error = jnp.mean(jnp.abs(fakes["video"][:, 0] - faces_B.astype(fakes["video"].dtype)))
    return {"gen/first_frame": self.config.model.lambda_first_frame * error}

  def video_terms(self, critic, video, fake_video, labels, k_real, k_fake):
    """The critic's adversarial and class terms on clips, and its class accuracy on reals."""
    real, fake = critic.video(video, k_real), critic.video(fake_video, k_fake)
    terms = {"critic/video_adv": self.critic_adversarial(real.logit_B, fake.logit_B),
             "critic/cls": self.config.model.lambda_cls * class_loss(real.class_logits_BxK,
                                                                     labels)}
    return terms, {"critic/acc_real": jnp.mean(jnp.argmax(real.class_logits_BxK, -1) == labels)}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    k_real, k_fake, k_extra = jax.random.split(key, 3)
    terms, metrics = self.video_terms(critic, batch["frames"], fakes["video"],
                                      motion_class(batch["emotion"]), k_real, k_fake)
    terms.update(self.extra_critic_terms(critic, batch, fakes, k_extra))
    return sum(terms.values()), {**terms, **metrics}

  def generator_terms(self, critic, fake_video, labels, key) -> dict:
    judged = critic.video(fake_video, key)
    return {"gen/video_adv": self.generator_adversarial(judged.logit_B),
            "gen/cls": self.config.model.lambda_cls * class_loss(judged.class_logits_BxK,
                                                                 labels)}

  def generator_loss(self, gen, critic, batch, key):
    labels, faces = motion_class(batch["emotion"]), self.first_faces(batch)
    fakes = self.fakes(gen, labels, jax.random.fold_in(key, 1), faces)  # fresh noise
    k_video, k_extra = jax.random.split(jax.random.fold_in(key, 2))
    terms = {**self.extra_generator_terms(gen, critic, fakes, labels, k_extra),
             **self.generator_terms(critic, fakes["video"], labels, k_video),
             **self.first_frame_terms(fakes, faces)}
    return sum(terms.values()), terms

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out, with the generator as it predicts (batch norms on their running averages) and
    no instance noise: the video critic's class accuracy on real clips and on generated ones
    (against the class asked for), its mean output on real and generated clips (the probability
    of "real" for a logit critic), and the mean absolute change between consecutive frames of
    generated and real clips (0: a still video). From a face: ``first_frame_l1``, the mean
    absolute error of the generated first frames against the given faces (in [-1, 1] units)."""
    labels, video, faces = motion_class(batch["emotion"]), batch["frames"], self.first_faces(batch)
    fakes = self.fakes(frozen(gen), labels, key, faces)
    real, fake = critic.video(video), critic.video(fakes["video"])
    if self.critic_adversarial is losses.nonsaturating_critic_loss:
      readings = {"p_video_real": jnp.mean(jax.nn.sigmoid(real.logit_B)),
                  "p_video_fake": jnp.mean(jax.nn.sigmoid(fake.logit_B))}
    else:
      readings = {"score_video_real": jnp.mean(real.logit_B),
                  "score_video_fake": jnp.mean(fake.logit_B)}
    if faces is not None:
      readings["first_frame_l1"] = jnp.mean(jnp.abs(fakes["video"][:, 0] - faces))
    return {"acc_real": jnp.mean(jnp.argmax(real.class_logits_BxK, -1) == labels),
            "acc_fake": jnp.mean(jnp.argmax(fake.class_logits_BxK, -1) == labels),
            **readings, "frame_change_fake": frame_change(fakes["video"]),
            "frame_change_real": frame_change(video)}

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, T, H, W, 3) in [-1, 1]: ``classes``, one noise draw (fixed by
    ``config.seed``; from a face: the first sample clip's first frame) under each class, happy ..
    contemptuous; ``real_vs_generated``, for each sample example its real clip, then a generated
    clip of its class (from a face: from the real clip's first frame)."""
    gen = frozen(gen)
    n = min(self.config.logging.num_samples, batch["frames"].shape[0])
    key = jax.random.key(self.config.seed)
    faces = self.first_faces(batch)
    one = self.generator_inputs(key, 1, None if faces is None else faces[:1])
    same = {k: jnp.repeat(v, NUM_CLASSES, axis=0) for k, v in one.items()}
    classes = self.generate(gen, same, jnp.arange(NUM_CLASSES))
    labels = motion_class(batch["emotion"][:n])
    generated = self.generate(gen, self.generator_inputs(
        jax.random.fold_in(key, 1), n, None if faces is None else faces[:n]), labels)
    real = batch["frames"][:n].astype(generated.dtype)
    pairs = jnp.stack([real, generated], axis=1).reshape(2 * n, *real.shape[1:])
    return {"classes": classes, "real_vs_generated": pairs}

  def render_samples(self, outputs, batch):
    """``videos``: rows happy .. contemptuous (one noise draw), columns the frames;
    ``real_vs_generated``: real clip and generated clip of its class, alternating rows."""
    del batch
    return {"videos": viz.tile_grid(outputs["classes"]),
            "real_vs_generated": viz.tile_grid(outputs["real_vs_generated"])}

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    if self.from_face:
      return {"animate_face": Predictor(
          compute=self._sample_video, inputs=self.animate_face_inputs,
          conditions=("motion_class",), returns="frames", image_arg="faces",
          doc="Clips of an expression class starting from the given faces.")}
    return {"sample_video": Predictor(
        compute=self._sample_video, inputs=self.sample_video_inputs,
        conditions=("motion_class",), returns="frames", image_arg="", one_in_one_out=False,
        doc="Clips of an expression class from noise (no input face).")}

  def _sample_video(self, gen, batch):
    return self.generate(frozen(gen), batch, motion_class(batch["emotion"]))

  def animate_face_inputs(self, faces, emotion, seed: int = 0) -> dict:
    """Clips of ``emotion`` (a name, happy .. contemptuous, or its index 1-7; once or per face)
    starting from ``faces`` (B, H, W, 3) or one (H, W, 3), uint8 or float in [-1, 1] (neutral
    faces, as the model trains from): ``model.animate_face(...)`` returns (B, T, H, W, 3), or
    (T, H, W, 3) for one face; uint8 for uint8 faces, else float32 in [-1, 1]. ``seed`` fixes
    the rest of the generator's noise, if it has any."""
    seed = errors.check_number(seed, "seed", low=0, high=2**63 - 1, integer=True,
                               meaning="the sampling seed", fix="pass e.g. seed=0")
    faces = inputs.check_images(faces, self.config.model.image_size, "faces")
    if len(faces) > MAX_VIDEO_SAMPLES:
      raise UserError(f"{len(faces)} faces given; a call animates at most "
                      f"{MAX_VIDEO_SAMPLES}: animate more in several calls.")
    labels = inputs.motion_labels(emotion, len(faces))
    rng = np.random.default_rng(seed)
    noise = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in
             self.noise_shapes(len(faces), self.config.model.num_frames).items()}
    return {"emotion": labels, **noise, "face": faces}

  def sample_video_inputs(self, emotion, num_samples: int | None = None, seed: int = 0,
                          content=None, same_content: bool = False,
                          frames: int | None = None) -> dict:
    """Clips of ``emotion`` (a name, happy .. contemptuous, or its index 1-7; once or per
    sample), generated from noise: ``model.sample_video(...)`` returns (B, T, H, W, 3) float32
    in [-1, 1] (``fxs_jax.data.augment.to_uint8`` for uint8). ``seed`` fixes the noise;
    ``content`` (one code or one per sample) gives the noise that fixes the face (the recipe's
    ``identity_noise``) instead of drawing it, and ``same_content=True`` draws one for every
    sample (the same face under each class); the rest of a seed's noise does not depend on
    either. ``frames``: the clip length (default ``model.num_frames``; a recipe whose generator
    has a fixed length accepts only that)."""
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
    self.check_frames(frames)
    code_shape = self.noise_shapes(1, frames)[self.identity_noise][1:]
    given = None if content is None else np.asarray(content, np.float32)
    if given is not None and (given.shape[-len(code_shape):] != code_shape
                              or given.ndim not in (len(code_shape), len(code_shape) + 1)
                              or not np.all(np.isfinite(given))):
      raise UserError(f"content must be finite codes of shape {code_shape} (one, or one per "
                      f"sample); got shape {np.shape(content)}.")
    per_sample = given is not None and given.ndim == len(code_shape) + 1
    count = num_samples or (len(given) if per_sample else None) or (
        np.size(emotion) if np.ndim(emotion) else 1)
    if count > MAX_VIDEO_SAMPLES:
      raise UserError(f"{count} clips asked for; a call draws at most {MAX_VIDEO_SAMPLES}: "
                      "sample more in several calls.")
    labels = inputs.motion_labels(emotion, count)
    rng = np.random.default_rng(seed)
    # Every entry is drawn always: the rest of a seed's noise is the same with or without
    # content= or same_content=.
    noise = {name: rng.standard_normal(shape)
             for name, shape in self.noise_shapes(count, frames).items()}
    drawn = noise[self.identity_noise]
    if given is not None:
      if per_sample and len(given) != count:
        raise UserError(f"content must be given once or once per sample ({count}), got "
                        f"{len(given)} codes.")
      drawn = np.broadcast_to(given, drawn.shape)
    elif same_content:
      drawn = np.broadcast_to(drawn[:1], drawn.shape)
    noise[self.identity_noise] = drawn
    return {"emotion": labels, **{k: np.array(v, np.float32) for k, v in noise.items()}}

  def check_frames(self, frames: int) -> None:
    """Raise if the generator cannot make ``frames``-frame clips (any length by default)."""
    del frames
