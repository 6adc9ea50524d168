"""A small supervised trainer for the evaluator networks (AU regressor, expression classifier).

Same machinery as the GAN trainer, one network and one loss: the step is a pure function of
(state, batch) under ``jax.jit`` over ``nnx.split`` state, batches split over the mesh's 'data'
axis, state replicated and donated; Adam; Orbax checkpoints of state + grain iterator + config
(resumed automatically from the workdir); metrics to stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from fxs_jax import config_upgrade
from fxs_jax import sharding
from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.judges import metrics as judge_metrics
from fxs_jax.judges import nets
from fxs_jax.train import checkpoint
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import Checkpointer

MODES = ("train", "eval")
PredictFn = Callable[[np.ndarray], np.ndarray]


@flax.struct.dataclass
class SupervisedState:
  step: jax.Array
  params: nnx.State
  opt_state: Any


def _label_key(kind: str) -> str:
  return "emotion" if kind == "expression_classifier" else "aus"


class SupervisedTrainer:
  """The evaluator's graph, the jitted train / predict steps and the abstract state."""

  def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None):
    if config.model_name not in nets.KINDS:
      raise UserError(f"model_name must be one of {nets.KINDS}, got {config.model_name!r}.")
    self.config, self.kind = config, config.model_name
    self.mesh = mesh or sharding.make_mesh()
    schedule = state_lib.lr_schedule(config.optim, config.num_train_steps)
    self.tx = optax.adam(schedule, b1=config.optim.b1, b2=config.optim.b2)
    # Every variable of the evaluators is a Param: a non-exhaustive split raises if that changes.
    self.graphdef, _ = nnx.split(nnx.eval_shape(self._build), nnx.Param)
    repl, data = sharding.replicated(self.mesh), sharding.batch_sharding(self.mesh)
    self.abstract_state = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), jax.eval_shape(self._init))
    self.init_state = jax.jit(self._init, out_shardings=repl)
    self.train_step = jax.jit(self._train_step, in_shardings=(repl, data),
                              out_shardings=(repl, repl), donate_argnums=0)
    self.predict_step = jax.jit(self._predict, in_shardings=(repl, data), out_shardings=repl)
    self.features_step = jax.jit(self._features, in_shardings=(repl, data), out_shardings=repl)

  def _build(self) -> nnx.Module:
    return nets.build(self.config, nnx.Rngs(self.config.seed))

  def _init(self) -> SupervisedState:
    params = nnx.state(self._build(), nnx.Param)
    return SupervisedState(step=jnp.zeros((), jnp.int32), params=params,
                           opt_state=self.tx.init(params))

  def _predict(self, params, img_BxHxWx3):
    return nnx.merge(self.graphdef, params)(img_BxHxWx3)

  def _features(self, params, img_BxHxWx3):
    return nnx.merge(self.graphdef, params).features(img_BxHxWx3)

  def _loss(self, params, batch):
    out = self._predict(params, batch["image"])
    if self.kind == "expression_classifier":
      loss = optax.softmax_cross_entropy_with_integer_labels(out, batch["emotion"]).mean()
      return loss, {"accuracy": jnp.mean(jnp.argmax(out, -1) == batch["emotion"])}
    err_BxA = out - batch["aus"]
    return jnp.mean(jnp.square(err_BxA)), {"au_mae": jnp.mean(jnp.abs(err_BxA))}

  def _augment(self, key: jax.Array, img_BxHxWx3: jax.Array) -> jax.Array:
    """Random shifts (edge-padded crops) and per-image colour gain / offset / contrast.

    On top of the pipeline's flips: with 300 training identities the network otherwise learns
    the faces (skin, hair, background colours) and not the expressions.
    """
    shift, jitter = self.config.data.max_shift, self.config.data.color_jitter
    b, h, w, c = img_BxHxWx3.shape
    k_shift, k_gain, k_offset, k_contrast = jax.random.split(key, 4)
    if shift:
      padded = jnp.pad(img_BxHxWx3, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
      offsets_Bx2 = jax.random.randint(k_shift, (b, 2), 0, 2 * shift + 1)
      img_BxHxWx3 = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, c)))(
          padded, offsets_Bx2)
    if jitter:
      gain = 1 + jax.random.uniform(k_gain, (b, 1, 1, c), minval=-jitter, maxval=jitter)
      offset = jax.random.uniform(k_offset, (b, 1, 1, 1), minval=-jitter, maxval=jitter)
      contrast = 1 + jax.random.uniform(k_contrast, (b, 1, 1, 1), minval=-jitter, maxval=jitter)
      mean = jnp.mean(img_BxHxWx3, axis=(1, 2, 3), keepdims=True)
      img_BxHxWx3 = (img_BxHxWx3 - mean) * contrast + mean
      img_BxHxWx3 = jnp.clip(img_BxHxWx3 * gain + offset, -1.0, 1.0)
    return img_BxHxWx3

  def _train_step(self, state: SupervisedState, batch):
    key = jax.random.fold_in(jax.random.key(self.config.seed), state.step)
    batch = {**batch, "image": self._augment(key, batch["image"])}
    (loss, metrics), grads = jax.value_and_grad(self._loss, has_aux=True)(state.params, batch)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    state = state.replace(step=state.step + 1, opt_state=opt_state,
                          params=optax.apply_updates(state.params, updates))
    return state, {**metrics, "loss": loss, "grad_norm": optax.tree.norm(grads)}

  def predict_fn(self, state: SupervisedState, features: bool = False) -> PredictFn:
    """``images (B, H, W, 3) in [-1, 1] -> np.ndarray`` (AUs on 0-5, or logits; with
    ``features``, what the head reads) for any B.

    Pads each chunk to a power of two (at least the device count, at most
    ``config.eval.batch_size``) so a handful of shapes are ever compiled. Every process must
    pass the same images.
    """
    data = sharding.batch_sharding(self.mesh)
    step = self.features_step if features else self.predict_step

    def predict(img_BxHxWx3: np.ndarray) -> np.ndarray:
      img_BxHxWx3 = np.asarray(img_BxHxWx3, np.float32)
      if not len(img_BxHxWx3):
        return np.zeros((0,), np.float32)
      return sharding.apply_in_chunks(
          lambda part: step(state.params, jax.device_put(part, data)),
          img_BxHxWx3, self.config.eval.batch_size, multiple=jax.device_count())

    return predict


def _device_batch(batch: dict, kind: str, mesh) -> dict:
  return sharding.to_device({k: batch[k] for k in ("image", _label_key(kind))}, mesh)


def train_evaluator(config: ml_collections.ConfigDict, workdir: str | Path, sources: dict
                    ) -> SupervisedState:
  """Trains ``config.model_name`` from scratch, or resumes from ``workdir/checkpoints``."""
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  checkpoint.write_config(workdir, config)
  trainer = SupervisedTrainer(config)
  data, log = config.data, config.logging
  sharding.per_process_batch_size(data.batch_size)  # checks it splits over the devices
  # Global batch size: each process reads the rows of each global batch its devices hold.
  train_iter = pipeline.train_iterator(data, sources[data.train_split], data.batch_size,
                                       config.seed,
                                       rows=sharding.process_rows(trainer.mesh, data.batch_size))
  ckpt = Checkpointer(workdir / "checkpoints", config)
  items, start = ckpt.restore_newest_readable(lambda step: {"state": trainer.abstract_state},
                                              train_iter, trainer.kind)
  state = items["state"] if items is not None else trainer.init_state()
  num_steps, accumulated, tic = config.num_train_steps, [], time.perf_counter()
  try:
    for step in range(start, num_steps):
      state, metrics = trainer.train_step(state, _device_batch(next(train_iter), trainer.kind,
                                                               trainer.mesh))
      accumulated.append(metrics)
      done = step + 1
      if done % log.every_steps == 0 or done == num_steps:
        means = {k: float(np.mean([m[k] for m in jax.device_get(accumulated)]))
                 for k in accumulated[0]}
        accumulated = []
        if not all(np.isfinite(v) for v in means.values()):
          raise UserError(f"The {trainer.kind} diverged by step {done} ({means}); lower "
                          "optim.lr. The last good checkpoint is kept.")
        text = ", ".join(f"{k} {v:.4g}" for k, v in sorted(means.items()))
        print(f"step {done}/{num_steps}: {text} ({time.perf_counter() - tic:.0f} s)", flush=True)
      if log.eval_every_steps and done % log.eval_every_steps == 0 and done < num_steps:
        held_out = evaluate_evaluator(trainer.predict_fn(state), trainer.kind,
                                      sources[data.eval_split], limit=log.eval_examples)
        print(f"step {done}: held-out ({log.eval_examples} examples) {_headline(held_out)}",
              flush=True)
      if done % config.checkpoint.every_steps == 0 or done == num_steps:
        ckpt.save(done, {"state": state}, train_iter)
  finally:
    ckpt.close()
  if num_steps > start:
    seconds = time.perf_counter() - tic
    print(f"Trained the {trainer.kind} for {num_steps - start} steps in {seconds:.0f} s.",
          flush=True)
  return state


def load_evaluator(config: ml_collections.ConfigDict | None, workdir: str | Path,
                   features: bool = False) -> tuple[PredictFn, int]:
  """``(predict_fn, step)`` of the newest checkpoint in ``workdir`` (config None: the one saved
  there); with ``features`` the function returns what the head reads instead of its output."""
  workdir = Path(workdir)
  if config is None:
    saved = workdir / "config.json"
    if not saved.exists():
      raise UserError(f"No config.json in {workdir}: not an evaluator workdir.")
    config = config_upgrade.upgrade(json.loads(saved.read_text()))
  trainer, state, step = restore_state(config, workdir)
  return trainer.predict_fn(state, features), step


def restore_state(config: ml_collections.ConfigDict, workdir: str | Path
                  ) -> tuple[SupervisedTrainer, SupervisedState, int]:
  """``(trainer, state, step)`` of the newest checkpoint of the evaluator in ``workdir`` that
  ``config`` trained (its parameters are what ``fxs_jax.judges.shipped`` ships)."""
  trainer = SupervisedTrainer(config)
  items, step = Checkpointer.load(Path(workdir) / "checkpoints", None,
                                  lambda ckpt, step: {"state": trainer.abstract_state})
  return trainer, items["state"], step


def evaluate_evaluator(predict_fn: PredictFn, kind: str, source, batch_size: int = 64,
                       limit: int | None = None) -> dict:
  """Held-out quality of an evaluator over ``source`` (in order, no flip, no example dropped).

  AU regressor: ``au_mae`` (0-5 scale), ``au_mae_active``, ``au_mae_per_au`` and the MAE of the
  best constant (per-AU median of the labels) for scale. Classifier: ``accuracy``, the 8x8
  ``confusion_matrix`` (rows true, columns predicted), ``per_class_recall``.
  """
  n = len(source) if limit is None else min(limit, len(source))
  preprocess = pipeline.stills_preprocess(flip=False)
  outputs, labels = [], []
  for start in range(0, n, batch_size):
    examples = [preprocess(source[i], None) for i in range(start, min(start + batch_size, n))]
    outputs.append(predict_fn(np.stack([e["image"] for e in examples])))
    labels.append(np.stack([e[_label_key(kind)] for e in examples]))
  outputs, labels = np.concatenate(outputs), np.concatenate(labels)
  if kind == "expression_classifier":
    metrics = judge_metrics.classification_metrics(outputs, labels)
  else:
    metrics = judge_metrics.au_errors(outputs, labels)
    constant = np.broadcast_to(np.median(labels, axis=0), labels.shape)
    metrics["au_mae_best_constant"] = judge_metrics.au_errors(constant, labels)["au_mae"]
  return {"kind": kind, "num_examples": int(n), **metrics}


def _headline(metrics: dict) -> str:
  if "accuracy" in metrics:
    return f"accuracy {metrics['accuracy']:.4f}"
  return f"au_mae {metrics['au_mae']:.4f} (active AUs {metrics['au_mae_active']:.4f})"


def run(config: ml_collections.ConfigDict, workdir: str | Path, mode: str = "train",
        sources: dict | None = None) -> dict:
  """``train`` (then evaluate) or ``eval``: held-out metrics printed and written to
  ``workdir/eval.json``; returns them."""
  if mode not in MODES:
    raise UserError(f"mode must be one of {', '.join(MODES)} for {config.model_name}, "
                    f"got {mode!r}.")
  workdir = Path(workdir)
  sources = sources or pipeline.load(config.data)
  if mode == "train":
    train_evaluator(config, workdir, sources)
  predict_fn, step = load_evaluator(config, workdir)
  metrics = evaluate_evaluator(predict_fn, config.model_name, sources[config.data.eval_split],
                               batch_size=config.eval.batch_size)
  metrics = {"step": step, "split": config.data.eval_split, "data": config.data.name, **metrics}
  if jax.process_index() == 0:
    (workdir / "eval.json").write_text(json.dumps(metrics, indent=2))
  print(json.dumps(metrics))
  print(f"Held-out {_headline(metrics)} at step {step}; written to {workdir / 'eval.json'}.",
        flush=True)
  return metrics
