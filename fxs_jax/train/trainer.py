"""The generic GAN trainer: one loop for every paper, the paper-specific parts in a recipe.

The hot steps are pure functions of (state, batch, key) under ``jax.jit`` with explicit shardings:
batches split over the mesh's 'data' axis, state replicated and donated. Models are rebuilt from
``nnx.split`` state with ``nnx.merge`` inside the traced functions (tracing cost only, no Python
graph walk per call). Each step is traced under ``config.compute.conv_impl``
(``fxs_jax.nn.fastconv.conv_impl``, entered in the step itself).
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.experimental import multihost_utils
from tqdm import tqdm

from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.nn import fastconv
from fxs_jax.nn import layers
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.train import precision as precision_lib
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import Checkpointer
from fxs_jax.train.writers import Writer


class TrainingDiverged(UserError):
  """A loss or gradient became NaN/Inf."""


class GANTrainer:
  """Holds the recipe, the mesh, the jitted steps and the train state."""

  def __init__(self, recipe: GANRecipe, config: ml_collections.ConfigDict,
               mesh: jax.sharding.Mesh | None = None):
    self.recipe, self.config = recipe, config
    self.mesh = mesh or sharding.make_mesh()
    self.gen_tx, self.critic_tx = state_lib.recipe_optimizers(recipe, config)
    self.critic_steps = config.optim.critic_steps
    self.precision = precision_lib.Policy(config.compute.dtype)  # f32 params, bf16 compute?

    init = state_lib.initializer(recipe, config, self.gen_tx, self.critic_tx)
    gen, critic = nnx.eval_shape(lambda: recipe.build(nnx.Rngs(config.seed)))
    self.gen_def = state_lib.split(gen)[0]
    self.critic_def = state_lib.split(critic)[0]
    repl, data = sharding.replicated(self.mesh), sharding.batch_sharding(self.mesh)
    self.abstract_state = state_lib.abstract_state(recipe, config, placement=repl)
    self._init = jax.jit(init, out_shardings=repl)
    self.critic_step = jax.jit(self._scoped(self._critic_step), in_shardings=(repl, data, repl),
                               out_shardings=(repl, repl), donate_argnums=0)
    self.generator_step = jax.jit(self._scoped(self._generator_step),
                                  in_shardings=(repl, data, repl), out_shardings=(repl, repl),
                                  donate_argnums=0)
    self.eval_step = jax.jit(self._scoped(self._eval_step), in_shardings=(repl, data, repl),
                             out_shardings=repl)
    self.sample_step = jax.jit(self._scoped(self._sample_step), in_shardings=(repl, data),
                               out_shardings=repl)
    self.base_key = jax.random.key(config.seed)

  # ---- models from state -------------------------------------------------------------------
  def generator(self, state: state_lib.GANState) -> nnx.Module:
    return nnx.merge(self.gen_def, state.gen_params, state.gen_rest)

  def critic(self, state: state_lib.GANState) -> nnx.Module:
    return nnx.merge(self.critic_def, state.critic_params, state.critic_rest)

  def abstract_items(self, items: set[str] | None = None) -> dict:
    """The abstract checkpoint items of the state (``state_lib.to_items``); ``items`` = the names
    a saved step holds, for checkpoints of the older one-item layout."""
    if items is not None and state_lib.LEGACY_ITEM in items:
      return {state_lib.LEGACY_ITEM: self.abstract_state}
    return state_lib.to_items(self.abstract_state)

  def _batch(self, batch):
    return self.precision.batch(batch, self.recipe.compute_dtype_inputs)

  def _compute_model(self, graphdef, params, rest) -> nnx.Module:
    """A network for the jitted steps: its float state in the compute dtype (``precision``),
    except batch norm's running statistics, which stay float32 (a bfloat16 running mean would
    round away most of each update). Fresh Variables (``copy``), so that a layer may update its
    own state (spectral norm's power iteration) inside the gradient trace it is called in."""
    stats, other = nnx.split_state(rest, nnx.BatchStat, ...)
    return nnx.merge(graphdef, *self.precision.compute((params, other)), stats, copy=True)

  def init_state(self) -> state_lib.GANState:
    return self._init()

  def step_key(self, step: int) -> jax.Array:
    """The randomness of iteration ``step``: shared by its critic and generator updates."""
    return jax.random.fold_in(self.base_key, step)

  # ---- jitted steps ------------------------------------------------------------------------
  def _scoped(self, step_fn):
    """``step_fn`` with its body under ``config.compute.conv_impl``: the convolutions read the
    setting while the step is traced (``fastconv.conv_impl``), and it ends with the trace."""
    impl = self.config.compute.conv_impl

    @functools.wraps(step_fn)
    def step(*args):
      with fastconv.conv_impl(impl):
        return step_fn(*args)
    return step

  def _critic_step(self, state, batch, key):
    batch = self._batch(batch)
    fakes = jax.lax.stop_gradient(self.recipe.fakes_for_critic(
        self._compute_model(self.gen_def, state.gen_params, state.gen_rest), batch, key))
    all_metrics, total = {}, 0.0
    for i, phase in enumerate(self.recipe.critic_phases()):

      def loss_fn(params, rest, phase=phase):
        critic = self._compute_model(self.critic_def, params, rest)
        loss, metrics = self.precision.float32(self.recipe.critic_loss(
            critic, batch, fakes, jax.random.fold_in(key, i), phase))
        return loss, (metrics, self.precision.like(nnx.state(critic, nnx.Not(nnx.Param)), rest))

      (loss, (metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          state.critic_params, state.critic_rest)
      updates, opt = self.critic_tx.update(grads, state.critic_opt, state.critic_params,
                                           critic_rest=rest)  # for a critic projection
      state = state.replace(critic_rest=rest, critic_opt=opt,
                            critic_params=optax.apply_updates(state.critic_params, updates))
      all_metrics.update(metrics)
      all_metrics[f"critic/grad_norm_{phase}"] = optax.tree.norm(grads)
      total = total + loss
    state = state.replace(step=state.step + 1)
    return state, {**all_metrics, "critic/loss": total}

  def _generator_step(self, state, batch, key):
    # The critic is a fixed function here: frozen, its spectral norms do not step their power
    # iteration (its state is the critic step's to update).
    critic = layers.frozen(self._compute_model(self.critic_def, state.critic_params,
                                               state.critic_rest))
    batch = self._batch(batch)

    def loss_fn(params):
      gen = self._compute_model(self.gen_def, params, state.gen_rest)
      loss, metrics = self.precision.float32(self.recipe.generator_loss(gen, critic, batch, key))
      rest = nnx.state(gen, nnx.Not(nnx.Param))
      return loss, (metrics, self.precision.like(rest, state.gen_rest))

    (loss, (metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.gen_params)
    updates, opt = self.gen_tx.update(grads, state.gen_opt, state.gen_params)
    params = optax.apply_updates(state.gen_params, updates)
    state = state.replace(gen_rest=rest, gen_opt=opt, gen_params=params)
    if state.gen_ema is not None:  # state.step counts the critic update of this iteration
      decay = state_lib.ema_decay_at(self.config.optim.ema_decay,
                                     state.step // self.critic_steps)
      state = state.replace(gen_ema=state_lib.ema_update(state.gen_ema, params, decay))
    return state, {**metrics, "gen/loss": loss, "gen/grad_norm": optax.tree.norm(grads)}

  def _eval_step(self, state, batch, key):
    gen = self._compute_model(self.gen_def, state_lib.inference_params(state), state.gen_rest)
    critic = self._compute_model(self.critic_def, state.critic_params, state.critic_rest)
    return self.precision.float32(
        self.recipe.eval_metrics(gen, critic, self._batch(batch), key))

  def _sample_step(self, state, batch):
    gen = self._compute_model(self.gen_def, state_lib.inference_params(state), state.gen_rest)
    return self.precision.float32(self.recipe.sample(gen, self._batch(batch)))

  def sample_images(self, state, batch, host_batch, render: bool = True
                    ) -> dict[str, np.ndarray]:
    """The recipe's samples of ``batch`` (on the mesh; ``host_batch`` its host copy), drawn as
    named uint8 images if ``render``. Every process must call it (the sample step is one
    computation over the global mesh); only the writer needs to draw."""
    outputs = jax.tree.map(np.asarray, jax.device_get(self.sample_step(state, batch)))
    return self.recipe.render_samples(outputs, host_batch) if render else {}

  def train_iteration(self, state, batch, step: int):
    """One critic update, plus a generator update every ``critic_steps`` iterations."""
    key = self.step_key(step)
    state, metrics = self.critic_step(state, batch, key)
    if (step + 1) % self.critic_steps == 0:
      state, gen_metrics = self.generator_step(state, batch, key)
      metrics = {**metrics, **gen_metrics}
    return state, metrics

  def evaluate(self, state, batches) -> dict[str, float]:
    """Mean of the recipe's eval metrics over ``batches`` (device batches)."""
    totals, count = {}, 0
    for i, batch in enumerate(batches):
      key = jax.random.fold_in(jax.random.fold_in(self.base_key, 0xFFFFFFFF), i)
      for name, value in jax.device_get(self.eval_step(state, batch, key)).items():
        totals[name] = totals.get(name, 0.0) + float(value)
      count += 1
    return {name: total / max(count, 1) for name, total in totals.items()}


def _first_non_finite(metrics: dict[str, np.ndarray]) -> str | None:
  for name, value in metrics.items():
    if not np.all(np.isfinite(value)):
      return name
  return None


class _SigtermFlag:
  """Turns SIGTERM (pre-emption) into a flag the loop checks, so it can checkpoint and exit."""

  def __init__(self, enabled: bool):
    self.raised, self._previous, self.enabled = False, None, enabled
    if enabled:
      try:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
      except ValueError:  # not the main thread (e.g. some notebooks): no handler
        self._previous = None

  def _handle(self, signum, frame):
    del signum, frame
    self.raised = True

  def any_process(self) -> bool:
    """Whether any process got SIGTERM. Every process must stop after the same step (Orbax saves
    are collective; one process saving alone would wait forever), so they agree through a tiny
    all-gather each step."""
    if not self.enabled or jax.process_count() == 1:
      return self.raised
    return bool(np.any(multihost_utils.process_allgather(np.asarray(self.raised))))

  def restore(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _host_batch(data_iter, recipe: GANRecipe, step: int, seed: int) -> dict[str, np.ndarray]:
  """The prepared global batch of iteration ``step`` (the caller keeps this process's rows)."""
  batch = next(data_iter)
  return recipe.prepare_batch(batch, np.random.default_rng([seed, step]))


def train(recipe: GANRecipe, config: ml_collections.ConfigDict, workdir: Path,
          sources: dict) -> state_lib.GANState:
  """Trains from scratch or resumes from the newest readable checkpoint in
  ``workdir/checkpoints``."""
  workdir = Path(workdir)
  data = config.data
  # The recipe's train examples before the trainer traces its init: a recipe may derive
  # constants of its networks from them (MotionGAN's Karcher mean of the training motions).
  train_examples = recipe.examples(sources[data.train_split], data.train_split)
  trainer = GANTrainer(recipe, config)
  batch_size = data.batch_size  # global
  sharding.per_process_batch_size(batch_size)  # checks it splits over the devices
  # Every process reads the whole global batch and prepares it with the same rng: preparation may
  # mix examples (GANimation's target AUs are a permutation of the batch's), and so the global
  # batch is the one a single process would see. Each then puts only its rows on its devices.
  rows, all_rows = sharding.process_rows(trainer.mesh, batch_size), np.arange(batch_size)
  train_iter = pipeline.train_iterator(data, train_examples, batch_size, config.seed,
                                       rows=all_rows, preprocess=recipe.preprocess)
  ckpt = Checkpointer(workdir / "checkpoints", config)
  items, start = ckpt.restore_newest_readable(
      lambda step: trainer.abstract_items(ckpt.items(step)), train_iter)
  state = state_lib.from_items(items) if items is not None else trainer.init_state()
  num_steps = config.num_train_steps
  # Fixed held-out batches: the same sample grid inputs and eval set at every report.
  eval_source = sources[data.eval_split]
  if len(recipe.examples(eval_source, data.eval_split)) < batch_size:
    raise UserError(f"The {data.eval_split!r} split has {len(eval_source)} examples, fewer than "
                    f"one batch ({batch_size}): lower data.batch_size.")
  eval_set = [sharding.to_device(sharding.local_rows(b, rows), trainer.mesh)
              for b in recipe.eval_batches(eval_source, data.eval_split, batch_size, config.seed,
                                    limit=max(config.logging.eval_examples, batch_size))]
  samples_host = recipe.sample_batch(eval_source, data.eval_split, batch_size, config.seed)
  samples = (sharding.to_device(sharding.local_rows(samples_host, rows), trainer.mesh),
             samples_host)
  writer = Writer(workdir)
  sigterm = _SigtermFlag(config.checkpoint.on_sigterm)
  bar = tqdm(total=num_steps, initial=start, dynamic_ncols=True, unit="step",
             disable=not (config.logging.progress_bar and jax.process_index() == 0))
  accumulated, last_saved = {}, start if start else None
  failed = True
  try:
    for step in range(start, num_steps):
      batch = sharding.to_device(
          sharding.local_rows(_host_batch(train_iter, recipe, step, config.seed), rows),
          trainer.mesh)
      state, metrics = trainer.train_iteration(state, batch, step)
      metrics = jax.device_get(metrics)  # per-step sync: the NaN guard must see every step
      bad = _first_non_finite(metrics)
      if bad is not None:
        kept = f"step {last_saved}" if last_saved is not None else "none saved yet"
        raise TrainingDiverged(
            f"Training diverged at step {step + 1}: {bad} = {float(np.mean(metrics[bad]))}. "
            f"Stopped without saving; the last good checkpoint ({kept}) is kept in "
            f"{workdir / 'checkpoints'}. Lower optim.lr or check the data.")
      for name, value in metrics.items():
        accumulated.setdefault(name, []).append(float(value))
      done = step + 1
      bar.update(1)
      if done % config.logging.every_steps == 0 or done == num_steps:
        means = {k: float(np.mean(v)) for k, v in accumulated.items()}
        means["lr"] = float(state_lib.lr_schedule(config.optim, num_steps)(step))
        writer.scalars(done, means)
        bar.set_postfix({short: f"{means[k]:.3g}" for short, k in
                         (("D", "critic/loss"), ("G", "gen/loss")) if k in means})
        accumulated = {}
      if done % config.logging.sample_every_steps == 0 or done == num_steps:
        report(trainer, state, eval_set, samples, writer, done)
      stop = sigterm.any_process()
      if done % config.checkpoint.every_steps == 0 or done == num_steps or stop:
        ckpt.save(done, state_lib.to_items(state), train_iter)
        last_saved = done
      if stop:
        if jax.process_index() == 0:
          print(f"SIGTERM: saved the checkpoint at step {done}; stopping.", flush=True)
        break
    failed = False
  finally:
    bar.close()
    sigterm.restore()
    writer.close()
    if failed:  # the error being raised is the one to report: the close must not replace it
      ckpt.close_after_failure()
  ckpt.close()  # waits for the last save; a failed one raises WorkdirError
  return state


def report(trainer: GANTrainer, state, eval_set, samples, writer: Writer, step: int) -> None:
  """Held-out metrics and the sample images (each also saved as ``samples/<name>_latest.png``;
  the first also as ``samples/latest.png``)."""
  metrics = trainer.evaluate(state, eval_set)
  writer.scalars(step, {f"eval/{k}": v for k, v in metrics.items()})
  images = trainer.sample_images(state, *samples, render=writer.enabled)
  for i, (name, image) in enumerate(images.items()):
    writer.image(step, name, image)
    writer.image(step, name, image, png_name=f"{name}_latest.png", log=False)
    if i == 0:
      writer.image(step, name, image, png_name="latest.png", log=False)
  writer.flush()
  if metrics and writer.enabled:
    text = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
    tqdm.write(f"step {step}: {text}")


def load_latest(recipe: GANRecipe, config: ml_collections.ConfigDict, workdir: Path,
                step: int | None = None) -> tuple[GANTrainer, state_lib.GANState, int]:
  """The trainer and the whole train state (critic included) of checkpoint ``step`` (default:
  the newest) in ``workdir``, for ``--mode=eval``'s critic metrics. An unreadable checkpoint
  stops with a one-line error naming it and the way out."""
  trainer = GANTrainer(recipe, config)
  items, step = Checkpointer.load(Path(workdir) / "checkpoints", step,
                                 lambda ckpt, step: trainer.abstract_items(ckpt.items(step)))
  return trainer, state_lib.from_items(items), step


def evaluate_split(trainer: GANTrainer, state, source, config: ml_collections.ConfigDict
                   ) -> dict[str, float]:
  """The recipe's eval metrics over a whole split (in order, no augmentation)."""
  batch_size = config.data.batch_size  # global: prepared whole, as in train()
  sharding.per_process_batch_size(batch_size)
  rows = sharding.process_rows(trainer.mesh, batch_size)
  batches = (sharding.to_device(sharding.local_rows(b, rows), trainer.mesh)
             for b in trainer.recipe.eval_batches(source, config.data.eval_split, batch_size,
                                   config.seed))
  return trainer.evaluate(state, batches)
