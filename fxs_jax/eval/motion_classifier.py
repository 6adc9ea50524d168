"""An independent judge of generated motions: a classifier of real SRVFs by expression.

Multinomial logistic regression on each SRVF's log map at the Karcher mean mu of the training
SRVFs, flattened and divided by sqrt(T) (so a feature vector's length is the geodesic distance
to mu, in radians), with an L2 penalty ``l2 / 2 * |W|^2`` on the weights. It is fitted on real
motions only (the train split), never on generated ones, and knows nothing of the GAN.

Why this one: the loss is strictly convex, so the fit (full batch, L-BFGS from zero weights) has
a single answer that no seed or batch order changes (100 L-BFGS steps; on the 700 train motions
of ``synth_faces/sequences_64`` the gradient is below 1e-8 after 50); it needs no new
dependency; and it takes ~4 s on one CPU core there, mostly compiling, so ``--mode=eval`` fits
it afresh each time instead of caching it like the image evaluators (which train for minutes). The isotropic penalty on features in the tangent space's own coordinates
keeps it a function of the sphere's geometry only (a rotation of the tangent space leaves its
predictions unchanged). Its accuracy on real held-out motions is reported beside the generated
ones', so a reader can judge the judge.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fxs_jax import geometry

L2 = 1e-3  # weight penalty: the classes of real motions are far apart, so any small value fits
LBFGS_STEPS = 100


@dataclasses.dataclass(frozen=True)
class MotionClassifier:
  """Fitted classifier: ``predict(q_NxTxD)`` -> (N,) labels from ``classes_K``."""

  mean_TxD: np.ndarray  # the base point of the log map (Karcher mean of the training SRVFs)
  weights_FxK: np.ndarray
  bias_K: np.ndarray
  classes_K: np.ndarray  # the label of each logit (the sorted training labels)
  train_accuracy: float

  def features(self, q_NxTxD: np.ndarray) -> np.ndarray:
    return log_features(q_NxTxD, self.mean_TxD)

  def logits(self, q_NxTxD: np.ndarray) -> np.ndarray:
    return self.features(q_NxTxD) @ self.weights_FxK + self.bias_K

  def predict(self, q_NxTxD: np.ndarray) -> np.ndarray:
    return self.classes_K[np.argmax(self.logits(q_NxTxD), axis=-1)]

  def accuracy(self, q_NxTxD: np.ndarray, class_N: np.ndarray) -> float:
    return float(np.mean(self.predict(q_NxTxD) == np.asarray(class_N)))


def log_features(q_NxTxD: np.ndarray, mean_TxD: np.ndarray) -> np.ndarray:
  """(N, T * D) float64: ``log_mean(q) / sqrt(T)``, flattened (length = geodesic distance)."""
  q = jnp.asarray(q_NxTxD, jnp.float32)
  log = np.asarray(geometry.log_map(q, jnp.asarray(mean_TxD, jnp.float32)), np.float64)
  return log.reshape(len(log), -1) / np.sqrt(q.shape[-2])


@jax.jit
def _fit_logistic(x_NxF: jax.Array, onehot_NxK: jax.Array, l2: float):
  """Minimises mean softmax cross-entropy + ``l2 / 2 * |W|^2`` by L-BFGS from zero weights."""
  params = {"w": jnp.zeros((x_NxF.shape[1], onehot_NxK.shape[1])),
            "b": jnp.zeros((onehot_NxK.shape[1],))}

  def loss(p):
    logits = x_NxF @ p["w"] + p["b"]
    return (jnp.mean(optax.softmax_cross_entropy(logits, onehot_NxK))
            + 0.5 * l2 * jnp.sum(p["w"] ** 2))

  solver = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(loss)

  def step(_, carry):
    p, state = carry
    value, grad = value_and_grad(p, state=state)
    updates, state = solver.update(grad, state, p, value=value, grad=grad, value_fn=loss)
    return optax.apply_updates(p, updates), state

  params, _ = jax.lax.fori_loop(0, LBFGS_STEPS, step, (params, solver.init(params)))
  return params


def fit(q_NxTxD: np.ndarray, class_N: np.ndarray, l2: float = L2) -> MotionClassifier:
  """The classifier of real SRVFs ``q_NxTxD`` (unit norm) with labels ``class_N`` (any ints).

  The base point is their Karcher mean (``geometry.karcher_mean``); the classes are the distinct
  labels present (at least two).
  """
  class_N = np.asarray(class_N)
  classes_K, index_N = np.unique(class_N, return_inverse=True)
  if len(classes_K) < 2:
    raise ValueError(f"A classifier needs at least two classes, got {classes_K.tolist()}.")
  mean_TxD = np.asarray(geometry.karcher_mean(jnp.asarray(q_NxTxD, jnp.float32)))
  x = log_features(q_NxTxD, mean_TxD)
  # float32 for the fit (the features are O(1) radians); float64 weights for the host.
  params = _fit_logistic(jnp.asarray(x, jnp.float32),
                         jax.nn.one_hot(index_N, len(classes_K)), jnp.float32(l2))
  classifier = MotionClassifier(mean_TxD, np.asarray(params["w"], np.float64),
                                np.asarray(params["b"], np.float64), classes_K, 0.0)
  return dataclasses.replace(classifier, train_accuracy=classifier.accuracy(q_NxTxD, class_N))
