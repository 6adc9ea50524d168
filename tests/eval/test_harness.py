"""The evaluation harness on SynthFaces smoke data with stub evaluators (known answers)."""

import numpy as np
import pytest

from fxs_jax.eval import harness


def _rows(result):
  return {(r["method"], r["metric"]): r["value"] for r in result["rows"]}


def test_pairs_share_identity_and_differ_in_expression(smoke_stills):
  source = smoke_stills.as_data_source("test")
  inputs, targets = harness.same_identity_pairs(source)
  assert len(inputs) == len(source)  # every identity shows 8 emotions
  for i, j in zip(inputs, targets):
    assert int(source[i]["identity"]) == int(source[j]["identity"])
    assert int(source[i]["emotion"]) != int(source[j]["emotion"])
  again = harness.same_identity_pairs(source)
  np.testing.assert_array_equal(targets, again[1])


def test_reference_rows_and_stub_evaluators(smoke_stills):
  source = smoke_stills.as_data_source("test")
  oracle_aus = {}

  def au_regressor(images):  # a perfect regressor for the images it has seen as targets
    return np.stack([oracle_aus.get(img.tobytes(), np.zeros(17)) for img in images])

  def classifier(images):  # always says "happy"
    logits = np.zeros((len(images), 8))
    logits[:, 1] = 1
    return logits

  def perfect_editor(inp, tgt):
    for img, aus in zip(tgt["image"], tgt["aus"]):
      oracle_aus[img.tobytes()] = aus
    return tgt["image"]

  evaluators = harness.Evaluators(au_regressor=au_regressor, expression_classifier=classifier)
  result = harness.evaluate_editor(perfect_editor, source, evaluators, batch_size=4)
  rows = _rows(result)
  assert result["num_pairs"] == len(source)
  # An editor that outputs the truth scores exactly like the ground-truth row.
  for metric in ("ssim_vs_truth", "ssim_eyes", "ssim_mouth", "au_mae", "expression_accuracy"):
    assert rows["model", metric] == pytest.approx(rows["ground_truth", metric])
  assert rows["ground_truth", "ssim_vs_truth"] == pytest.approx(1.0, abs=1e-5)
  assert rows["ground_truth", "au_mae"] == pytest.approx(0.0)
  assert rows["copy_input", "ssim_vs_truth"] < 0.999
  for metric in ("psnr_vs_truth", "psnr_eyes", "psnr_mouth"):  # no error: infinite PSNR
    assert rows["ground_truth", metric] == rows["model", metric] == np.inf
  assert np.isfinite(rows["copy_input", "psnr_vs_truth"])
  # The artefact measures of the truth itself are exactly 0; the input differs from the truth.
  for metric in ("checkerboard_rms", "seam_strength", "colour_shift"):
    assert rows["ground_truth", metric] == rows["model", metric] == 0.0
    assert rows["copy_input", metric] > 0.0
  # The constant classifier is right exactly on the pairs whose target is "happy".
  targets = harness.same_identity_pairs(source)[1]
  happy = np.mean([int(source[int(j)]["emotion"]) == 1 for j in targets])
  assert rows["model", "expression_accuracy"] == pytest.approx(happy)
  assert "| ssim_vs_truth |" in harness.format_table(result)


def test_box_psnr_is_that_of_the_mean_box_mse_so_an_unchanged_box_stays_finite():
  rng = np.random.default_rng(0)
  truth = rng.uniform(-0.8, 0.8, (2, 32, 32, 3)).astype(np.float32)
  inputs = truth.copy()
  inputs[1] += 0.1  # pair 0: the input is the truth; pair 1: +0.05 everywhere in [0, 1] units
  landmarks = np.tile(rng.uniform(8, 24, (1, 68, 2)).astype(np.float32), (2, 1, 1))
  pairs = [({"image": inputs, "landmarks": landmarks}, {"image": truth, "landmarks": landmarks})]
  result = harness.evaluate_batches(lambda inp, tgt: tgt["image"], pairs, harness.Evaluators())
  rows = _rows(result)
  want = -10 * np.log10((0.0 + 0.05 ** 2) / 2)  # 29.03 dB: PSNR of the two boxes' mean MSE
  for region in ("eyes", "mouth"):
    assert rows["copy_input", f"psnr_{region}"] == pytest.approx(want, rel=1e-5)
    assert rows["model", f"psnr_{region}"] == rows["ground_truth", f"psnr_{region}"] == np.inf
  assert rows["copy_input", "psnr_vs_truth"] == np.inf  # whole face: the per-pair mean, as papers


def test_unpaired_data_measure_what_needs_no_truth_and_skip_the_rest():
  # Six faces, one photo each (no identity shows two expressions, as in AU-labelled photo sets).
  # Photo k is the constant grey level k / 10, so the stub judges can read which photo they see.
  rng = np.random.default_rng(1)
  emotions = [0, 1, 1, 2, 3, 3]
  aus = rng.uniform(0, 5, (6, 17)).astype(np.float32)
  source = [{"image": np.full((16, 16, 3), 10 * (k + 1), np.uint8), "identity": np.int32(k),
             "emotion": np.int64(e), "aus": aus[k]} for k, e in enumerate(emotions)]

  def photo_of(images):  # [-1, 1] images -> the photo index they show
    return np.rint((np.asarray(images)[:, 0, 0, 0] + 1) * 127.5 / 10 - 1).astype(int)

  def classifier(images):
    return np.eye(8)[np.asarray(emotions)[photo_of(images)]]

  evaluators = harness.Evaluators(au_regressor=lambda images: aus[photo_of(images)],
                                  expression_classifier=classifier)
  result = harness.evaluate_editor(lambda inp, tgt: tgt["image"], source, evaluators,
                                   batch_size=4)
  rows = _rows(result)
  inputs, targets = harness.unpaired_targets(source)
  assert result["num_pairs"] == 6 and list(inputs) == list(range(6))
  assert all(emotions[i] != emotions[j] for i, j in zip(inputs, targets))
  # An editor that returns the requested photo is read as the request; copying never is.
  assert rows["model", "expression_accuracy"] == rows["target_example", "expression_accuracy"] == 1
  assert rows["copy_input", "expression_accuracy"] == 0
  assert rows["model", "au_mae"] == 0
  by_hand = np.mean([np.abs(aus[i] - aus[j]).mean() for i, j in zip(inputs, targets)])
  assert rows["copy_input", "au_mae"] == pytest.approx(by_hand, rel=1e-6)
  # Nothing that needs the true target is reported; the skip says why.
  assert not any(metric.startswith(("ssim", "psnr")) for _, metric in rows)
  assert not any(method == "ground_truth" for method, _ in rows)
  (reason,) = [v for k, v in result["skipped"].items() if "ssim_vs_truth" in k]
  assert "no true targets" in reason and "\n" not in reason


def test_unlabelled_targets_are_not_counted_in_the_accuracy():
  rng = np.random.default_rng(2)
  truth = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
  emotions = np.array([1, -1, 2, -1])  # two unlabelled frames (CK+'s sequences without a label)
  pairs = [({"image": truth}, {"image": truth, "emotion": emotions})]
  always_happy = lambda images: np.eye(8)[np.ones(len(images), int)]  # pylint: disable=unnecessary-lambda-assignment
  result = harness.evaluate_batches(lambda inp, tgt: tgt["image"], pairs,
                                    harness.Evaluators(expression_classifier=always_happy))
  row = next(r for r in result["rows"] if r["method"] == "model"
             and r["metric"] == "expression_accuracy")
  assert row["value"] == 0.5 and row["n"] == 2  # right on the happy one of the two labelled
