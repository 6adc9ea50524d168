"""Same-identity target pairs for paired training (``model.lambda_truth``)."""

import numpy as np
import pytest

from fxs_jax.data import augment
from fxs_jax.data import target_pairs
from fxs_jax.errors import UserError
from fxs_jax.recipes.editing import EditingRecipe


def _source():
  """Identity 0 shows emotions 0, 1, 2; identity 1 shows 0, 0 (no partner); identity 2: 3, 5."""
  rows = [(0, 0), (0, 1), (1, 0), (0, 2), (1, 0), (2, 3), (2, 5)]
  return [{"identity": i, "emotion": e, "aus": np.full(17, k, np.float32),
           "image": np.full((4, 6, 3), k, np.uint8), "landmarks": np.full((68, 2), k, np.float32)}
          for k, (i, e) in enumerate(rows)]


def test_partners_by_hand():
  partners = target_pairs.same_identity_partners(_source())
  assert [p.tolist() for p in partners] == [[1, 3], [0, 3], [], [0, 1], [], [6], [5]]


def test_pairs_carry_the_partners_entries():
  source = _source()
  pairs = target_pairs.SameIdentityTargets(source)
  assert len(pairs) == 2 + 2 + 2 + 1 + 1
  seen = set()
  for k in range(len(pairs)):
    i, j = pairs.pair(k)
    seen.add((i, j))
    ex = pairs[k]
    assert ex["identity"] == source[j]["identity"] and ex["emotion"] != ex["target_emotion"]
    assert ex["target_emotion"] == source[j]["emotion"]
    np.testing.assert_array_equal(ex["image"], source[i]["image"])
    for name in ("image", "aus", "landmarks"):
      np.testing.assert_array_equal(ex["target_" + name], source[j][name])
  assert seen == {(0, 1), (0, 3), (1, 0), (1, 3), (3, 0), (3, 1), (5, 6), (6, 5)}


def test_one_flip_mirrors_input_and_target_together():
  ex = target_pairs.SameIdentityTargets(_source())[0]
  ex["image"] = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
  ex["target_image"] = ex["image"][::-1].copy()
  ex["target_landmarks"] = np.tile([[1.0, 2.0]], (68, 1)).astype(np.float32)
  out = augment.preprocess(ex, EditingRecipe.fields, flip=True)
  np.testing.assert_allclose(out["image"], augment.to_signed_unit(ex["image"][:, ::-1]))
  np.testing.assert_allclose(out["target_image"],
                             augment.to_signed_unit(ex["target_image"][:, ::-1]))
  np.testing.assert_allclose(out["target_landmarks"][:, 0], 6 - 1 - 1.0)


def test_missing_labels_and_partnerless_splits_are_explained():
  no_identity = [{k: v for k, v in ex.items() if k != "identity"} for ex in _source()]
  with pytest.raises(UserError, match="no identity.*lambda_truth=0"):
    target_pairs.SameIdentityTargets(no_identity)
  with pytest.raises(UserError, match="two or more expressions"):
    target_pairs.SameIdentityTargets([_source()[2], _source()[4]])


def test_smoke_split_pairs_every_example_with_its_other_expressions(smoke_stills):
  source = smoke_stills.as_data_source("test")
  pairs = target_pairs.SameIdentityTargets(source)
  counts = np.bincount([pairs.pair(k)[0] for k in range(len(pairs))], minlength=len(source))
  assert np.all(counts == 7)  # each identity shows the 8 emotions once
