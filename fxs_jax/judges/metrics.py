"""Held-out quality of the evaluator networks, in numpy on the host.

AU error on the 0-5 scale for the AU regressor; accuracy, confusion matrix and per-class recall
for the expression classifier. A leaf module: numpy and the FACS vocabulary only.
"""

from __future__ import annotations

import numpy as np

from fxs_jax.facs import AU_NAMES
from fxs_jax.facs import EMOTIONS
from fxs_jax.facs import NUM_EMOTIONS


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
