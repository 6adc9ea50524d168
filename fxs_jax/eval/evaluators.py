"""Independent evaluator networks: an AU regressor and an expression classifier.

They judge a GAN's outputs and are NOT the GAN's own critic: the project trains them itself, on
SynthFaces' exact labels (17 AU intensities on the 0-5 scale, 8 emotions), and validates them on
held-out identities (the ``test`` split). Both are the same small CNN: stride-2 conv blocks with
LeakyReLU (instance norm in the middle ones) down to a 4x4 map, then a dense head on the
flattened map (default: SynthFaces is aligned, so where a feature fires says which AU it is) or on
its global average.

``ensure_trained`` trains the default evaluator on first use into a cache directory and reuses it
afterwards, as datasets are built on first use.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax.data.synth_faces import AU_MAX
from fxs_jax.data.synth_faces import AU_NAMES
from fxs_jax.data.synth_faces import EMOTIONS
from fxs_jax.nn import DownBlock

KINDS = ("au_regressor", "expression_classifier")
NUM_AUS = len(AU_NAMES)
NUM_EMOTIONS = len(EMOTIONS)
POOLS = ("average", "flatten")
FINAL_MAP_SIZE = 4  # num_blocks=0 picks the depth that leaves a 4x4 feature map


def auto_num_blocks(image_size: int) -> int:
  """Stride-2 blocks that take ``image_size`` down to a 4x4 map (4 at 64 px, 5 at 128 px)."""
  return max(int(round(math.log2(image_size / FINAL_MAP_SIZE))), 1)


class EvaluatorCNN(nnx.Module):
  """Image in [-1, 1] (B, H, W, 3) -> (B, num_outputs) raw head outputs.

  Conv4x4/2 blocks with channels doubling from ``base_channels`` up to ``max_channels``, then
  ``pool``: "flatten" (dense head on the whole final map) or "average" (global average). The first
  block sees raw pixels and has no norm (as pix2pix); the last has none either, because instance
  norm right before a global average pooling would pin every channel's spatial mean to its bias and
  the pooling would then throw nearly everything away.
  """

  def __init__(self, image_size: int, num_outputs: int, *, base_channels: int = 32,
               max_channels: int = 256, num_blocks: int = 0, norm: str = "instance",
               negative_slope: float = 0.2, pool: str = "average", rngs: nnx.Rngs):
    if pool not in POOLS:
      raise ValueError(f"Unknown pool {pool!r}; expected one of {POOLS}.")
    num_blocks = num_blocks or auto_num_blocks(image_size)
    if image_size % 2 ** num_blocks:
      raise ValueError(f"image_size {image_size} is not divisible by 2**num_blocks "
                       f"= {2 ** num_blocks}.")
    blocks, channels_in, channels = [], 3, base_channels
    for i in range(num_blocks):
      block_norm = norm if 0 < i < num_blocks - 1 else "none"
      blocks.append(DownBlock(channels_in, channels, norm=block_norm, activation="leaky_relu",
                              negative_slope=negative_slope, rngs=rngs))
      channels_in, channels = channels, min(2 * channels, max_channels)
    self.image_size, self.pool = image_size, pool
    self.trunk = nnx.List(blocks)
    features = channels_in * (1 if pool == "average" else (image_size // 2 ** num_blocks) ** 2)
    self.head = nnx.Linear(features, num_outputs, rngs=rngs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    if img_BxHxWx3.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"Expected {self.image_size}x{self.image_size} images, got "
                       f"{img_BxHxWx3.shape[1]}x{img_BxHxWx3.shape[2]}: evaluators must be "
                       "trained at the GAN's image size.")
    h = img_BxHxWx3
    for block in self.trunk:
      h = block(h)
    if self.pool == "average":
      return self.head(jnp.mean(h, axis=(1, 2)))
    return self.head(h.reshape(h.shape[0], -1))


class AURegressor(EvaluatorCNN):
  """(B, H, W, 3) in [-1, 1] -> (B, 17) AU intensities on the 0-5 scale (5 * sigmoid)."""

  def __init__(self, image_size: int, rngs: nnx.Rngs, **kwargs):
    super().__init__(image_size, NUM_AUS, rngs=rngs, **kwargs)

  def __call__(self, img_BxHxWx3: jax.Array) -> jax.Array:
    return AU_MAX * jax.nn.sigmoid(super().__call__(img_BxHxWx3))


class ExpressionClassifier(EvaluatorCNN):
  """(B, H, W, 3) in [-1, 1] -> (B, 8) logits over SynthFaces / RaFD's 8 emotions."""

  def __init__(self, image_size: int, rngs: nnx.Rngs, **kwargs):
    super().__init__(image_size, NUM_EMOTIONS, rngs=rngs, **kwargs)


def build(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> EvaluatorCNN:
  """The evaluator named by ``config.model_name`` with the architecture in ``config.model``."""
  m = config.model
  cls = {"au_regressor": AURegressor, "expression_classifier": ExpressionClassifier}.get(
      config.model_name)
  if cls is None:
    raise ValueError(f"Unknown evaluator {config.model_name!r}; expected one of {KINDS}.")
  return cls(m.image_size, rngs, base_channels=m.base_channels, max_channels=m.max_channels,
             num_blocks=m.num_blocks, norm=m.norm, negative_slope=m.negative_slope, pool=m.pool)


# ---- metrics (numpy, on the host) ------------------------------------------------------------
def au_errors(pred_BxA: np.ndarray, true_BxA: np.ndarray) -> dict:
  """AU error on the 0-5 scale: mean absolute error overall, per AU and on active AUs only.

  ``au_mae_active`` averages over the (example, AU) entries whose true intensity is > 0: most
  entries are 0 (an emotion moves 2-8 of the 17 AUs), which makes the overall mean look small.
  """
  pred_BxA, true_BxA = np.asarray(pred_BxA, np.float64), np.asarray(true_BxA, np.float64)
  err_BxA = np.abs(pred_BxA - true_BxA)
  active = true_BxA > 0
  per_au = err_BxA.mean(axis=0)
  return {"au_mae": float(err_BxA.mean()),
          "au_mae_active": float(err_BxA[active].mean()) if active.any() else float("nan"),
          "au_mae_per_au": {name: float(v) for name, v in zip(AU_NAMES, per_au)}}


def confusion_matrix(true_B: np.ndarray, pred_B: np.ndarray, num_classes: int) -> np.ndarray:
  """(K, K) counts: row = true class, column = predicted class."""
  counts = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(counts, (np.asarray(true_B, int), np.asarray(pred_B, int)), 1)
  return counts


def classification_metrics(logits_BxK: np.ndarray, true_B: np.ndarray) -> dict:
  """Accuracy, the confusion matrix (rows true, columns predicted) and per-class recall."""
  pred_B = np.argmax(np.asarray(logits_BxK), axis=-1)
  counts = confusion_matrix(true_B, pred_B, NUM_EMOTIONS)
  recall = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
  return {"accuracy": float(np.mean(pred_B == np.asarray(true_B))),
          "confusion_matrix": counts.tolist(), "classes": list(EMOTIONS),
          "per_class_recall": {name: float(r) for name, r in zip(EMOTIONS, recall)}}


# ---- trained on first use --------------------------------------------------------------------
def default_cache_dir() -> Path:
  """``$FXS_JAX_EVALUATOR_DIR`` or ``~/.cache/fxs_jax/evaluators``."""
  env = os.environ.get("FXS_JAX_EVALUATOR_DIR")
  return Path(env).expanduser() if env else Path("~/.cache/fxs_jax/evaluators").expanduser()


def default_config(kind: str, image_size: int, dataset: str | None = None,
                   data_dir: str | None = None) -> ml_collections.ConfigDict:
  """``configs/<kind>.py``'s default, retargeted to ``image_size`` and ``dataset``."""
  if kind not in KINDS:
    raise ValueError(f"Unknown evaluator {kind!r}; expected one of {KINDS}.")
  # The model configs import `configs.common`: make the repository's configs/ importable.
  root = str(Path(__file__).resolve().parents[2])
  if root not in sys.path:
    sys.path.insert(1, root)
  config = importlib.import_module(f"configs.{kind}").get_config()
  config.model.image_size = int(image_size)
  config.data.name = dataset or f"synth_faces/stills_{int(image_size)}"
  config.data.data_dir = data_dir or ""
  return config


def ensure_trained(kind: str, image_size: int, data_dir: str | None = None,
                   cache_dir: str | os.PathLike | None = None, dataset: str | None = None
                   ) -> Path:
  """The workdir of a trained default ``kind`` evaluator for ``image_size`` px images.

  Trains it on first use (minutes on a CPU at 64 px) into ``<cache_dir>/<kind>_<size>`` (cache_dir
  defaults to :func:`default_cache_dir`), writes its held-out metrics to ``eval.json`` there, and
  reuses it afterwards. An interrupted training resumes. A cached evaluator trained with another
  config is moved aside (``.prev-N``) and retrained. Load it with
  ``supervised.load_evaluator(None, workdir)``.
  """
  from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  from fxs_jax.train import supervised  # pylint: disable=g-import-not-at-top  (imports this)

  config = default_config(kind, image_size, dataset, data_dir)
  suffix = "" if dataset in (None, f"synth_faces/stills_{int(image_size)}") else (
      "_" + dataset.replace("/", "_"))
  workdir = Path(cache_dir or default_cache_dir()).expanduser() / f"{kind}_{image_size}{suffix}"
  saved, done = workdir / "config.json", workdir / "eval.json"
  if saved.exists() and _comparable(ml_collections.ConfigDict(json.loads(saved.read_text()))
                                    ) != _comparable(config):
    n = 1
    while workdir.with_name(f"{workdir.name}.prev-{n}").exists():
      n += 1
    stale = workdir.rename(workdir.with_name(f"{workdir.name}.prev-{n}"))
    print(f"The cached {kind} in {stale.with_name(workdir.name)} was trained with another config; "
          f"moved it to {stale} and retraining.", flush=True)
  if done.exists():
    metrics = json.loads(done.read_text())
    print(f"Using the trained {kind} in {workdir} ({_summary(metrics)}).", flush=True)
    return workdir
  print(f"Training the {kind} evaluator at {image_size} px on {config.data.name} into {workdir} "
        f"(first use, {config.num_train_steps} steps; a few minutes on a CPU at 64 px; it is "
        "reused afterwards)...", flush=True)
  sources = pipeline.load(config.data)
  metrics = supervised.run(config, workdir, "train", sources)  # trains, then evaluates
  print(f"Trained the {kind} evaluator in {workdir} ({_summary(metrics)}).", flush=True)
  return workdir


def _comparable(config: ml_collections.ConfigDict) -> dict:
  """What makes two evaluators the same (not where the data lives, nor reader threads)."""
  d = json.loads(config.to_json_best_effort(sort_keys=True))
  return {"model": d["model"], "optim": d["optim"], "data": d["data"]["name"],
          "batch_size": d["data"]["batch_size"], "steps": d["num_train_steps"], "seed": d["seed"]}


def _summary(metrics: dict) -> str:
  if "accuracy" in metrics:
    return f"held-out accuracy {metrics['accuracy']:.3f}"
  return f"held-out AU MAE {metrics['au_mae']:.3f} on the 0-5 scale"
