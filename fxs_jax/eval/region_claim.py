"""LGP-GAN's region claim, measured: whole-face editors blur and superimpose expressions in the
eye and mouth regions under large deformations, which local generators avoid.

For each held-out pair (input, true target) and each region box (``image_metrics.region_boxes``
from the target's landmarks), :func:`box_measures` compares an output with the truth inside the
box:

* ``l1``: mean absolute error ([0, 1] units: images mapped from [-1, 1]);
* ``psnr``: the box's PSNR (dB, peak 1), inf where the output equals the truth;
* ``sharpness``: the variance of the output's Laplacian over the truth's (grey levels, inside the
  box): 1 = as sharp as the truth, below 1 = blurred (averaged as a geometric mean);
* ``ghost``: how much of the input's expression is left where the truth differs, the least-squares
  coefficient of ``output - truth`` on ``input - truth``: 0 = none, 1 = the input copied, between =
  the two expressions superimposed. NaN where the input equals the truth in the box.

:func:`deformation` says how far the truth moves each region: the mean displacement (pixels) of the
region's landmarks from the input to the target; the claim concerns the pairs that move most
(:func:`largest`).
"""

from __future__ import annotations

import numpy as np

from fxs_jax.errors import UserError

REGIONS = ("eyes", "mouth")
# The 68-point indices of each region (brows with the eyes), as image_metrics.region_boxes.
REGION_LANDMARKS = {"eyes": np.r_[17:27, 36:48], "mouth": np.r_[48:68]}
MEASURES = ("l1", "psnr", "sharpness", "ghost")
_GREY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma


def _unit(images) -> np.ndarray:
  return np.clip((np.asarray(images, np.float64) + 1.0) / 2.0, 0.0, 1.0)


def _laplacian_variance(grey_hxw: np.ndarray) -> float:
  """Variance of the 5-point Laplacian over the interior pixels of a grey crop."""
  g = grey_hxw
  lap = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1])
  return float(lap.var()) if lap.size else float("nan")


def box_measures(out_BxHxWx3, truth_BxHxWx3, input_BxHxWx3, boxes_Bx4) -> dict[str, np.ndarray]:
  """``{measure: (B,) values}`` of :data:`MEASURES` inside each example's box (y0, y1, x0, x1);
  images in [-1, 1]."""
  out, truth, inp = _unit(out_BxHxWx3), _unit(truth_BxHxWx3), _unit(input_BxHxWx3)
  if not out.shape == truth.shape == inp.shape or out.ndim != 4:
    raise UserError(f"output, truth and input must be (B, H, W, 3) alike, got {out.shape}, "
                    f"{truth.shape}, {inp.shape}.")
  values = {m: [] for m in MEASURES}
  for o, t, x, (y0, y1, x0, x1) in zip(out, truth, inp, np.asarray(boxes_Bx4)):
    o, t, x = (a[y0:y1, x0:x1] for a in (o, t, x))
    residual, moved = o - t, x - t
    mse = float(np.mean(residual ** 2))
    values["l1"].append(float(np.mean(np.abs(residual))))
    values["psnr"].append(float("inf") if mse == 0 else -10.0 * np.log10(mse))
    truth_var = _laplacian_variance(t @ _GREY)
    values["sharpness"].append(_laplacian_variance(o @ _GREY) / truth_var if truth_var > 0
                               else float("nan"))
    energy = float(np.sum(moved ** 2))
    values["ghost"].append(float(np.sum(residual * moved)) / energy if energy > 0
                           else float("nan"))
  return {m: np.asarray(v) for m, v in values.items()}


def deformation(input_landmarks_Bx68x2, target_landmarks_Bx68x2) -> dict[str, np.ndarray]:
  """``{region: (B,)}`` mean displacement (pixels) of the region's landmarks, input to target."""
  a = np.asarray(input_landmarks_Bx68x2, np.float64)
  b = np.asarray(target_landmarks_Bx68x2, np.float64)
  if a.shape != b.shape or a.shape[1:] != (68, 2):
    raise UserError(f"landmarks must be (B, 68, 2) alike, got {a.shape} and {b.shape}.")
  return {r: np.linalg.norm(b[:, idx] - a[:, idx], axis=-1).mean(axis=1)
          for r, idx in REGION_LANDMARKS.items()}


def largest(values: np.ndarray, fraction: float = 1.0 / 3.0) -> np.ndarray:
  """Boolean mask of the ``fraction`` of entries with the largest values (at least one; ties at
  the threshold included)."""
  values = np.asarray(values, np.float64)
  if not 0.0 < fraction <= 1.0:
    raise UserError(f"fraction must be in (0, 1], got {fraction}.")
  count = max(1, int(round(fraction * len(values))))
  threshold = np.sort(values)[::-1][count - 1]
  return values >= threshold


def summary(measures: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, float]:
  """Each measure's mean over the masked entries: ``psnr`` as the PSNR of the mean MSE (a box can
  be copied exactly), ``sharpness`` as the geometric mean of the ratios (a box whose truth is
  flat gives a large ratio that an arithmetic mean would follow), the others ignoring NaN."""
  mask = np.ones(len(measures["l1"]), bool) if mask is None else np.asarray(mask, bool)
  out = {}
  for name, values in measures.items():
    chosen = np.asarray(values, np.float64)[mask]
    if name == "psnr":
      mse = np.mean(np.where(np.isinf(chosen), 0.0, 10.0 ** (-chosen / 10.0)))
      out[name] = float("inf") if mse == 0 else float(-10.0 * np.log10(mse))
    elif name == "sharpness":
      logs = np.log(chosen[np.isfinite(chosen) & (chosen > 0)])
      out[name] = float(np.exp(logs.mean())) if logs.size else float("nan")
    else:
      out[name] = float(np.nanmean(chosen)) if np.any(~np.isnan(chosen)) else float("nan")
  return out
