"""Landmark sequences as curves: per-frame normalisation and arc-length resampling.

cWGAN-P3 (MotionGAN) turns a video's 68 landmarks per frame into a curve in R^(68*2): each frame
is centred on its centroid and scaled to unit Frobenius norm (translation and scale of the face
are removed), flattened row-major (``x0, y0, x1, y1, ...``: ``lms_Tx68x2.reshape(T, -1)``), and
the sequence is resampled to a fixed number of frames equally spaced in arc length (30 in the
authors' scripts), so the SRVF sees the path of the expression, not the speed of the video.

``normalise_landmarks`` runs on numpy arrays (host preprocessing: numpy in, numpy out) and on JAX
arrays (jit- and grad-safe). ``resample_by_arc_length`` is numpy only: it is preprocessing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def array_module(*arrays):
  """``jnp`` if any argument is a JAX array (or tracer), else ``np``: numpy in, numpy out."""
  return jnp if any(isinstance(x, jax.Array) for x in arrays) else np


def normalise_landmarks(lms_xKx2):
  """Per frame: subtract the centroid, divide by the Frobenius norm of the centred points.

  Args:
    lms_xKx2: landmarks, shape ``(..., K, 2)`` (K = 68 for iBUG), any leading batch/time axes.

  Returns:
    Same shape: each ``(K, 2)`` frame has centroid 0 and Frobenius norm 1. A frame whose points
    all coincide (norm 0) comes back as zeros, with finite gradients.
  """
  xp = array_module(lms_xKx2)
  lms = lms_xKx2
  if xp is np:
    lms = np.asarray(lms)
    lms = lms.astype(np.result_type(lms.dtype, np.float32), copy=False)
  centred = lms - xp.mean(lms, axis=-2, keepdims=True)
  sq_norm = xp.sum(centred * centred, axis=(-2, -1), keepdims=True)
  # Double where: sqrt's gradient at 0 is inf, and 0 * inf = NaN would leak through one where.
  nonzero = sq_norm > 0
  norm = xp.sqrt(xp.where(nonzero, sq_norm, 1.0))
  return xp.where(nonzero, centred / norm, 0.0)


def flatten_frames(lms_xTxKx2):
  """``(..., T, K, 2) -> (..., T, 2K)``, row-major (``x0, y0, x1, y1, ...``): the curve layout."""
  return lms_xTxKx2.reshape(lms_xTxKx2.shape[:-2] + (-1,))


def resample_by_arc_length(curve_TxD, num_frames: int) -> np.ndarray:
  """Resamples a polygonal curve to ``num_frames`` points equally spaced in arc length (numpy).

  The curve is the polygon through its T points in R^D (one flattened frame each); the output
  point n lies at arc length ``n / (num_frames - 1)`` of the total along it, found by linear
  interpolation between the two frames around it. First and last points are kept.

  Frames equal to their predecessor add no length and are skipped (the authors'
  ``ReSampleCurve.m`` instead nudges equal coordinates by 1e-4; we do not move the data). A
  constant curve (zero length) has no arc-length parametrisation: it returns its point repeated.

  Args:
    curve_TxD: array of shape ``(T, D)``, T >= 1.
    num_frames: number of output points N >= 1 (N = 1 returns the first point).

  Returns:
    ``(num_frames, D)`` array (float64 for float64 or integer input, float32 for float32).
  """
  curve = np.asarray(curve_TxD)
  if curve.ndim != 2 or len(curve) < 1 or num_frames < 1:
    raise ValueError(f"need a (T >= 1, D) curve and num_frames >= 1, got {curve.shape}, "
                     f"{num_frames}")
  out_dtype = np.result_type(curve.dtype, np.float32)
  curve = curve.astype(np.float64)
  segment_lengths = np.linalg.norm(np.diff(curve, axis=0), axis=-1)
  total_length = segment_lengths.sum()
  if not total_length > 0:
    return np.repeat(curve[:1], num_frames, axis=0).astype(out_dtype)
  keep = np.concatenate([[True], segment_lengths > 0])  # strictly increasing arc length below
  kept = curve[keep]
  arc_fraction = np.concatenate([[0.0], np.cumsum(segment_lengths)])[keep] / total_length
  arc_fraction[-1] = 1.0  # the cumulative sum can miss 1 by an ulp
  targets = np.linspace(0.0, 1.0, num_frames)
  # Linear interpolation, all D coordinates at once: segment k holds arc_fraction[k..k+1].
  segment = np.searchsorted(arc_fraction, targets, side="right") - 1
  segment = np.clip(segment, 0, len(kept) - 2)
  start, end = arc_fraction[segment], arc_fraction[segment + 1]
  weight_N = (targets - start) / (end - start)
  resampled = kept[segment] + weight_N[:, None] * (kept[segment + 1] - kept[segment])
  return resampled.astype(out_dtype)


OUTER_EYE_CORNERS = (36, 45)  # iBUG: the inter-ocular distance of the landmark error


def landmark_nme(predicted_Bx68x2, truth_Bx68x2) -> jax.Array:
  """(B,) mean point-to-point distance divided by the truth's inter-ocular (outer eye corner)
  distance."""
  iod = jnp.linalg.norm(truth_Bx68x2[:, OUTER_EYE_CORNERS[0]]
                        - truth_Bx68x2[:, OUTER_EYE_CORNERS[1]], axis=-1)
  return jnp.mean(jnp.linalg.norm(predicted_Bx68x2 - truth_Bx68x2, axis=-1), axis=-1) / iod


def moved_to(source_Bx68x2, target_Bx68x2) -> jax.Array:
  """The trivial transfer of landmarks: the source's shape, translated and scaled onto the
  target's (same centroid, same RMS spread)."""
  def centred(p):
    mean = jnp.mean(p, axis=1, keepdims=True)
    return p - mean, mean
  s, _ = centred(source_Bx68x2)
  t, t_mean = centred(target_Bx68x2)
  scale = jnp.sqrt(jnp.sum(t ** 2, axis=(1, 2)) / jnp.sum(s ** 2, axis=(1, 2)))
  return s * scale[:, None, None] + t_mean
