"""Subject splits of the datasets built from a download (fxs_jax.data.manual_folders): train,
validation carved out of train, and test exactly as the rule without validation gave it."""

import math
from types import SimpleNamespace

import pytest

from fxs_jax.data import manual_folders


def _split(ids, test_fraction=0.15, validation_fraction=0.15, per_split=1, fixed=None):
  """({split: sorted subject ids}, counts) of one example per id (``fixed``: {id: split})."""
  examples = [SimpleNamespace(identity=i, split=(fixed or {}).get(i)) for i in ids]
  splits, counts = manual_folders.split_by_subject(examples, test_fraction, validation_fraction,
                                                   per_split)
  return {name: sorted({e.identity for e in rows}) for name, rows in splits.items()}, counts


@pytest.mark.parametrize("ids,expected", [
    # RaFD's dummy models, CK+'s dummy subjects, MUG's / Oulu-CASIA's three (hand-listed)
    ([1, 2, 3, 4], {"train": [1, 2], "validation": [3], "test": [4]}),
    ([12, 5, 11, 6, 10], {"train": [5, 6, 10], "validation": [11], "test": [12]}),
    ([1, 2, 3], {"train": [1], "validation": [2], "test": [3]}),
    # RaFD's 67 models: 11 test (ceil(10.05)), 11 validation, 45 train
    (range(1, 68), {"train": list(range(1, 46)), "validation": list(range(46, 57)),
                    "test": list(range(57, 68))}),
])
def test_validation_is_carved_from_the_end_of_train(ids, expected):
  splits, counts = _split(ids)
  assert splits == expected
  assert counts == {name: len(v) for name, v in expected.items()}


def test_test_subjects_are_the_rule_without_validation():
  """For 1-300 subjects and several fractions, test is the last max(1, ceil(f n)) of the sorted
  ids (none for one subject), the rule without validation; the three are disjoint and
  cover every subject; validation has a subject whenever train has two (from 3 subjects on at
  0.15)."""
  for fraction in (0.1, 0.15, 0.2, 0.5):
    for n in range(1, 301):
      ids = list(range(100, 100 + n))
      splits, _ = _split(ids, fraction, fraction)
      num_test = 0 if n == 1 else min(max(1, math.ceil(fraction * n)), n - 1)
      assert splits["test"] == ids[n - num_test:], (fraction, n)
      parts = [set(splits.get(name, ())) for name in ("train", "validation", "test")]
      assert sum(map(len, parts)) == n and set().union(*parts) == set(ids)
      assert ("validation" in splits) == (n - num_test >= 2)  # room for one, train keeps one
      assert splits["train"]  # train keeps a subject


def test_too_few_subjects_leave_validation_out():
  assert _split([1, 2]) == ({"train": [1], "test": [2]},
                            {"train": 1, "validation": 0, "test": 1})
  # transfer configs: two subjects per split (a triple pairs two), so 4 subjects are too few
  assert _split([1, 2, 3, 4], 0.5, 0.5, per_split=2)[0] == {"train": [1, 2], "test": [3, 4]}
  assert _split(range(1, 9), 0.5, 0.5, per_split=2)[0] == {
      "train": [1, 2], "validation": [3, 4], "test": [5, 6, 7, 8]}
  assert "validation" not in _split(range(10), validation_fraction=0)[0]


def test_a_downloads_own_split_keeps_its_test_and_carves_validation_from_its_train():
  fixed = {0: "train", 1: "train", 2: "train", 3: "test", 4: "test", 5: "train", 6: "train"}
  splits, counts = _split(range(7), fixed=fixed)
  # ceil(0.15 x 7) = 2 of the train subjects (the last ones, 5 and 6); test as the download has it
  assert splits == {"train": [0, 1, 2], "validation": [5, 6], "test": [3, 4]}
  assert counts == {"train": 3, "validation": 2, "test": 2}
  # a subject in both of the download's splits stays in both, never in validation
  examples = [SimpleNamespace(identity=i, split=s)
              for i, s in ((0, "train"), (1, "train"), (2, "train"), (2, "test"), (3, "test"))]
  splits, _ = manual_folders.split_by_subject(examples, 0.15, 0.15)
  assert {name: [e.identity for e in rows] for name, rows in splits.items()} == {
      "train": [0, 2], "validation": [1], "test": [2, 3]}
