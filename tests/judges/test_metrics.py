"""The evaluators' held-out metrics against errors and confusions counted by hand."""

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.judges import metrics as judge_metrics


def test_au_errors_by_hand():
  true = np.array([[0.0, 2.0, 4.0], [1.0, 0.0, 5.0]])
  pred = np.array([[1.0, 2.5, 4.0], [1.0, 3.0, 3.0]])
  names = facs.AU_NAMES
  # |err| = [[1, .5, 0], [0, 3, 2]]: per AU [.5, 1.75, 1]; active entries (true > 0): .5, 0, 0, 2.
  got = judge_metrics.au_errors(np.pad(pred, ((0, 0), (0, 14))),
                                    np.pad(true, ((0, 0), (0, 14))))
  assert got["au_mae_per_au"][names[0]] == pytest.approx(0.5)
  assert got["au_mae_per_au"][names[1]] == pytest.approx(1.75)
  assert got["au_mae_per_au"][names[2]] == pytest.approx(1.0)
  assert got["au_mae"] == pytest.approx(6.5 / (2 * 17))
  assert got["au_mae_active"] == pytest.approx(2.5 / 4)


def test_accuracy_and_confusion_by_hand():
  true = np.array([0, 1, 1, 2, 7])
  logits = np.zeros((5, 8))
  logits[np.arange(5), [0, 1, 2, 2, 0]] = 1.0  # predictions 0, 1, 2, 2, 0
  got = judge_metrics.classification_metrics(logits, true)
  assert got["accuracy"] == pytest.approx(3 / 5)
  expected = np.zeros((8, 8), int)
  for t, p in [(0, 0), (1, 1), (1, 2), (2, 2), (7, 0)]:
    expected[t, p] += 1
  np.testing.assert_array_equal(got["confusion_matrix"], expected)
  assert got["per_class_recall"]["happy"] == pytest.approx(0.5)  # class 1: one of two right
  assert got["per_class_recall"]["contemptuous"] == 0.0
  assert got["per_class_recall"]["surprised"] == 0.0  # no examples: 0, not NaN
