"""MotionGAN (the survey's cWGAN-P3, motion stage): a conditional WGAN-GP of landmark motions on
the SRVF hypersphere.

Data (host, ``examples``): each sequence's landmarks (T, 68, 2) are normalised per frame
(centroid, Frobenius norm), flattened to a curve in R^136, resampled by arc length to
``model.num_frames`` (the authors' 30) and turned into its SRVF ``q`` (T, 136) on the unit sphere
(``fxs_jax.geometry``). The Karcher mean mu of the train split's SRVFs is computed once there and
becomes the generator's non-trainable ``reference`` (so checkpoints and ``fxs_jax.load`` carry it).

With ``G(z, y)`` the generator's tangent vector at mu (``fxs_jax.models.motiongan``),
``fake = exp_mu(G(z, y))`` and ``log = log_mu`` (the inner product clipped to
``model.log_clip``, the authors' 0.98):

Critic: ``mean D(log fake) - mean D(log real) + lambda_gp * GP`` (WGAN-GP on the tangent space).
Generator: ``-mean D(log fake) + lambda_l1 * L1(log real, log fake)
+ lambda_geodesic * mean geodesic(fake, real)`` (the inner product clipped to
``model.geodesic_clip``). The last two pair fake i with real i of the batch (same class, random
z): the authors' choice; it pulls every sample towards its class's mean motion.

A generated motion moves any neutral face: ``L_t = L_0 + motion_scale * curve_t`` with
``curve = srvf_inverse(q)`` and ``L_0`` the face's normalised landmarks (:func:`animate`).
"""

from __future__ import annotations


from absl import logging
import jax.numpy as jnp
import ml_collections
import numpy as np

from fxs_jax import errors
from fxs_jax import geometry
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.errors import UserError
from fxs_jax.models import motiongan as nets
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor

NUM_LANDMARKS = 68
MOTION_EMOTIONS = inputs.MOTION_EMOTIONS
REAL_COLOUR, FAKE_COLOUR = (60, 220, 90), (240, 40, 170)  # sample grids: real and generated motions


def motion_class(emotion_B):
  """The generator's class of a SynthFaces / ``facs`` emotion label (1 = happy ... 7)."""
  return emotion_B - 1


class MotionGAN(GANRecipe):
  """The recipe: SRVF examples and their Karcher mean, the two losses, landmark sample grids,
  the ``sample_motion`` prediction."""

  title = "MotionGAN"

  fields = augment.Fields(images=(), landmarks=())  # no flips: a mirrored motion is another one
  compute_dtype_inputs = ()  # SRVFs stay float32 (the geometry needs the precision)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    if m.critic_norm not in nets.CRITIC_NORMS:
      raise UserError(f"model.critic_norm must be one of {nets.CRITIC_NORMS} (no batch norm in "
                      f"a WGAN-GP critic), got {m.critic_norm!r}.")
    if m.num_frames < 2 or m.num_frames < 2 ** m.gen_num_up:
      raise UserError(f"model.num_frames must be >= 2 and >= 2**model.gen_num_up = "
                      f"{2 ** m.gen_num_up}, got {m.num_frames}.")
    if "compute" in config and config.compute.dtype != "float32":
      raise UserError("MotionGAN computes on the sphere in float32 (bfloat16 would round its "
                      "Karcher mean and tangent vectors): set compute.dtype=float32.")
    for name in ("log_clip", "geodesic_clip"):
      if not 0.0 < m[name] <= 1.0:
        raise UserError(f"model.{name} must lie in (0, 1] (an inner-product clip), got "
                        f"{m[name]}.")
    self.dim = 2 * NUM_LANDMARKS
    # The Karcher mean of the train split's SRVFs, set by examples(train split); until then the
    # generator is built around a placeholder (shapes, or a model that load() overwrites).
    self.reference_TxD: np.ndarray | None = None
    self._cache: dict[str, tuple] = {}

  def build_generator(self, rngs):
    m = self.config.model
    return nets.MotionGenerator(
        m.num_frames, self.dim, len(MOTION_EMOTIONS), noise_dim=m.noise_dim,
        base_channels=m.gen_base_channels, num_up=m.gen_num_up, tangent_scale=m.tangent_scale,
        reference_TxD=self.reference_TxD, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.MotionCritic(m.num_frames, self.dim, len(MOTION_EMOTIONS),
                             channels=tuple(m.critic_channels), hidden=m.critic_hidden,
                             kernel=m.critic_kernel, norm=m.critic_norm, rngs=rngs)

  # ---- data (host) ---------------------------------------------------------------------------
  def motion_example(self, example: dict) -> dict | None:
    """One sequence -> ``srvf`` (T, 136), ``neutral_landmarks`` (its normalised first frame),
    ``emotion``, ``identity``; None for a sequence without motion, a neutral label or no label
    (emotion -1, e.g. CK+'s unlabelled sequences: the generator is conditioned on the class)."""
    lms = np.asarray(example["landmarks"], np.float32)
    if lms.ndim != 3 or lms.shape[1:] != (NUM_LANDMARKS, 2) or len(lms) < 2:
      raise UserError(f"MotionGAN needs sequences of 68 landmarks, (T >= 2, 68, 2) per example; "
                      f"got {lms.shape} (use a sequences dataset, e.g. "
                      "synth_faces/sequences_64).")
    emotion = int(example["emotion"])
    if not 1 <= emotion <= len(MOTION_EMOTIONS):
      return None
    normalised = geometry.normalise_landmarks(lms)
    curve = geometry.resample_by_arc_length(geometry.flatten_frames(normalised),
                                            self.config.model.num_frames)
    q = geometry.srvf(curve)
    if not np.any(q):
      return None
    return {"srvf": q.astype(np.float32), "neutral_landmarks": normalised[0],
            "emotion": np.int32(emotion), "identity": np.int32(example.get("identity", -1))}

  def examples(self, source, split: str):
    """The split's sequences as SRVF examples (a list, built once per source); on the train
    split also the Karcher mean mu the generator is built around (so this must run before the
    trainer traces its init: ``trainer.train`` builds the train examples first)."""
    cached = self._cache.get(split)
    if cached is None or cached[0] is not source:
      built, unlabelled = [], 0
      for i in range(len(source)):
        example = source[i]
        unlabelled += int(example["emotion"]) < 0
        built.append(self.motion_example(example))
      if unlabelled:  # once per split and source (the list is cached)
        logging.warning("MotionGAN: left out %d of the %d %r sequences: unlabelled (emotion -1), "
                        "and the generator is conditioned on the emotion.", unlabelled,
                        len(source), split)
      self._cache[split] = cached = (source, [e for e in built if e is not None])
    examples = cached[1]
    if split == self.config.data.train_split and self.reference_TxD is None:
      if not examples:
        raise UserError(f"The {split!r} split has no sequence with motion: nothing to learn.")
      srvfs = np.stack([e["srvf"] for e in examples])
      self.reference_TxD = np.asarray(geometry.karcher_mean(srvfs), np.float32)
    return examples

  def preprocess(self, example, rng):
    del rng  # no augmentation
    return dict(example)

  def prepare_batch(self, batch, rng):
    """Adds the generator's noise (B, noise_dim): sampled on the host so that training, samples
    and ``--mode=eval`` batches all carry their own, deterministic in the seed."""
    noise = rng.standard_normal((len(batch["emotion"]), self.config.model.noise_dim))
    return {**batch, "noise": noise.astype(np.float32)}

  # ---- training ------------------------------------------------------------------------------
  def _log(self, gen, q_BxTxD):
    return geometry.log_map(q_BxTxD, gen.reference[...], self.config.model.log_clip)

  def fakes_for_critic(self, gen, batch, key):
    """Log-mapped fakes and reals (the critic holds no mu: the generator's is used for both)."""
    del key
    if self.reference_TxD is None:  # at trace time: a generator around the placeholder
      raise RuntimeError("MotionGAN trains around the Karcher mean of its train split: build "
                         "recipe.examples(train split) before the trainer (trainer.train does).")
    out = gen(batch["noise"], motion_class(batch["emotion"]))
    return {"log_fake": self._log(gen, out.srvf_BxTxD), "log_real": self._log(gen, batch["srvf"])}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    del phase
    label = motion_class(batch["emotion"])
    real = critic(fakes["log_real"], label)
    fake = critic(fakes["log_fake"], label)
    adversarial = losses.wgan_critic_loss(real, fake)
    gp = losses.gradient_penalty(lambda x: critic(x, label), fakes["log_real"],
                                 fakes["log_fake"], key)
    loss = adversarial + self.config.model.lambda_gp * gp
    return loss, {"critic/wasserstein": -adversarial, "critic/gp": gp,
                  "critic/real": jnp.mean(real), "critic/fake": jnp.mean(fake)}

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    label = motion_class(batch["emotion"])
    out = gen(batch["noise"], label)
    log_fake = self._log(gen, out.srvf_BxTxD)
    terms = {
        "gen/adversarial": losses.wgan_generator_loss(critic(log_fake, label)),
        "gen/l1": m.lambda_l1 * losses.l1_loss(log_fake, self._log(gen, batch["srvf"])),
        "gen/geodesic": m.lambda_geodesic * jnp.mean(geometry.geodesic_distance(
            out.srvf_BxTxD, batch["srvf"], m.geodesic_clip))}
    return sum(terms.values()), terms

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out: the critic's Wasserstein estimate, the exact geodesic from each fake to the
    real motion of its batch position (same class), and both sets' distance to mu."""
    del key
    label = motion_class(batch["emotion"])
    out = gen(batch["noise"], label)
    mu = gen.reference[...]
    return {
        "wasserstein": jnp.mean(critic(self._log(gen, batch["srvf"]), label))
                       - jnp.mean(critic(self._log(gen, out.srvf_BxTxD), label)),
        "geodesic_paired": jnp.mean(geometry.geodesic_distance(out.srvf_BxTxD, batch["srvf"])),
        "geodesic_fake_to_mean": jnp.mean(geometry.geodesic_distance(out.srvf_BxTxD, mu)),
        "geodesic_real_to_mean": jnp.mean(geometry.geodesic_distance(batch["srvf"], mu))}

  # ---- reports -------------------------------------------------------------------------------
  def _landmarks(self, srvf_BxTxD, neutral_Bx68x2):
    return geometry.motion_on_face(neutral_Bx68x2, geometry.srvf_inverse(srvf_BxTxD),
                   self.config.model.motion_scale)

  def sample(self, gen, batch):
    """Landmark sequences (normalised coordinates): ``real`` / ``fake`` (B, T, 68, 2), a sample
    example's real motion and a generated one of its class, both on its neutral face through
    the same transfer; ``per_class`` (7, T, 68, 2), every class with one noise on the first
    face."""
    n = min(self.config.logging.num_samples, batch["srvf"].shape[0])
    batch = {k: v[:n] for k, v in batch.items()}
    out = gen(batch["noise"], motion_class(batch["emotion"]))
    classes = jnp.arange(len(MOTION_EMOTIONS))
    per_class = gen(jnp.repeat(batch["noise"][:1], len(classes), axis=0), classes)
    return {"real": self._landmarks(batch["srvf"], batch["neutral_landmarks"]),
            "fake": self._landmarks(out.srvf_BxTxD, batch["neutral_landmarks"]),
            "per_class": self._landmarks(per_class.srvf_BxTxD, batch["neutral_landmarks"][:1])}

  def render_samples(self, outputs, batch):
    """``motions``: rows happy .. contemptuous, columns frames from neutral to apex;
    ``real_vs_generated``: per sample example, its real motion (green) and a generated one of
    its class (magenta) on its face."""
    del batch
    return {"motions": viz.landmark_sequences_grid([[s] for s in outputs["per_class"]]),
            "real_vs_generated": viz.landmark_sequences_grid(
                [[(r, REAL_COLOUR), (f, FAKE_COLOUR)]
                 for r, f in zip(outputs["real"], outputs["fake"])])}

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"sample_motion": Predictor(compute=self._sample_motion,
                                       inputs=self.sample_motion_inputs,
                                       conditions=("motion_class",), returns="motion")}

  def _sample_motion(self, gen, batch):
    out = gen(batch["noise"], motion_class(batch["emotion"]))
    curve = geometry.srvf_inverse(out.srvf_BxTxD)
    result = {"srvf": out.srvf_BxTxD, "curve": curve}
    if "neutral_landmarks" in batch:
      result["landmarks"] = geometry.motion_on_face(batch["neutral_landmarks"], curve,
                                    self.config.model.motion_scale)
    return result

  def sample_motion_inputs(self, emotion, num_samples: int | None = None,
                           neutral_landmarks=None, seed: int = 0, noise=None) -> dict:
    """Motions of ``emotion`` (a name, happy .. contemptuous, or its index 1-7; once or per
    sample): ``srvf`` (B, T, 136) on the unit sphere and its ``curve`` (B, T, 136); with
    ``neutral_landmarks`` ((68, 2) or (B, 68, 2) (x, y), e.g. pixels from dlib) also
    ``landmarks`` (B, T, 68, 2): the motion on those faces, in their coordinates
    (``L_t = L_0 + model.motion_scale * curve_t`` in normalised units). ``noise`` (B, noise_dim)
    or ``seed`` fixes the samples."""
    lms = None if neutral_landmarks is None else inputs.check_neutral_landmarks(neutral_landmarks)
    if num_samples is not None:
      num_samples = errors.check_number(
          num_samples, "num_samples", low=1, high=errors.MAX_MOTION_SAMPLES, integer=True,
          meaning="the number of motions", fix="sample more in several calls")
    seed = errors.check_number(seed, "seed", low=0, high=2**63 - 1, integer=True,
                               meaning="the sampling seed", fix="pass e.g. seed=0")
    count = num_samples or (len(noise) if noise is not None else None) or (
        len(lms) if lms is not None and len(lms) > 1 else None) or (
            np.size(emotion) if np.ndim(emotion) else 1)
    batch = {"emotion": inputs.motion_labels(emotion, count)}
    if lms is not None:
      if len(lms) not in (1, count):
        raise UserError(f"neutral_landmarks must be given once or once per sample ({count}), "
                        f"got {len(lms)} faces.")
      batch["neutral_landmarks"] = np.broadcast_to(lms, (count,) + lms.shape[1:]).copy()
    noise_dim = self.config.model.noise_dim
    if noise is None:
      noise = np.random.default_rng(seed).standard_normal((count, noise_dim))
    elif np.shape(noise) != (count, noise_dim):
      raise UserError(f"noise must be (num_samples, {noise_dim}) = ({count}, {noise_dim}), got "
                      f"{np.shape(noise)}.")
    batch["noise"] = np.asarray(noise, np.float32)
    return batch
