"""Expression-transfer triples for real datasets: (source, target, truth) record indices.

Expression transfer puts the expression of a *source* face A onto a *target* face B, keeping B's
identity. A real dataset has an exact answer only where it photographed B showing that same
expression: the *truth*. These pure functions pick such triples from a dataset's metadata, one
record (a dict) per image, and return indices into it: the RaFD and CK+ builders' ``transfer_*``
configs (``datasets/rafd``, ``datasets/ck_plus``) pair their stills with them. SynthFaces renders
its triples instead (its ``transfer_*`` configs, ``fxs_jax.data.synth_faces_examples``), where the
truth is exact to the pixel, not just the same expression category.

Every record has ``subject`` (any sortable id), ``emotion`` (a name in
:data:`fxs_jax.facs.EMOTIONS`, any case, or its label; CK+ also ``None`` for an unlabelled frame)
and ``index`` (a non-negative int, unique: the image's position, which the triples return).

* :func:`rafd_pairs`: records also carry ``gaze`` and ``angle`` (camera). The source is a subject's
  photo with a non-neutral expression; the target is another subject's neutral photo with the same
  gaze and angle; the truth is that subject's photo with the source's expression, same gaze and
  angle.
* :func:`ckplus_pairs`: records also carry ``sequence`` (unique within a subject) and ``frame``
  (its position in the sequence). A labelled sequence goes neutral (first frame) -> peak (last
  frame). The source is a subject's peak frame; the target is another subject's neutral first
  frame of a sequence with the same emotion, the truth that sequence's peak frame.

Partners are drawn uniformly among the subjects whose target *and* truth exist (a source with
none is skipped), by an rng seeded with ``(seed, source index)``: deterministic in ``seed``, and a
source's partners do not change when unrelated records are added or reordered.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

from fxs_jax import facs
from fxs_jax.errors import DatasetError

__all__ = ["Triple", "rafd_pairs", "ckplus_pairs"]

NEUTRAL = facs.EMOTIONS.index("neutral")


class Triple(NamedTuple):
  """Record indices of one training / evaluation example."""

  source: int  # A showing the expression to transfer
  target: int  # B, neutral: the generator's input identity
  truth: int  # B showing A's expression: what the output should be


def _is_int(value) -> bool:
  return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def _label(emotion, allow_none: bool) -> int | None:
  """An emotion name (any case) or label -> its label in facs.EMOTIONS (None stays None)."""
  if emotion is None and allow_none:
    return None
  if _is_int(emotion) and 0 <= int(emotion) < facs.NUM_EMOTIONS:
    return int(emotion)
  if isinstance(emotion, str) and emotion.strip().lower() in facs.EMOTIONS:
    return facs.EMOTIONS.index(emotion.strip().lower())
  raise DatasetError(f"Unknown emotion {emotion!r} in the metadata: use a name in "
                     f"{list(facs.EMOTIONS)} or its index{' (or None)' if allow_none else ''}.")


def _checked(records: Iterable[Mapping[str, Any]], keys: tuple[str, ...],
             allow_none: bool) -> list[dict]:
  """The records with their emotion as a label; missing keys and bad / repeated indices raise."""
  out, seen = [], set()
  for n, record in enumerate(records):
    missing = [k for k in ("subject", "emotion", "index") + keys if k not in record]
    if missing:
      raise DatasetError(f"Metadata record {n} lacks {missing}: {dict(record)!r}.")
    index = record["index"]
    if not _is_int(index) or index < 0:
      raise DatasetError(f"Metadata record {n} has index {index!r}; indices are ints >= 0.")
    if int(index) in seen:
      raise DatasetError(f"Metadata index {int(index)} appears twice (record {n}).")
    seen.add(int(index))
    out.append({**record, "index": int(index),
                "emotion": _label(record["emotion"], allow_none)})
  return out


def _check_args(seed, partners) -> None:
  if not _is_int(seed) or seed < 0:
    raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
  if not _is_int(partners) or partners < 1:
    raise ValueError(f"partners must be an int >= 1, got {partners!r}.")


def _rng(seed: int, source_index: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([seed, source_index]))


def _draw(candidates: list, rng: np.random.Generator, partners: int) -> list:
  """Up to ``partners`` distinct candidates, uniformly."""
  if not candidates:
    return []
  picks = rng.choice(len(candidates), size=min(partners, len(candidates)), replace=False)
  return [candidates[int(i)] for i in picks]


def rafd_pairs(records: Iterable[Mapping[str, Any]], seed: int = 0,
               partners: int = 1) -> list[Triple]:
  """RaFD triples: s's photo with expression e (not neutral) -> t's neutral -> t's e photo.

  Target and truth share the source's ``gaze`` and ``angle``; t != s ranges over the subjects
  that have both photos (where a subject has several photos of one (emotion, gaze, angle), the
  lowest index is used). Each non-neutral photo is a source for up to ``partners`` distinct
  subjects; a source without any is skipped. Sorted by source index, then in drawing order.
  """
  _check_args(seed, partners)
  rows = _checked(records, ("gaze", "angle"), allow_none=False)
  photo = {}  # (subject, emotion, gaze, angle) -> the lowest index
  for r in sorted(rows, key=lambda r: r["index"]):
    photo.setdefault((r["subject"], r["emotion"], r["gaze"], r["angle"]), r["index"])
  subjects = sorted({r["subject"] for r in rows})
  triples = []
  for r in sorted(rows, key=lambda r: r["index"]):
    s, e, g, a = r["subject"], r["emotion"], r["gaze"], r["angle"]
    if e == NEUTRAL:
      continue
    candidates = [t for t in subjects
                  if t != s and (t, NEUTRAL, g, a) in photo and (t, e, g, a) in photo]
    for t in _draw(candidates, _rng(seed, r["index"]), partners):
      triples.append(Triple(r["index"], photo[(t, NEUTRAL, g, a)], photo[(t, e, g, a)]))
  return triples


def ckplus_pairs(records: Iterable[Mapping[str, Any]], seed: int = 0,
                 partners: int = 1) -> list[Triple]:
  """CK+ triples: s's peak frame of an e sequence -> t's first frame -> t's peak frame.

  A sequence (the records of one (subject, sequence)) is used when it has >= 2 frames and one
  non-neutral emotion (its frames carry that label or ``None``; CK+ labels only the peak): the
  first frame (lowest ``frame``) is its neutral, the last its peak. Each such sequence is a source
  for up to ``partners`` distinct subjects t != s that have a sequence of the same emotion (t's
  sequence drawn uniformly among them); a source without any is skipped. Sorted by source index,
  then in drawing order.
  """
  _check_args(seed, partners)
  rows = _checked(records, ("sequence", "frame"), allow_none=True)
  clips = {}
  for r in rows:
    clips.setdefault((r["subject"], r["sequence"]), []).append(r)
  usable = []  # (subject, emotion, first index, last index)
  for (subject, sequence), frames in clips.items():
    frames.sort(key=lambda r: r["frame"])
    frame_ids = [r["frame"] for r in frames]
    if len(set(frame_ids)) != len(frame_ids):
      raise DatasetError(f"CK+ subject {subject!r} sequence {sequence!r} repeats a frame number: "
                         f"{frame_ids}.")
    labels = {r["emotion"] for r in frames} - {None}
    if len(labels) > 1:
      raise DatasetError(f"CK+ subject {subject!r} sequence {sequence!r} has several emotions: "
                         f"{sorted(facs.EMOTIONS[i] for i in labels)}.")
    if len(frames) < 2 or not labels or labels == {NEUTRAL}:
      continue  # no neutral -> peak pair, or no expression to transfer
    usable.append((subject, labels.pop(), frames[0]["index"], frames[-1]["index"]))
  by_emotion = {}  # emotion -> subject -> [(first, last)] in peak-index order
  for subject, e, first, last in sorted(usable, key=lambda u: u[3]):
    by_emotion.setdefault(e, {}).setdefault(subject, []).append((first, last))
  triples = []
  for s, e, _, peak in sorted(usable, key=lambda u: u[3]):
    candidates = sorted(t for t in by_emotion[e] if t != s)
    rng = _rng(seed, peak)
    for t in _draw(candidates, rng, partners):
      seqs = by_emotion[e][t]
      first, last = seqs[int(rng.integers(len(seqs)))]
      triples.append(Triple(peak, first, last))
  return triples
