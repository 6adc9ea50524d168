"""GANimation (Pumarola et al., ECCV 2018) as the official code trains it.

Critic: ``-mean D(real) + mean D(fake) + lambda_au * MSE(D_au(real), y_real) / B`` and the WGAN-GP
penalty ``lambda_gp * GP`` (a second optimiser update in the official code, the same update in
the replicate: ``model.gp_separate_step``).
Generator (``fake = A * x + (1 - A) * C`` from ``G(x, y_target)``, ``rec`` from ``G(fake, y_real)``):
``-mean D(fake) + lambda_au * MSE(D_au(fake), y_target) / B + lambda_cycle * L1(rec, x)
+ lambda_mask * (pen(A_fake) + pen(A_rec)) + lambda_mask_tv * (TV(A_fake) + TV(A_rec))``.
AUs are divided by 5 (to [0, 1]); targets are another example's AUs + U(-0.1, 0.1).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax import losses
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.data import pipeline
from fxs_jax.data import synth_faces
from fxs_jax.errors import UserError
from fxs_jax.models import ganimation as nets
from fxs_jax.nn.blocks import compose
from fxs_jax.recipes.base import GANRecipe

AU_SCALE = 5.0  # OpenFace intensities 0-5 -> [0, 1]
# Targets shown in sample grids besides each input's own AUs.
SAMPLE_EMOTIONS = ("happy", "surprised", "sad", "angry")


def emotion_targets(names) -> np.ndarray:
  """EMFACS prototype AU vectors (scaled to [0, 1]) of emotion names, (len(names), 17)."""
  return np.stack([synth_faces.emotion_aus(n) for n in names]).astype(np.float32) / AU_SCALE


class GANimation(GANRecipe):
  """The recipe: networks, the two losses, sample grids and held-out AU error."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    m = config.model
    losses.masks.check_mask_settings(m)
    self.global_batch = config.data.batch_size
    # Parsed now so that a bad target fails before any work, in every mode.
    self.targets = self.generation_targets()

  def build(self, rngs: nnx.Rngs):
    m = self.config.model
    gen = nets.Generator(m.image_size, m.num_aus, m.gen_base_channels, m.gen_num_res_blocks,
                         rngs=rngs)
    critic = nets.Critic(m.image_size, m.num_aus, m.critic_base_channels, m.critic_num_layers,
                         rngs=rngs)
    return gen, critic

  def prepare_batch(self, batch, rng):
    """Real AUs to [0, 1]; target AUs = a shuffled batch's AUs + U(-noise, noise)."""
    aus = np.asarray(batch["aus"], np.float32) / AU_SCALE
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
    fake, attention, _ = self.edit(gen, real, batch["target_aus"])
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
    }
    metrics = {**terms, "gen/attention_mean": jnp.mean(attention),
               "gen/attention_std": jnp.std(attention)}
    return sum(terms.values()), metrics

  # ---- reports -------------------------------------------------------------------------------
  def sample_tiles(self, gen, batch):
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


  def editor(self, gen):
    """``(inputs, targets) -> outputs`` for the eval harness: edit each input towards its target
    example's AUs (jitted once)."""
    graphdef, state = nnx.split(gen)
    edit = jax.jit(lambda st, x, a: self.edit(nnx.merge(graphdef, st), x, a)[0])
    return lambda inp, tgt: np.asarray(edit(state, inp["image"], tgt["aus"] / AU_SCALE))

  # ---- generate mode -------------------------------------------------------------------------
  def generation_targets(self) -> list[tuple[str, np.ndarray]]:
    """(name, AUs in [0, 1]) for ``config.generate.emotions`` and ``config.generate.aus``."""
    g = self.config.generate
    names = [e.strip() for e in g.emotions.split(",") if e.strip()]
    if g.interpolation_emotion:
      names_to_check = names + [g.interpolation_emotion]
    else:
      names_to_check = names
    for name in names_to_check:
      if name not in synth_faces.EMOTIONS:
        raise UserError(f"Unknown emotion {name!r} in config.generate: choose from "
                        f"{', '.join(synth_faces.EMOTIONS)}.")
    targets = [(name, emotion_targets([name])[0]) for name in names]
    for i, text in enumerate(v for v in g.aus.split(";") if v.strip()):
      targets.append((f"aus{i}", parse_aus(text, f"generate.aus vector {i + 1}") / AU_SCALE))
    return targets

  def generate(self, gen, sources, out_dir: Path) -> list[Path]:
    """Edits of test images towards each target, and a neutral -> target interpolation strip."""
    g = self.config.generate
    targets = self.targets
    if not targets:
      raise UserError("Nothing to generate: set --config.generate.emotions and/or "
                      "--config.generate.aus.")
    source = sources[self.config.data.eval_split]
    examples = [source[int(i)]
                for i in pipeline.spread_indices(len(source), min(g.num_images, len(source)))]
    image = augment.to_signed_unit(np.stack([e["image"] for e in examples]))
    own = np.stack([e["aus"] for e in examples]).astype(np.float32) / AU_SCALE
    graphdef, state = nnx.split(gen)
    edit = jax.jit(lambda st, x, a: self.edit(nnx.merge(graphdef, st), x, a)[0])
    n = len(examples)
    columns = [image] + [np.asarray(edit(state, image, np.broadcast_to(t, own.shape)))
                         for _, t in targets]
    _, goal = (targets[0] if not g.interpolation_emotion else
               (g.interpolation_emotion, emotion_targets([g.interpolation_emotion])[0]))
    strip = [image]
    for alpha in np.linspace(0.0, 1.0, g.interpolation_steps):
      strip.append(np.asarray(edit(state, image, (1 - alpha) * own + alpha * goal)))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, cols in (("edits", columns), ("interpolation", strip)):
      tiles = np.stack(cols, axis=1).reshape(n * len(cols), *image.shape[1:])
      path = out_dir / f"{name}.png"
      viz.save_png(path, viz.make_grid(augment.to_uint8(tiles), len(cols)))
      paths.append(path)
    (out_dir / "targets.txt").write_text(
        "edits.png columns: input, " + ", ".join(name for name, _ in targets) + "\n"
        f"interpolation.png: input, then own AUs -> {g.interpolation_emotion or targets[0][0]} "
        f"in {g.interpolation_steps} steps\n")
    return paths


def parse_aus(text: str, what: str = "AU vector") -> np.ndarray:
  """17 comma-separated AU intensities on the 0-5 scale, with an error that says what is wrong."""
  try:
    values = np.array([float(v) for v in text.replace(" ", "").split(",") if v], np.float32)
  except ValueError as e:
    raise UserError(f"{what}: {text!r} is not a list of numbers ({e}).") from e
  if values.shape != (synth_faces.NUM_AUS,):
    raise UserError(
        f"{what} has {values.size} values; GANimation needs {synth_faces.NUM_AUS} AU "
        f"intensities in the order {' '.join(synth_faces.AU_NAMES)}, each 0-5.")
  if not np.all((values >= 0) & (values <= AU_SCALE)):
    raise UserError(f"{what}: AU intensities must lie in [0, 5], got {values.tolist()}.")
  return values
