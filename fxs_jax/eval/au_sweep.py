"""GANimation's own evaluation: single action units swept over intensities.

The paper (Pumarola et al., 2018, Fig. 3) activates one AU at a time on a face at increasing
intensity, 0 / 0.33 / 0.66 / 1 of the range; intensity 0 applied to a face must give the face
back. :func:`sweep` does that on held-out faces with any editor and reads each result with an
independent AU regressor: for every (AU, intensity), the intensity asked for, the regressor's
reading of that AU on the edits (and on the inputs), and how much the edit changed the pixels.

The target of an edit is the face's own AU vector with the one AU set to ``intensity * scale``
(``scale`` = 5, SynthFaces' and the paper's 0-5 range), so that on a neutral face intensity 0
asks for no change at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fxs_jax import facs
from fxs_jax.errors import UserError

# The nine AUs of the paper's single-AU figure, and its four intensities (fractions of the range).
PAPER_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU17", "AU20")
INTENSITIES = (0.0, 0.33, 0.66, 1.0)
AU_SCALE = 5.0
# uint8 levels: a pixel whose largest channel change exceeds this counts as changed.
CHANGED_LEVELS = 8

EditFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B,H,W,3) uint8, (B,17) -> uint8
ReadFn = Callable[[np.ndarray], np.ndarray]  # (B,H,W,3) uint8 -> (B,17) on 0-5


def targets(source_aus: np.ndarray, au: str, intensity: float,
            scale: float = AU_SCALE) -> np.ndarray:
  """``source_aus`` (B, 17) with ``au`` set to ``intensity * scale`` in every row."""
  if au not in facs.AU_NAMES:
    raise UserError(f"{au!r} is not one of the 17 AUs ({', '.join(facs.AU_NAMES)}).")
  if not 0.0 <= intensity <= 1.0:
    raise UserError(f"intensity must be a fraction of the AU range in [0, 1], got {intensity}.")
  out = np.array(source_aus, np.float32, copy=True)
  out[:, facs.AU_NAMES.index(au)] = intensity * scale
  return out


def pixel_change(edited: np.ndarray, faces: np.ndarray) -> tuple[float, float]:
  """``(mean |edited - faces| in uint8 levels, fraction of pixels changed by more than
  CHANGED_LEVELS in some channel)``."""
  diff = np.abs(edited.astype(np.int16) - faces.astype(np.int16))
  return float(diff.mean()), float(np.mean(diff.max(axis=-1) > CHANGED_LEVELS))


def sweep(edit: EditFn, read: ReadFn, faces: np.ndarray, source_aus: np.ndarray,
          aus: Sequence[str] = PAPER_AUS, intensities: Sequence[float] = INTENSITIES,
          scale: float = AU_SCALE) -> tuple[list[dict], dict[str, np.ndarray]]:
  """Every AU of ``aus`` at every intensity on ``faces`` (B, H, W, 3) uint8 with their AUs
  ``source_aus`` (B, 17). Returns the rows (one per AU and intensity: ``au``, ``intensity``,
  ``requested`` (0-5), ``read`` (the regressor's mean reading of that AU on the edits),
  ``read_sd``, ``read_input`` (its reading on the faces), ``mean_abs_change`` and
  ``changed_fraction``) and the edits by AU, (len(intensities), B, H, W, 3)."""
  faces = np.asarray(faces)
  if faces.dtype != np.uint8 or faces.ndim != 4:
    raise UserError(f"faces must be (B, H, W, 3) uint8, got {faces.dtype} {faces.shape}.")
  source_aus = np.asarray(source_aus, np.float32)
  if source_aus.shape != (len(faces), facs.NUM_AUS):
    raise UserError(f"source_aus must be ({len(faces)}, {facs.NUM_AUS}), got "
                    f"{source_aus.shape}.")
  unknown = [au for au in aus if au not in facs.AU_NAMES]
  if unknown:
    raise UserError(f"Not AUs: {', '.join(map(repr, unknown))}; the 17: "
                    f"{', '.join(facs.AU_NAMES)}.")
  read_input = np.asarray(read(faces), np.float64)
  rows, edits = [], {}
  for au in aus:
    column = facs.AU_NAMES.index(au)
    stack = []
    for intensity in intensities:
      edited = np.asarray(edit(faces, targets(source_aus, au, intensity, scale)))
      reading = np.asarray(read(edited), np.float64)[:, column]
      change, fraction = pixel_change(edited, faces)
      rows.append({"au": au, "intensity": float(intensity), "requested": intensity * scale,
                   "read": float(reading.mean()), "read_sd": float(reading.std()),
                   "read_input": float(read_input[:, column].mean()),
                   "mean_abs_change": change, "changed_fraction": fraction})
      stack.append(edited)
    edits[au] = np.stack(stack)
  return rows, edits


def summary(rows: Sequence[dict]) -> dict[str, float]:
  """Over all AUs: the mean |reading - requested| at each intensity above 0, the correlation
  of readings with requests (intensities above 0), and, at intensity 0, the largest mean pixel
  change and changed fraction (0 when intensity 0 gives the face back)."""
  out = {}
  active = [r for r in rows if r["intensity"] > 0]
  for intensity in sorted({r["intensity"] for r in active}):
    at = [r for r in active if r["intensity"] == intensity]
    out[f"au_error_at_{intensity:g}"] = float(np.mean([abs(r["read"] - r["requested"])
                                                       for r in at]))
  if len(active) > 1:
    out["read_vs_requested_correlation"] = float(np.corrcoef(
        [r["requested"] for r in active], [r["read"] for r in active])[0, 1])
  zero = [r for r in rows if r["intensity"] == 0]
  if zero:
    out["max_mean_abs_change_at_0"] = max(r["mean_abs_change"] for r in zero)
    out["max_changed_fraction_at_0"] = max(r["changed_fraction"] for r in zero)
  return out


def grid(face: np.ndarray, edits_of_face: dict[str, np.ndarray]) -> np.ndarray:
  """One face's sweep as rows (one per AU: the input, then each intensity), (R, C, H, W, 3)."""
  return np.stack([np.concatenate([face[None], stack]) for stack in edits_of_face.values()])
