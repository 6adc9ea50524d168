"""Train state of a GAN (two networks, two optimisers) and its optimiser schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from fxs_jax.errors import UserError


@flax.struct.dataclass
class GANState:
  """Everything that changes during training; a pytree, replicated over the mesh."""

  step: jax.Array  # critic iterations done (one batch each)
  gen_params: nnx.State
  gen_rest: nnx.State  # non-parameter state (e.g. spectral-norm vectors)
  critic_params: nnx.State
  critic_rest: nnx.State
  gen_opt: Any
  critic_opt: Any
  # Exponential moving average of gen_params (``optim.ema_decay`` > 0), the weights sampled,
  # evaluated and exported; None without.
  gen_ema: Any = None


def ema_decay_at(decay: float, updates: jax.Array) -> jax.Array:
  """The decay of the ``updates``-th generator update (1-based): ``min(decay, (1 + n) / (10 +
  n))``, the warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=n)``, so the average
  forgets its random initialisation within the first updates of a short run."""
  n = jnp.asarray(updates, jnp.float32)
  return jnp.minimum(decay, (1.0 + n) / (10.0 + n))


def ema_update(ema: nnx.State, params: nnx.State, decay: jax.Array) -> nnx.State:
  """``decay * ema + (1 - decay) * params``, leaf by leaf."""
  return jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p).astype(e.dtype), ema, params)


def inference_params(state: GANState, use_ema: bool = True) -> nnx.State:
  """The generator weights to sample, evaluate and export: the moving average if kept."""
  return state.gen_ema if use_ema and state.gen_ema is not None else state.gen_params


def lr_schedule(optim: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """Constant ``optim.lr`` until ``optim.decay_start_step``, then linear decay to 0 at the end.

  A config with ``optim.decay_rate`` > 0 (MotionGAN's) decays exponentially instead, in stairs
  (TensorFlow's ``exponential_decay(staircase=True)``):
  ``lr * decay_rate ** ((step - decay_start_step) // decay_every_steps)``.
  """
  if optim.get("decay_rate", 0.0) > 0:
    return optax.exponential_decay(optim.lr, transition_steps=optim.decay_every_steps,
                                   decay_rate=optim.decay_rate,
                                   transition_begin=optim.decay_start_step, staircase=True)
  decay_steps = max(num_steps - optim.decay_start_step, 1)
  return optax.join_schedules(
      [optax.constant_schedule(optim.lr),
       optax.linear_schedule(optim.lr, 0.0, decay_steps)],
      [optim.decay_start_step])


class ProjectedState(NamedTuple):
  inner: Any  # the wrapped optimiser's state
  count: jax.Array  # updates done


def projected(tx: optax.GradientTransformation, project: Callable, every: int
              ) -> optax.GradientTransformationExtraArgs:
  """``tx``, then on every ``every``-th update a projection of the parameters it gives:
  ``updates -> project(params + updates, rest) - params``, with ``rest`` the network's
  non-parameter state passed as ``update(..., critic_rest=rest)`` (None if not given): a
  constraint kept by projection after the step (TGAN's singular value clipping of its critic,
  ``fxs_jax.nn.spectral``). The other updates are ``tx``'s unchanged."""

  def init(params):
    return ProjectedState(tx.init(params), jnp.zeros((), jnp.int32))

  def update(updates, state, params=None, critic_rest=None, **extra):
    del extra
    updates, inner = tx.update(updates, state.inner, params)
    count = state.count + 1

    def project_updates(u):
      moved = optax.apply_updates(params, u)
      return jax.tree.map(lambda p, q: (q - p).astype(p.dtype), params,
                          project(moved, critic_rest))

    updates = jax.lax.cond(count % every == 0, project_updates, lambda u: u, updates)
    return updates, ProjectedState(inner, count)

  return optax.GradientTransformationExtraArgs(init, update)


def _base_optimizer(optim: ml_collections.ConfigDict, learning_rate: optax.Schedule
                    ) -> optax.GradientTransformation:
  """``optim.optimizer``: "adam" (every paper's but TGAN's; the default when the key is absent)
  or "rmsprop" (Chainer's ``RMSprop(lr)``: ``ms = rms_decay * ms + (1 - rms_decay) g^2`` from
  0, ``step = lr * g / (sqrt(ms) + 1e-8)``)."""
  name = optim.get("optimizer", "adam")
  if name == "adam":
    return optax.adam(learning_rate, b1=optim.b1, b2=optim.b2)
  if name == "rmsprop":
    return optax.rmsprop(learning_rate, decay=optim.rms_decay, eps=1e-8, eps_in_sqrt=False)
  raise UserError(f"optim.optimizer must be 'adam' or 'rmsprop', got {name!r}.")


def optimizers(optim: ml_collections.ConfigDict, num_steps: int, critic_updates_per_step: int = 1,
               critic_projection: Callable | None = None, projection_every: int = 1
               ) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for both networks (``optim.optimizer``: or RMSprop); both schedules count training
  iterations, not their own updates:
  the generator is updated once every ``critic_steps`` iterations, and the critic
  ``critic_updates_per_step`` times per iteration (e.g. GANimation's separate penalty update).
  The critic's rate is ``optim.critic_lr_scale`` times the generator's (two time-scale update
  rule; 1 in every paper config). A config with ``optim.weight_decay`` > 0 (MoCoGAN's) adds
  ``weight_decay * param`` to each gradient before Adam: PyTorch ``Adam(weight_decay=...)``'s
  coupled L2, not AdamW. ``critic_projection(params, rest) -> params`` (a recipe's, TGAN's
  singular value clipping; None for every other) is applied to the critic's parameters after
  every ``projection_every``-th critic update (``projected``)."""
  schedule = lr_schedule(optim, num_steps)
  every = optim.critic_steps
  scale = optim.critic_lr_scale
  critic_tx = _base_optimizer(
      optim, lambda count: scale * schedule(count // critic_updates_per_step))
  gen_tx = _base_optimizer(optim, lambda count: schedule(count * every))
  decay = optim.get("weight_decay", 0.0)
  if decay > 0:
    gen_tx, critic_tx = (optax.chain(optax.add_decayed_weights(decay), tx)
                         for tx in (gen_tx, critic_tx))
  if critic_projection is not None:
    critic_tx = projected(critic_tx, critic_projection, projection_every)
  return gen_tx, critic_tx


def recipe_optimizers(recipe, config: ml_collections.ConfigDict
                      ) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """``optimizers`` for ``recipe`` trained with ``config``: its critic phases per iteration and
  its critic projection, if it has one (``GANRecipe.critic_projection``)."""
  return optimizers(config.optim, config.num_train_steps, len(recipe.critic_phases()),
                    getattr(recipe, "critic_projection", None),
                    getattr(recipe, "critic_projection_every", 1))


def split(model: nnx.Module) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
  return nnx.split(model, nnx.Param, ...)


def init_state(gen: nnx.Module, critic: nnx.Module, gen_tx, critic_tx, ema: bool = False
               ) -> GANState:
  _, gen_params, gen_rest = split(gen)
  _, critic_params, critic_rest = split(critic)
  return GANState(
      step=jnp.zeros((), jnp.int32), gen_params=gen_params, gen_rest=gen_rest,
      critic_params=critic_params, critic_rest=critic_rest,
      gen_opt=gen_tx.init(gen_params), critic_opt=critic_tx.init(critic_params),
      gen_ema=jax.tree.map(jnp.copy, gen_params) if ema else None)


# ---- checkpoint items -------------------------------------------------------------------------
# The generator is its own checkpoint item, so a trained model loads without the critic and the
# optimiser states (for GANimation at 128 px: 8.5 M of about 160 M saved floats).
GENERATOR_ITEM, TRAIN_ITEM = "generator", "train"
LEGACY_ITEM = "state"  # checkpoints written before the split: the whole GANState in one item


def initializer(recipe, config: ml_collections.ConfigDict, gen_tx, critic_tx
                ) -> Callable[[], GANState]:
  """The function that builds ``recipe``'s networks from ``config.seed`` and returns their fresh
  train state (optimiser states of ``gen_tx``/``critic_tx``; an EMA copy when
  ``config.optim.ema_decay`` > 0): jitted by the trainer, shape-evaluated by :func:`abstract_state`."""

  def init() -> GANState:
    gen, critic = recipe.build(nnx.Rngs(config.seed))
    return init_state(gen, critic, gen_tx, critic_tx, ema=config.optim.ema_decay > 0)
  return init


def abstract_state(recipe, config: ml_collections.ConfigDict, placement=None) -> GANState:
  """The train state ``recipe`` builds with ``config``, as shapes only (``jax.ShapeDtypeStruct``
  placed on ``placement``, default one local device): what restoring a whole-state checkpoint
  needs, computed without initialising anything."""
  gen_tx, critic_tx = recipe_optimizers(recipe, config)
  placement = placement or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=placement),
                      jax.eval_shape(initializer(recipe, config, gen_tx, critic_tx)))


def generator_item(params: nnx.State, rest: nnx.State) -> dict:
  return {"params": params, "rest": rest}


def to_items(state: GANState) -> dict:
  """The state as checkpoint items: ``generator`` (the weights to use: the moving average if
  kept, + rest) and ``train`` (the rest, with the live ``gen_params`` when they differ)."""
  train = {"step": state.step, "critic_params": state.critic_params,
           "critic_rest": state.critic_rest, "gen_opt": state.gen_opt,
           "critic_opt": state.critic_opt}
  if state.gen_ema is not None:
    train["gen_params"] = state.gen_params
  return {GENERATOR_ITEM: generator_item(inference_params(state), state.gen_rest),
          TRAIN_ITEM: train}


def from_items(items: dict) -> GANState:
  """Inverse of ``to_items``; also accepts the one-item layout of older checkpoints."""
  if LEGACY_ITEM in items:
    return items[LEGACY_ITEM]
  gen, train = items[GENERATOR_ITEM], dict(items[TRAIN_ITEM])
  if "gen_params" in train:
    return GANState(gen_params=train.pop("gen_params"), gen_ema=gen["params"],
                    gen_rest=gen["rest"], **train)
  return GANState(gen_params=gen["params"], gen_rest=gen["rest"], **train)
