"""The examples SynthFaces' TFDS builder writes, one identity at a time.

Kept in the package (not in the builder file) so that worker processes can unpickle the job and
tests can regenerate any example independently of TFDS.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image

from fxs_jax import facs
from fxs_jax.data import synth_faces

SEED = 20261124
KINDS = ("stills", "sequences", "transfer")


class Job(NamedTuple):
  kind: str  # one of KINDS
  image_size: int
  identity_id: int
  variants: int = 1
  num_frames: int = 16
  # transfer: the [start, stop) identity ids of identity_id's split, where partners are drawn.
  split_ids: tuple[int, int] | None = None


def png_bytes(img_HxWx3: np.ndarray) -> bytes:
  """PNG-encodes a uint8 image (TFDS' Image feature would need TensorFlow to encode arrays)."""
  buf = io.BytesIO()
  Image.fromarray(img_HxWx3).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def identity_rng(identity_id: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([SEED, identity_id]))


def identity_face(identity_id: int) -> synth_faces.Identity:
  """The face of identity ``identity_id``: the first draw of its rng, the same in every kind."""
  return synth_faces.sample_identity(identity_rng(identity_id))


def transfer_partner(identity_id: int, split_ids: tuple[int, int] | None,
                     rng: np.random.Generator) -> int:
  """A partner identity in ``[start, stop) = split_ids`` other than ``identity_id``, uniformly.

  One draw of ``rng`` (an integer below ``stop - start - 1``), so the choice is fixed by the
  source identity's rng stream.
  """
  if split_ids is None:
    raise ValueError("Job.split_ids (the [start, stop) ids of the split) is needed for the "
                     "'transfer' kind: partners are drawn from the source's split.")
  start, stop = (int(v) for v in split_ids)
  if not start <= identity_id < stop:
    raise ValueError(f"identity {identity_id} lies outside its split's ids [{start}, {stop}).")
  if stop - start < 2:
    raise ValueError(f"A transfer split needs >= 2 identities (a partner other than the source), "
                     f"got ids [{start}, {stop}).")
  k = start + int(rng.integers(stop - start - 1))
  return k if k < identity_id else k + 1


def identity_examples(job: Job, encode: bool = True) -> list[tuple[str, dict]]:
  """All (key, example) pairs of one identity, deterministic in ``job``.

  Stills: ``variants`` x the 8 emotions, each with freshly sampled AU intensities.
  Sequences: one neutral -> apex clip per non-neutral emotion.
  Transfer: identity A = ``identity_id`` is the *source*; for each non-neutral emotion, A shows
  sampled AUs (``source_image``), a partner B != A from ``job.split_ids`` is shown neutral
  (``target_image``) and the exact truth is B rendered with A's very AUs (``image``). The
  example's ``identity`` is B (the output's), ``source_identity`` is A; see
  :func:`transfer_partner` and :func:`identity_face`.
  With ``encode=False`` images stay uint8 arrays (for tests and in-memory use).
  """
  encode_fn = png_bytes if encode else (lambda x: x)
  rng = identity_rng(job.identity_id)
  identity = synth_faces.sample_identity(rng)
  examples = []
  if job.kind == "stills":
    for variant in range(job.variants):
      for label, emotion in enumerate(facs.EMOTIONS):
        aus = synth_faces.sample_emotion_aus(emotion, rng).astype(np.float32)
        img, lms = synth_faces.render(identity, aus, job.image_size)
        examples.append((f"{job.identity_id:06d}_{variant:02d}_{label}", {
            "image": encode_fn(img), "landmarks": lms.astype(np.float32), "aus": aus,
            "emotion": label, "identity": job.identity_id,
        }))
  elif job.kind == "sequences":
    for label, emotion in enumerate(facs.EMOTIONS):
      if emotion == "neutral":
        continue
      apex = synth_faces.sample_emotion_aus(emotion, rng).astype(np.float32)
      frames, lms, aus = synth_faces.render_sequence(identity, apex, job.num_frames, job.image_size)
      examples.append((f"{job.identity_id:06d}_{label}", {
          "frames": [encode_fn(f) for f in frames], "landmarks": lms.astype(np.float32),
          "aus": aus.astype(np.float32), "emotion": label, "identity": job.identity_id,
      }))
  elif job.kind == "transfer":
    # B is drawn per emotion, after that emotion's AUs, from A's own rng: A's stream alone fixes
    # the example. B's face is B's first draw (as in every kind), and neutral is all-zero AUs
    # (what sample_emotion_aus("neutral") gives), so the target is B's neutral still.
    neutral = np.zeros(facs.NUM_AUS, np.float32)
    for label, emotion in enumerate(facs.EMOTIONS):
      if emotion == "neutral":
        continue
      aus = synth_faces.sample_emotion_aus(emotion, rng).astype(np.float32)
      partner = transfer_partner(job.identity_id, job.split_ids, rng)
      other = identity_face(partner)
      src_img, src_lms = synth_faces.render(identity, aus, job.image_size)
      tgt_img, tgt_lms = synth_faces.render(other, neutral, job.image_size)
      img, lms = synth_faces.render(other, aus, job.image_size)
      examples.append((f"{job.identity_id:06d}_{label}", {
          "source_image": encode_fn(src_img), "source_landmarks": src_lms.astype(np.float32),
          "target_image": encode_fn(tgt_img), "target_landmarks": tgt_lms.astype(np.float32),
          "image": encode_fn(img), "landmarks": lms.astype(np.float32), "aus": aus,
          "emotion": label, "identity": partner, "source_identity": job.identity_id,
      }))
  else:
    raise ValueError(f"SynthFaces kind must be one of {KINDS}, got {job.kind!r}.")
  return examples
