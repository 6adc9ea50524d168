"""Same-identity target pairs: an example with the exact truth of an edit towards another one.

On SynthFaces every identity is rendered with several expressions, so editing example ``i``
towards the expression of example ``j`` of the same identity has an exact answer: ``j``'s image.
The held-out evaluation pairs examples this way (``fxs_jax.eval.harness``); an editing recipe
can also train on such pairs (``model.lambda_truth``: an L1 term to the true target, a SynthFaces
addition to the papers, which train unpaired).
"""

from __future__ import annotations

import numpy as np

from fxs_jax.errors import UserError

# The partner's entries a pair carries, each as ``"target_" + name``.
TARGET_ENTRIES = ("image", "landmarks", "aus", "emotion")


def same_identity_partners(source) -> list[np.ndarray]:
  """For each example of ``source``, the indices of the examples of its identity with another
  expression (empty where there are none). Reads every example once."""
  keys = [(int(source[i]["identity"]), int(source[i]["emotion"])) for i in range(len(source))]
  by_identity: dict[int, list[int]] = {}
  for i, (identity, _) in enumerate(keys):
    by_identity.setdefault(identity, []).append(i)
  return [np.asarray([j for j in by_identity[identity] if keys[j][1] != emotion], np.int64)
          for identity, emotion in keys]


class SameIdentityTargets:
  """Random-access pairs over ``source``: element ``k`` is one example plus ``target_image``,
  ``target_landmarks``, ``target_aus`` and ``target_emotion`` (those it has) of one
  same-identity example with another expression. Every (example, partner) pair appears once,
  example-major, so a shuffled pass over the pairs visits each example as often as it has
  partners."""

  def __init__(self, source, what: str = "model.lambda_truth"):
    first = source[0] if len(source) else {}
    missing = [k for k in ("identity", "emotion", "image") if k not in first]
    if missing:
      raise UserError(f"{what} > 0 trains on same-identity pairs, but this dataset's examples "
                      f"have no {', '.join(missing)}: use SynthFaces or set "
                      f"--config.{what}=0.")
    self._source = source
    partners = same_identity_partners(source)
    self._pairs = np.asarray([(i, j) for i, js in enumerate(partners) for j in js],
                             np.int64).reshape(-1, 2)
    if not len(self._pairs):
      raise UserError(f"{what} > 0 needs identities shown with two or more expressions; "
                      f"this split has none: set --config.{what}=0.")

  def __len__(self) -> int:
    return len(self._pairs)

  def pair(self, k: int) -> tuple[int, int]:
    """(example index, partner index) of element ``k``."""
    i, j = self._pairs[k]
    return int(i), int(j)

  def __getitem__(self, k: int) -> dict:
    i, j = self.pair(k)
    example, partner = dict(self._source[i]), self._source[j]
    for name in TARGET_ENTRIES:
      if name in partner:
        example["target_" + name] = partner[name]
    return example
