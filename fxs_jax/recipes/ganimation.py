"""GANimation (Pumarola et al., ECCV 2018) as the official code trains it.

Critic: ``-mean D(real) + mean D(fake) + lambda_au * MSE(D_au(real), y_real) / B`` and the WGAN-GP
penalty ``lambda_gp * GP`` (a second optimiser update in the official code, the same update in
the replicate: ``model.gp_separate_step``).
Generator (``fake = A * x + (1 - A) * C`` from ``G(x, y_target)``, ``rec`` from ``G(fake, y_real)``):
``-mean D(fake) + lambda_au * MSE(D_au(fake), y_target) / B + lambda_cycle * L1(rec, x)
+ lambda_mask * (pen(A_fake) + pen(A_rec)) + lambda_mask_tv * (TV(A_fake) + TV(A_rec))``.
AUs are divided by 5 (to [0, 1]); targets are another example's AUs + U(-0.1, 0.1).
With ``model.lambda_truth > 0`` (SynthFaces only, not the paper): targets are a same-identity
example's AUs and the generator adds ``lambda_truth * L1(fake, that example's image)``, and with
``model.colour_truth_weight`` w > 0 also ``w * lambda_truth * L1(C, that image)`` over the pixels
the truth changes (``model.colour_truth_region="changed"``) or all of them (``"all"``): a pixel
target for the colour mask, which the edit's own L1 reaches only through ``1 - A``.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import numpy as np

from fxs_jax import facs
from fxs_jax import inputs
from fxs_jax import losses
from fxs_jax.errors import MAX_INTENSITY
from fxs_jax.errors import UserError
from fxs_jax.models import ganimation as nets
from fxs_jax.nn.blocks import compose
from fxs_jax.recipes import editing
from fxs_jax.recipes.base import Predictor
from fxs_jax.recipes.editing import SAMPLE_EMOTIONS

AU_SCALE = facs.AU_MAX  # OpenFace intensities 0-5 -> [0, 1]


COLOUR_TRUTH_REGIONS = ("changed", "all")  # model.colour_truth_region


def emotion_targets(names) -> np.ndarray:
  """EMFACS prototype AU vectors (scaled to [0, 1]) of emotion names, (len(names), 17)."""
  return np.stack([facs.emotion_aus(n) for n in names]).astype(np.float32) / AU_SCALE


class GANimation(editing.EditingRecipe):
  """The recipe: networks, the two losses, sample grids and held-out AU error."""

  title = "GANimation"
  truth_terms = True
  colour_head = True

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    losses.masks.check_mask_settings(m)
    self.global_batch = config.data.batch_size
    self.colour_truth_weight = self.truth_weight("colour_truth_weight")
    self.colour_truth_region = m.colour_truth_region
    if self.colour_truth_region not in COLOUR_TRUTH_REGIONS:
      raise UserError(f"model.colour_truth_region must be one of {COLOUR_TRUTH_REGIONS}, got "
                      f"{self.colour_truth_region!r}.")
    # Parsed now so that a bad target fails before any work, in every mode.
    self.targets = self.generation_targets()

  def build_generator(self, rngs):
    m = self.config.model
    return nets.Generator(m.image_size, m.num_aus, m.gen_base_channels, m.gen_num_res_blocks,
                          upsample=self.upsample, colour=self.colour, rngs=rngs)

  def build_critic(self, rngs):
    m = self.config.model
    return nets.Critic(m.image_size, m.num_aus, m.critic_base_channels, m.critic_num_layers,
                       rngs=rngs)

  def prepare_batch(self, batch, rng):
    """Real AUs to [0, 1]; target AUs = a shuffled batch's AUs + U(-noise, noise), or, on
    same-identity pairs (``model.lambda_truth``), the partner's exact AUs and its image."""
    aus = np.asarray(batch["aus"], np.float32) / AU_SCALE
    if "target_aus" in batch:
      return {"image": batch["image"], "aus": aus, "target_image": batch["target_image"],
              "target_aus": np.asarray(batch["target_aus"], np.float32) / AU_SCALE}
    noise = self.config.model.target_au_noise
    target = aus[rng.permutation(len(aus))] + rng.uniform(-noise, noise, aus.shape)
    return {"image": batch["image"], "aus": aus, "target_aus": target.astype(np.float32)}

  # ---- losses --------------------------------------------------------------------------------
  def _au_loss(self, predicted, target):
    # Official: MSELoss (a mean) divided once more by the batch size.
    return self.config.model.lambda_au * jnp.mean(jnp.square(predicted - target)) / self.global_batch

  def edit(self, gen, image, aus):
    """``(output, attention, colour)`` of editing ``image`` towards ``aus`` (in [0, 1])."""
    color, attention = gen(image, aus)
    return compose(attention, color, image), attention, color

  def critic_phases(self):
    return ("adversarial", "penalty") if self.config.model.gp_separate_step else ("all",)

  def fakes_for_critic(self, gen, batch, key):
    del key
    return {"image": self.edit(gen, batch["image"], batch["target_aus"])[0]}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    m = self.config.model
    real, fake = batch["image"], fakes["image"]
    metrics = {}
    loss = 0.0
    if phase in ("all", "adversarial"):
      real_map, real_aus = critic(real)
      fake_map, _ = critic(fake)
      adv = losses.wgan_critic_loss(real_map, fake_map)
      au = self._au_loss(real_aus, batch["aus"])
      loss = adv + au
      metrics.update({"critic/wasserstein": -adv, "critic/au": au})
    if phase in ("all", "penalty"):
      gp = losses.gradient_penalty(lambda x: critic(x)[0], real, fake, key)
      loss = loss + m.lambda_gp * gp
      metrics["critic/gp"] = gp
    return loss, metrics

  def generator_loss(self, gen, critic, batch, key):
    del key
    m = self.config.model
    real = batch["image"]
    fake, attention, colour = self.edit(gen, real, batch["target_aus"])
    rec, rec_attention, _ = self.edit(gen, fake, batch["aus"])
    fake_map, fake_aus = critic(fake)
    penalty = losses.masks.attention_penalty(m.attention_penalty)
    terms = {
        "gen/adversarial": losses.wgan_generator_loss(fake_map),
        "gen/au": self._au_loss(fake_aus, batch["target_aus"]),
        "gen/cycle": m.lambda_cycle * losses.l1_loss(rec, real),
        "gen/mask": m.lambda_mask * (penalty(attention) + penalty(rec_attention)),
        "gen/mask_tv": m.lambda_mask_tv * (losses.total_variation(attention, m.tv_form)
                                           + losses.total_variation(rec_attention, m.tv_form)),
        **self.edit_truth_terms(fake, batch),
        # The truth on the colour mask itself, also where the attention has not opened yet.
        **self.truth_term(colour, batch, "gen/colour_truth", self.colour_truth_weight,
                          where=(editing.changed_by_truth if self.colour_truth_region == "changed"
                                 else None)),
    }
    metrics = {**terms, "gen/attention_mean": jnp.mean(attention),
               "gen/attention_std": jnp.std(attention)}
    return sum(terms.values()), metrics

  # ---- reports -------------------------------------------------------------------------------
  def sample(self, gen, batch):
    """Tiles (rows, cols, H, W, 3) in [-1, 1]: input | for each target: attention, colour, output.

    Targets: the input's own AUs (should reproduce the input), then the EMFACS prototypes of
    ``SAMPLE_EMOTIONS``.
    """
    n = min(self.config.logging.num_samples, batch["image"].shape[0])
    image, own = batch["image"][:n], batch["aus"][:n]
    protos = jnp.asarray(emotion_targets(SAMPLE_EMOTIONS))
    columns = [image]
    for target in [own] + [jnp.broadcast_to(p, own.shape) for p in protos]:
      out, attention, color = self.edit(gen, image, target)
      columns += [jnp.broadcast_to(attention * 2.0 - 1.0, image.shape), color, out]
    return jnp.stack(columns, axis=1)

  def eval_metrics(self, gen, critic, batch, key):
    """Held-out AU error of edits (critic's AU head vs target, on the 0-5 scale), mask stats."""
    del key
    real, target = batch["image"], batch["target_aus"]
    fake, attention, _ = self.edit(gen, real, target)
    _, fake_aus = critic(fake)
    _, real_aus = critic(real)
    rec, _, _ = self.edit(gen, fake, batch["aus"])
    return {
        "au_mae_fake": AU_SCALE * jnp.mean(jnp.abs(fake_aus - target)),
        "au_mae_real": AU_SCALE * jnp.mean(jnp.abs(real_aus - batch["aus"])),
        "attention_mean": jnp.mean(attention),
        "attention_min": jnp.min(attention),
        "attention_max": jnp.max(attention),
        "cycle_l1": jnp.mean(jnp.abs(rec - real)),
    }


  # ---- use -----------------------------------------------------------------------------------
  def predictors(self):
    return {"edit": Predictor(compute=self._edit_outputs, inputs=self.edit_inputs,
                              conditions=("aus", "emotion"))}

  def _edit_outputs(self, gen, batch):
    image, attention, color = self.edit(gen, batch["image"], batch["target_aus"])
    return {"image": image, "attention": attention, "color": color}

  def edit_inputs(self, images, aus=None, emotion=None, intensity=1.0, landmarks=None,
                  start=None) -> dict:
    """Edit ``images`` ((B, H, W, 3) or one face, uint8 or [-1, 1]) towards ``aus`` (17
    intensities on the 0-5 scale, once or per image) or towards the EMFACS prototype of
    ``emotion`` (a name or index, once or per image).

    ``intensity`` (once or per image) places the AU vector sent to the generator on the line from
    ``start`` to that target: ``start + intensity * (target - start)``, clipped to 0-5 (0 is
    ``start``, 1 the target, above 1 an exaggeration). ``start`` defaults to all AUs 0, so the
    default scales the target; a face's own AUs (an emotion name or 17 intensities) make
    ``intensity`` an interpolation from the face's own expression. ``landmarks`` are not needed
    (accepted so that every editor takes the same arguments)."""
    del landmarks
    image = inputs.check_images(images, self.config.model.image_size)
    n = len(image)
    if (aus is None) == (emotion is None):
      raise UserError("GANimation.edit needs exactly one target: aus=(17 intensities 0-5) or "
                      "emotion=name (with intensity=).")
    if aus is not None:
      target = self._au_vectors(aus, n, "aus")
    else:
      target = np.stack([facs.emotion_aus(facs.EMOTIONS[k])
                         for k in inputs.emotion_labels(emotion, n)])
    origin = np.zeros_like(target) if start is None else self._au_vectors(start, n, "start")
    scale = inputs.per_example(inputs.check_intensities(intensity, MAX_INTENSITY), n,
                                "intensity")
    target = np.clip(origin + scale.reshape(-1, 1) * (target - origin), 0.0, AU_SCALE)
    return {"image": image, "target_aus": target.astype(np.float32) / AU_SCALE}

  @staticmethod
  def _au_vectors(value, count: int, what: str) -> np.ndarray:
    """(count, 17) AU intensities (0-5) from 17 values or an emotion name, once or per image."""
    if isinstance(value, str):
      return np.tile(facs.emotion_aus(facs.EMOTIONS[facs.emotion_index(value, what)]), (count, 1))
    vectors = inputs.per_example(value, count, what, item_ndim=1)
    if vectors.shape != (count, facs.NUM_AUS):
      raise UserError(f"{what} must hold {facs.NUM_AUS} intensities (once or per image) in the "
                      f"order {' '.join(facs.AU_NAMES)}, got shape {np.shape(value)}.")
    inputs.check_au_range(vectors[0] if np.ndim(value) == 1 else vectors, what)  # given once: no row
    return vectors

  # ---- generate mode -------------------------------------------------------------------------
  def generation_targets(self) -> list[tuple[str, dict]]:
    """(column name, edit arguments) for ``config.generate.emotions`` and ``.aus``."""
    g = self.config.generate
    targets = [(name, {"emotion": name}) for name in inputs.emotion_names(g.emotions)]
    if g.interpolation_emotion:
      facs.emotion_index(g.interpolation_emotion, "config.generate.interpolation_emotion")
    for i, text in enumerate(v for v in g.aus.split(";") if v.strip()):
      targets.append((f"aus{i}", {"aus": inputs.parse_aus(text, f"generate.aus vector {i + 1}")}))
    return targets

  def generation_strips(self, batch):
    """The interpolation strip: own AUs -> ``generate.interpolation_emotion`` (or the first
    target) in ``generate.interpolation_steps`` steps."""
    g = self.config.generate
    own = np.asarray(batch["aus"], np.float32)
    if g.interpolation_emotion:
      name, goal = g.interpolation_emotion, facs.emotion_aus(g.interpolation_emotion)
    else:
      name, arguments = self.targets[0]
      goal = (facs.emotion_aus(arguments["emotion"]) if "emotion" in arguments
              else arguments["aus"])
    columns = [{"aus": (1 - alpha) * own + alpha * np.asarray(goal)}
               for alpha in np.linspace(0.0, 1.0, g.interpolation_steps)]
    return [("interpolation", columns,
             f"input, then own AUs -> {name} in {g.interpolation_steps} steps")]
