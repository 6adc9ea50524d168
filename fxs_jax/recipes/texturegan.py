"""TextureGAN: the second half of cWGAN-P3 (MotionGAN + TextureGAN), frames from landmarks.

No code was published (``/work/shared/MODELS.md`` marks the details *open*); the choices, kept
in ``configs/texturegan.py`` and the "paper vs fxs_jax" table of ``docs/papers/motiongan_texturegan.md``:

* **Networks**: the cGAN transfer's (``fxs_jax.models.cgan_transfer``, ``variant="keypoints"``):
  a pix2pix U-Net on the NEUTRAL face concatenated with the keypoint image J of one frame's
  landmarks (``fxs_jax.nn.keypoints``), with a residual output that starts as copy-the-neutral-
  face; a spectral-norm PatchGAN critic conditioned, as pix2pix's, on everything the generator
  saw: ``D(frame, [neutral, J])``.
* **Data** (``examples``): each SynthFaces sequence (``frames`` (T, H, W, 3), ``landmarks``
  (T, 68, 2)) becomes the examples (neutral = frame 0, frame t, landmarks t) for every t > 0
  (``model.frames_per_sequence = 0``) or for k frames spread evenly over 1 .. T - 1; frame t is
  the exact truth. Keys follow the transfer examples so the ``transfer`` evaluator reads them:
  ``target_image`` / ``target_landmarks`` = the neutral frame, ``image`` / ``landmarks`` = frame t.

Critic: ``adv_D(D(frame_t, c), D(fake, c))`` with ``c = [neutral, J(L_t)]``.
Generator: ``adv_G(D(fake, c)) + lambda_l1 * L1(fake, frame_t)
+ lambda_identity * mean(keep * |fake - neutral|)``, ``keep = 1 - max_k exp(-|p - l_k|^2 /
(2 identity_sigma^2))`` over the landmarks l_k of the neutral frame and of frame t: the neutral
face's own pixels wherever no landmark is near (hair, background, the face's outer skin).
"""

from __future__ import annotations


import jax.numpy as jnp
import ml_collections
import numpy as np

from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax.data import augment
from fxs_jax.errors import MAX_FRAMES
from fxs_jax.errors import UserError
from fxs_jax.models import cgan_transfer as nets
from fxs_jax.nn import keypoints
from fxs_jax.recipes import cgan_transfer
from fxs_jax.recipes.base import Predictor

NUM_LANDMARKS = 68


def keep_mask(landmark_sets, size: int, sigma: float) -> jnp.ndarray:
  """(B, H, W, 1) in [0, 1]: 1 far from every landmark of every (B, 68, 2) set, 0 on one."""
  near = [keypoints.render_keypoints(lms, size, "heatmaps", sigma) for lms in landmark_sets]
  return 1.0 - jnp.max(jnp.concatenate(near, axis=-1), axis=-1, keepdims=True)


def frame_indices(num_frames: int, per_sequence: int) -> np.ndarray:
  """The frames t > 0 a sequence of ``num_frames`` gives: all (``per_sequence`` 0) or
  ``per_sequence`` spread evenly over 1 .. T - 1 (both ends included)."""
  every = np.arange(1, num_frames)
  if per_sequence <= 0 or per_sequence >= len(every):
    return every
  return np.unique(np.round(np.linspace(1, num_frames - 1, per_sequence)).astype(int))


class FramePairs:
  """Random-access (neutral frame, frame t, landmarks t) examples of a sequences split."""

  def __init__(self, source, per_sequence: int = 0):
    self.source = source
    if not len(source):
      self.times = np.zeros((0,), int)
      return
    first = source[0]
    lms = np.asarray(first.get("landmarks"))
    if "frames" not in first or lms.ndim != 3 or lms.shape[1:] != (NUM_LANDMARKS, 2) \
        or len(lms) < 2:
      raise UserError("TextureGAN needs sequences, frames (T >= 2, H, W, 3) and landmarks (T, 68, "
                      f"2) per example; got landmarks of shape {lms.shape} (use a sequences "
                      "dataset, e.g. synth_faces/sequences_64).")
    self.times = frame_indices(len(lms), per_sequence)

  def __len__(self) -> int:
    return len(self.source) * len(self.times)

  def __getitem__(self, index: int) -> dict:
    sequence, t = divmod(int(index), len(self.times))
    example = self.source[sequence]
    t = int(self.times[t])
    frames, lms = example["frames"], np.asarray(example["landmarks"], np.float32)
    out = {"target_image": np.asarray(frames[0]), "target_landmarks": lms[0],
           "image": np.asarray(frames[t]), "landmarks": lms[t], "frame": np.int32(t)}
    for key in ("emotion", "identity"):
      if key in example:
        out[key] = np.int32(example[key])
    if "aus" in example:
      out["aus"] = np.asarray(example["aus"][t], np.float32)
    return out


class TextureGAN(cgan_transfer.CGANTransfer):
  """The cGAN transfer recipe on (neutral face, frame landmarks) -> frame."""

  title = "MotionGAN + TextureGAN"

  variants = ("keypoints",)
  fields = augment.Fields(images=("target_image", "image", "frames"),
                          landmarks=("target_landmarks", "landmarks"))
  compute_dtype_inputs = ("target_image", "image")

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    if m.output != "residual":
      # The copy-the-neutral-face start is the point; "absolute" stays available to the cGAN.
      raise UserError(f"TextureGAN draws a change of the neutral face: model.output must be "
                      f"'residual', got {m.output!r}.")
    if m.lambda_identity < 0 or m.identity_sigma <= 0:
      raise UserError("model.lambda_identity must be >= 0 and model.identity_sigma > 0, got "
                      f"{m.lambda_identity} and {m.identity_sigma}.")

  def build_generator(self, rngs):
    m = self.config.model
    return nets.TransferGenerator(
        m.image_size, variant="keypoints", base_channels=m.gen_base_channels,
        num_down=m.unet_num_down or None, upsample=self.upsample, keypoint_kind=m.keypoint_kind,
        sigma=m.keypoint_sigma, output=m.output, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    condition = 3 + keypoints.num_channels(m.keypoint_kind)  # [neutral, J]
    return nets.TransferCritic(3 + condition, m.image_size, num_layers=m.critic_num_layers,
                               base_channels=m.critic_base_channels, norm=m.critic_norm,
                               rngs=rngs)

  # ---- data ----------------------------------------------------------------------------------
  def examples(self, source, split: str):
    """(neutral, frame t, landmarks t) examples of every sequence (``FramePairs``)."""
    del split
    return FramePairs(source, self.config.model.frames_per_sequence)

  # ---- training ------------------------------------------------------------------------------
  def transfer(self, gen, batch) -> nets.TransferOutput:
    return gen(None, batch["landmarks"], batch["target_image"], None)

  def fakes_for_critic(self, gen, batch, key):
    del key
    out = self.transfer(gen, batch)
    return {"image": out.image_BxHxWx3,
            "condition": jnp.concatenate([batch["target_image"], out.condition_BxHxWxC], -1)}

  def generator_loss(self, gen, critic, batch, key):
    m = self.config.model
    _, generator_loss = cgan_transfer.ADVERSARIAL[m.gan_loss]
    fakes = self.fakes_for_critic(gen, batch, key)
    fake, neutral = fakes["image"], batch["target_image"]
    keep = keep_mask((batch["target_landmarks"], batch["landmarks"]), m.image_size,
                     m.identity_sigma)
    terms = {"gen/adversarial": generator_loss(critic(fake, fakes["condition"])),
             "gen/l1": m.lambda_l1 * losses.l1_loss(fake, batch["image"]),
             "gen/identity": m.lambda_identity * jnp.mean(keep * jnp.abs(fake - neutral))}
    return sum(terms.values()), terms

  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3): neutral | J | output | truth."""
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    batch = {k: v[:n] for k, v in batch.items()}
    out = self.transfer(gen, batch)
    return jnp.stack([batch["target_image"], self.condition_tile(out.condition_BxHxWxC),
                      out.image_BxHxWx3, batch["image"]], axis=1)

  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"render_frames": Predictor(compute=self._render, inputs=self.render_inputs,
                                       conditions=("landmark_sequence",), returns="frames",
                                       image_arg="neutral_images",
                                       one_in_one_out=False)}

  def _render(self, gen, batch):
    return self.transfer(gen, batch).image_BxHxWx3

  def render_inputs(self, neutral_images, landmarks) -> dict:
    """Frames of a face wearing given landmarks: ``neutral_images`` one neutral face (H, W, 3)
    for every frame, or one per frame (T, H, W, 3), uint8 or [-1, 1]; ``landmarks`` (T, 68, 2)
    pixel (x, y) in the model's crop (e.g. MotionGAN's ``sample_motion`` landmarks, in pixels).
    ``model.render_frames(...)`` returns the frames (T, H, W, 3): uint8 for uint8 neutral
    images, else float32 in [-1, 1]."""
    lms = np.asarray(landmarks, np.float32)
    if lms.ndim != 3 or lms.shape[1:] != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(lms)):
      raise UserError(f"landmarks must be a sequence of 68 finite (x, y) points per frame, "
                      f"(T, 68, 2); got shape {np.shape(landmarks)}"
                      + ("" if lms.shape[1:] != (NUM_LANDMARKS, 2) or lms.ndim != 3
                         else " with non-finite values") + ".")
    if len(lms) > MAX_FRAMES:
      raise UserError(f"landmarks hold {len(lms)} frames; a call renders at most {MAX_FRAMES} "
                      "(more would hold too much memory): render a longer video in parts.")
    neutral = inputs.check_images(neutral_images, self.config.model.image_size,
                                   "neutral_images")
    if len(neutral) == 1:
      neutral = np.broadcast_to(neutral, (len(lms),) + neutral.shape[1:]).copy()
    elif len(neutral) != len(lms):
      raise UserError(f"Give one neutral image or one per frame: got {len(neutral)} images for "
                      f"{len(lms)} frames.")
    return {"target_image": neutral, "landmarks": lms}
