"""Two-domain examples: an image of expression domain A beside an image of domain B.

A two-domain translator (CycleGAN) learns from one set of faces showing expression A (e.g.
neutral) and one showing expression B (e.g. happy), not from pairs. Its official loader
(``data/unaligned_dataset.py``) takes the A images in order and draws each B image at random; here
an element is one (A, B) combination of the split, so that a shuffled pass over the elements draws
the two independently, with random access as the input pipeline needs (``len`` and ``[i]``).

With ``same_identity=True`` the B image is instead the same face as the A image (SynthFaces renders
every identity with every expression): then each is the other's exact translation, the pairing
that ``model.lambda_truth`` trains with (not in the paper, which has no such pairs).
"""

from __future__ import annotations

import numpy as np

from fxs_jax import facs
from fxs_jax.errors import UserError

# The entries of each side an element carries: A's under their own names, B's with this suffix.
ENTRIES = ("image", "emotion", "identity")
B_SUFFIX = "_b"


class DomainPairs:
  """Random-access (A, B) elements over ``source``: A = an example whose ``emotion`` is
  ``label_a``, B = one whose emotion is ``label_b`` (its ``image``, ``emotion`` and ``identity``
  as ``image_b``, ``emotion_b``, ``identity_b``).

  Unpaired (default): every (A, B) combination once, in diagonals: with ``L = lcm(nA, nB)`` and
  ``d, j = divmod(k, L)``, element ``k`` is A number ``j mod nA`` and B number
  ``(j + d + 1) mod nB`` (the ``gcd(nA, nB)`` diagonals are disjoint, and fill the nA x nB
  combinations). So the first ``epoch = max(nA, nB)`` elements show every A image and every B image
  once, as one epoch of the official loader does, each A beside a B of another rank (on an
  identity-major split, another face). ``same_identity``: every (A, B) combination of one
  identity, identity by identity (``epoch``: all of them)."""

  def __init__(self, source, label_a: int, label_b: int, same_identity: bool = False,
               split: str = "this", what: str = "model.lambda_truth"):
    first = source[0] if len(source) else {}
    needed = ("image", "emotion") + (("identity",) if same_identity else ())
    missing = [k for k in needed if k not in first]
    if missing:
      raise UserError(f"Two-domain training reads expression labels; the {split} split's examples "
                      f"have no {', '.join(missing)}" + (f": set --config.{what}=0."
                                                         if same_identity else "."))
    self._source = source
    emotions, identities = [], []
    for i in range(len(source)):
      example = source[i]
      emotions.append(int(example["emotion"]))
      identities.append(int(example["identity"]) if "identity" in example else -1)
    emotions, identities = np.asarray(emotions), np.asarray(identities)
    a, b = np.flatnonzero(emotions == label_a), np.flatnonzero(emotions == label_b)
    for label, found in ((label_a, a), (label_b, b)):
      if not len(found):
        raise UserError(f"The {split} split has no {facs.EMOTIONS[label]} example: choose "
                        "model.domain_a / model.domain_b among the expressions it shows.")
    if same_identity:
      pairs = [(i, j) for i in a for j in b if identities[i] == identities[j]]
      if not pairs:
        raise UserError(f"{what} > 0 pairs each {facs.EMOTIONS[label_a]} face with the same "
                        f"face {facs.EMOTIONS[label_b]}; the {split} split shows no identity with "
                        f"both: set --config.{what}=0.")
      self._pairs = np.asarray(pairs, np.int64)
      self.epoch = len(pairs)
    else:
      d, j = np.divmod(np.arange(len(a) * len(b)), np.lcm(len(a), len(b)))
      self._pairs = np.stack([a[j % len(a)], b[(j + d + 1) % len(b)]], axis=1)
      self.epoch = max(len(a), len(b))
    self.num_a, self.num_b = len(a), len(b)

  def __len__(self) -> int:
    return len(self._pairs)

  def pair(self, k: int) -> tuple[int, int]:
    """(A example index, B example index) of element ``k``."""
    i, j = self._pairs[k]
    return int(i), int(j)

  def __getitem__(self, k: int) -> dict:
    i, j = self.pair(k)
    example_a, example_b = self._source[i], self._source[j]
    element = {name: example_a[name] for name in ENTRIES if name in example_a}
    element.update({name + B_SUFFIX: example_b[name] for name in ENTRIES if name in example_b})
    return element
