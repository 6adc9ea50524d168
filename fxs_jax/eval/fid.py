"""Frechet Inception Distance and Inception Score, computed as the reference implementations do.

* FID: pytorch-fid's ``calculate_frechet_distance`` on the 2048-d pool3 features of the FID
  Inception (``inception.py``), float64, ``np.cov`` with N - 1.
* IS: the original TF Inception Score (openai/improved-gan): the softmax over *all 1008* logits
  of the 2015 graph (class 0 "background", 1-1000 the ImageNet classes, 1001-1007 unused), then
  ``exp(E_x KL(p(y|x) || p(y)))`` per split, mean and std over the splits. Scores from
  1000-class torchvision models (e.g. sbarratt/inception-score-pytorch) are not comparable.

Without a weights file nothing is computed: ``fid_and_is`` returns ``{"skipped": reason}``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Iterable

import jax
import numpy as np
from scipy import linalg
from scipy import special

from fxs_jax.eval import inception

SKIPPED_NO_WEIGHTS = (
    "skipped: no Inception weights file (pass --config.eval.inception_weights=/path/to/"
    "pt_inception-2015-12-05-6726825d.pth, the pytorch-fid release asset; see "
    "fxs_jax/eval/README_inception.md)")


def activation_statistics(features_NxD) -> tuple[np.ndarray, np.ndarray]:
  """Mean ``mu_D`` and covariance ``sigma_DxD`` (unbiased, as ``np.cov``) of the features."""
  features_NxD = np.asarray(features_NxD, np.float64)
  if features_NxD.ndim != 2 or features_NxD.shape[0] < 2:
    raise ValueError(f"need features of shape (N >= 2, D), got {features_NxD.shape}")
  return features_NxD.mean(axis=0), np.cov(features_NxD, rowvar=False)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
  with warnings.catch_warnings():  # singular products are handled by the caller
    warnings.simplefilter("ignore", linalg.LinAlgWarning)
    return linalg.sqrtm(matrix)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
  """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``, as pytorch-fid computes it.

  If ``S1 S2`` is singular enough that its square root is not finite, ``eps * I`` is added to
  both covariances. A negligible imaginary part of the square root (numerical noise) is
  dropped; a diagonal imaginary part above 1e-3 raises ``ValueError``.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
    raise ValueError(f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, "
                     f"sigma {sigma1.shape} vs {sigma2.shape}")
  diff = mu1 - mu2
  covmean = _sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError(f"sqrtm(S1 S2) has an imaginary component of {np.abs(covmean.imag).max()}")
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance_of_features(features1_NxD, features2_MxD) -> float:
  """``frechet_distance`` of the two sets' statistics, computed from the features themselves.

  With ``S1 = A^T A`` and ``S2 = B^T B`` (``A``, ``B`` the centred features over sqrt(N - 1)),
  ``S1 S2`` has the eigenvalues of ``(A B^T)(A B^T)^T``, so ``Tr (S1 S2)^(1/2)`` is the sum of the
  singular values of the small N x M matrix ``A B^T``: exact, no D x D square root (seconds
  instead of minutes for a flattened 4,096-d feature map), and no ``eps`` for singular
  covariances (N < D).
  """
  f1 = np.asarray(features1_NxD, np.float64)
  f2 = np.asarray(features2_MxD, np.float64)
  if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1] or min(len(f1), len(f2)) < 2:
    raise ValueError(f"need features (N >= 2, D) and (M >= 2, D), got {f1.shape}, {f2.shape}")
  mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
  a = (f1 - mu1) / np.sqrt(len(f1) - 1)
  b = (f2 - mu2) / np.sqrt(len(f2) - 1)
  trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.sum(a * a) + np.sum(b * b) - 2.0 * trace_sqrt)


def _log_probs(logits_or_probs_NxK, from_logits: bool | None) -> np.ndarray:
  values = np.asarray(logits_or_probs_NxK, np.float64)
  if values.ndim != 2:
    raise ValueError(f"need (N, K) logits or probabilities, got shape {values.shape}")
  if from_logits is None:  # probabilities: non-negative rows summing to one
    from_logits = not (np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-4))
  if from_logits:
    return special.log_softmax(values, axis=1)
  with np.errstate(divide="ignore"):
    return np.log(values / values.sum(axis=1, keepdims=True))


def inception_score(logits_or_probs_NxK, splits: int = 10, *, from_logits: bool | None = None
                    ) -> tuple[float, float]:
  """Mean and std over ``splits`` contiguous splits of ``exp(E_x KL(p(y|x) || p(y)))``.

  Rows are logits (softmax taken over all K columns; for the FID Inception pass all 1008, as
  the original TF score does) or probabilities; ``from_logits=None`` tells them apart (rows of
  non-negative numbers summing to 1 are probabilities).
  """
  log_p_NxK = _log_probs(logits_or_probs_NxK, from_logits)
  if not 1 <= splits <= len(log_p_NxK):
    raise ValueError(f"need 1 <= splits <= N, got splits={splits}, N={len(log_p_NxK)}")
  scores = []
  for part in np.array_split(log_p_NxK, splits):
    p_yx = np.exp(part)
    p_y = p_yx.mean(axis=0, keepdims=True)
    # xlogy: 0 * log 0 = 0 for classes a sample never predicts.
    kl = (special.xlogy(p_yx, p_yx) - special.xlogy(p_yx, p_y)).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


@functools.lru_cache(maxsize=2)
def _inception_apply(weights_path: str, modified_time: float):
  del modified_time  # part of the cache key only: a rewritten file is read again
  return inception.make_apply(inception.load_inception(weights_path))


def _as_batches(images) -> Iterable[np.ndarray]:
  if isinstance(images, (np.ndarray, jax.Array)):
    return [images]
  return images


def inception_outputs(apply_fn, images, *, batch_size: int = 50,
                      value_range: tuple[float, float] = (-1.0, 1.0)
                      ) -> tuple[np.ndarray, np.ndarray]:
  """``(pool_Nx2048, logits_Nx1008)`` of all images (an ``NxHxWx3`` array or an iterable of
  them), values in ``value_range`` (uint8 arrays are read as 0..255). Batches are padded to
  ``batch_size`` so the jitted network compiles once per image size."""
  low, high = value_range
  pools, logits = [], []
  pending: list[np.ndarray] = []

  def flush(chunk: np.ndarray):
    count = len(chunk)
    if count < batch_size:
      chunk = np.concatenate([chunk, np.zeros((batch_size - count,) + chunk.shape[1:],
                                              chunk.dtype)])
    pool, logit = apply_fn(chunk)
    pools.append(np.asarray(pool)[:count])
    logits.append(np.asarray(logit)[:count])

  for batch in _as_batches(images):
    batch = np.asarray(batch)
    if batch.ndim != 4 or batch.shape[-1] != 3:
      raise ValueError(f"need NxHxWx3 images, got shape {batch.shape}")
    batch = (batch.astype(np.float32) / 255.0 if batch.dtype == np.uint8
             else np.clip((batch.astype(np.float32) - low) / (high - low), 0.0, 1.0))
    pending.append(batch)
    stacked = np.concatenate(pending)
    while len(stacked) >= batch_size:
      flush(stacked[:batch_size])
      stacked = stacked[batch_size:]
    pending = [stacked]
  rest = np.concatenate(pending) if pending else np.zeros((0,))
  if len(rest):
    flush(rest)
  if not pools:
    raise ValueError("no images given")
  return np.concatenate(pools), np.concatenate(logits)


_last_real: dict = {}  # (weights, digest of the real images) -> statistics; one entry


def _real_statistics(apply_fn, real_batches, weights_path, **kwargs):
  """The real set's statistics; an array seen with the same weights just before is not run
  again (the harness scores several methods against one real set)."""
  key = None
  if isinstance(real_batches, np.ndarray):
    key = (weights_path, real_batches.shape, str(real_batches.dtype),
           hashlib.sha1(np.ascontiguousarray(real_batches).tobytes()).hexdigest(),
           tuple(sorted(kwargs.items())))
    if key in _last_real:
      return _last_real[key]
  stats = activation_statistics(inception_outputs(apply_fn, real_batches, **kwargs)[0])
  if key is not None:
    _last_real.clear()
    _last_real[key] = stats
  return stats


def fid_and_is(image_batches, real_batches, weights_path: str | None, *, batch_size: int = 50,
               splits: int = 10, value_range: tuple[float, float] = (-1.0, 1.0)) -> dict:
  """FID of generated vs real images and the IS of the generated ones.

  Returns ``{"fid", "inception_score", "inception_score_std"}``, or ``{"skipped": reason}``
  when ``weights_path`` is empty or None (never fails for want of weights). A path that is
  given but unreadable raises ``UserError``. Images: see :func:`inception_outputs`. The IS uses
  ``min(splits, N)`` splits. The loaded network is cached per path, and the statistics of the
  last real array. The 2048x2048 ``sqrtm`` takes ~40 s on 2 CPU cores (as in pytorch-fid).
  """
  if not weights_path:
    return {"skipped": SKIPPED_NO_WEIGHTS}
  weights_path = os.path.abspath(os.fspath(weights_path))
  modified = os.path.getmtime(weights_path) if os.path.exists(weights_path) else 0.0
  apply_fn = _inception_apply(weights_path, modified)
  fake_pool, fake_logits = inception_outputs(apply_fn, image_batches, batch_size=batch_size,
                                             value_range=value_range)
  real_stats = _real_statistics(apply_fn, real_batches, (weights_path, modified),
                                batch_size=batch_size, value_range=value_range)
  fid = frechet_distance(*activation_statistics(fake_pool), *real_stats)
  score, score_std = inception_score(fake_logits, min(splits, len(fake_logits)), from_logits=True)
  return {"fid": fid, "inception_score": score, "inception_score_std": score_std}


def classifier_fd_and_is(features_fn, logits_fn, fake_images, real_images) -> dict:
  """The offline, SynthFaces-specific stand-ins for FID and IS: the Frechet distance between the
  independent expression classifier's features of ``fake`` and ``real`` images, and the Inception
  Score formula on its logits of ``fake`` (10 splits, fewer for small sets). Not comparable with
  FID / IS numbers from papers; comparable between models evaluated here."""
  logits = logits_fn(fake_images)
  score, _ = inception_score(logits, splits=max(1, min(10, len(logits) // 16)), from_logits=True)
  return {"fd_classifier": frechet_distance_of_features(features_fn(fake_images),
                                                        features_fn(real_images)),
          "is_classifier": score}
