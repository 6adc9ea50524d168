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


class Job(NamedTuple):
  kind: str  # "stills" or "sequences"
  image_size: int
  identity_id: int
  variants: int = 1
  num_frames: int = 16


def png_bytes(img_HxWx3: np.ndarray) -> bytes:
  """PNG-encodes a uint8 image (TFDS' Image feature would need TensorFlow to encode arrays)."""
  buf = io.BytesIO()
  Image.fromarray(img_HxWx3).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def identity_rng(identity_id: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([SEED, identity_id]))


def identity_examples(job: Job, encode: bool = True) -> list[tuple[str, dict]]:
  """All (key, example) pairs of one identity, deterministic in ``job``.

  Stills: ``variants`` x the 8 emotions, each with freshly sampled AU intensities.
  Sequences: one neutral -> apex clip per non-neutral emotion.
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
  else:
    raise ValueError(f"SynthFaces kind must be 'stills' or 'sequences', got {job.kind!r}.")
  return examples
