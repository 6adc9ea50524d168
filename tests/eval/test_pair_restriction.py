"""The pairs evaluators' optional restriction to input / target expressions (``input_emotions``,
``target_emotions``), on hand-built sources whose pairs can be listed by hand."""

import types

import ml_collections
import numpy as np
import pytest

from fxs_jax.data import pipeline
from fxs_jax.errors import UserError
from fxs_jax.eval import harness
from fxs_jax.eval import suite


def _stills(identities: int, emotions=(0, 1, 2)):
  """Identity-major stills: identity i with each of ``emotions``; grey level = the index."""
  return [{"image": np.full((8, 8, 3), 10 * k, np.uint8), "identity": np.int64(i),
           "emotion": np.int64(e)}
          for k, (i, e) in enumerate((i, e) for i in range(identities) for e in emotions)]


def test_restricted_same_identity_pairs_are_the_input_faces_towards_the_target_expression():
  source = _stills(3)  # indices: identity i neutral 3i, happy 3i + 1, sad 3i + 2
  inputs, targets = harness.same_identity_pairs(source, input_emotions={0}, target_emotions={1})
  assert list(inputs) == [0, 3, 6] and list(targets) == [1, 4, 7]
  # limit counts the restricted inputs (the first two neutral faces), not the first examples.
  inputs, targets = harness.same_identity_pairs(source, limit=2, input_emotions={0},
                                                target_emotions={1})
  assert list(inputs) == [0, 3] and list(targets) == [1, 4]
  # Without a restriction: exactly the pairs of before (the same inputs and rng draws).
  plain = harness.same_identity_pairs(source, limit=4, seed=3)
  again = harness.same_identity_pairs(source, limit=4, seed=3, input_emotions=None,
                                      target_emotions=None)
  assert list(plain[0]) == [0, 1, 2, 3]
  np.testing.assert_array_equal(plain[1], again[1])
  # A target expression no identity shows with the inputs: no pairs.
  inputs, _ = harness.same_identity_pairs(source, input_emotions={0}, target_emotions={5})
  assert len(inputs) == 0


def test_restricted_unpaired_targets_request_only_the_target_expressions():
  source = [{"image": np.zeros((8, 8, 3), np.uint8), "identity": np.int64(k),
             "emotion": np.int64(e)} for k, e in enumerate([0, 1, 3, 0, 3, 2])]
  inputs, targets = harness.unpaired_targets(source, input_emotions={0}, target_emotions={3})
  assert list(inputs) == [0, 3]
  assert all(int(source[j]["emotion"]) == 3 for j in targets)
  inputs, targets, truth = harness.eval_pairs(source, input_emotions={0, 2},
                                              target_emotions={3})
  assert not truth and list(inputs) == [0, 3, 5]  # one face each: no same-identity pair


def test_restriction_reads_the_spec_and_names_a_bad_expression():
  spec = ml_collections.ConfigDict({"type": "pairs", "input_emotions": "neutral",
                                    "target_emotions": "happy, sad"})
  assert harness.restriction(spec, "pairs") == {"input_emotions": {0},
                                                "target_emotions": {1, 2}}
  assert harness.restriction(ml_collections.ConfigDict({"type": "pairs"}), "pairs") == {
      "input_emotions": None, "target_emotions": None}
  spec.target_emotions = ""
  assert harness.restriction(spec, "pairs")["target_emotions"] is None
  spec.input_emotions = "neutral,joyful"
  with pytest.raises(UserError, match=r"'joyful' in config.evals.pairs.input_emotions") as e:
    harness.restriction(spec, "pairs")
  assert "\n" not in str(e.value)


def test_the_pairs_evaluator_edits_only_the_restricted_pairs():
  """``suite.edit_pairs`` with a stub model that records what it is asked: 3 neutral faces, each
  towards its own happy face; the number of pairs recorded."""
  source = _stills(3)
  requested, shown = [], []

  def edit(images, landmarks=None, emotion=None):
    del landmarks
    shown.append(np.asarray(images))
    requested.extend(int(e) for e in emotion)
    return np.asarray(images)

  config = ml_collections.ConfigDict({
      "model_name": "stub", "model": {"image_size": 8},
      "eval": {"evaluators": False, "identity": False, "inception_weights": "",
               "batch_size": 2, "num_examples": 0, "pairs_seed": 0}})
  model = types.SimpleNamespace(predictions=("edit",), edit=edit,
                                config=ml_collections.ConfigDict({"model": {}}))
  recipe = types.SimpleNamespace(preprocess=pipeline.stills_preprocess(flip=False))
  ctx = suite.EvalContext(config=config, recipe=recipe, model=model, source=source)
  spec = ml_collections.ConfigDict({"type": "pairs", "predict": "edit", "target": "emotion",
                                    "input_emotions": "neutral", "target_emotions": "happy"})
  result = suite.edit_pairs("pairs", spec, ctx)
  assert result["num_pairs"] == 3
  assert requested == [1, 1, 1]
  inputs = np.concatenate(shown)[:, 0, 0, 0]  # the grey levels: examples 0, 3, 6
  np.testing.assert_allclose((inputs + 1) * 127.5, [0, 30, 60], atol=1e-3)
  rows = {(r["method"], r["metric"]): r for r in result["rows"]}
  assert rows["ground_truth", "ssim_vs_truth"]["n"] == 3
  spec.target_emotions = "angry"  # no identity shows it: skipped with the reason
  result = suite.edit_pairs("pairs", spec, ctx)
  assert result["num_pairs"] == 0 and "target emotions" in result["skipped"]["pairs"]
