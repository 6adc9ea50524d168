"""The headline tables from committed per-seed results, and the script that collects them.

The fixtures in ``tests/fixtures/results/toy_run/test/`` are written by hand; every expected
cell below is computed by hand from them.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "results"
sys.path.insert(0, str(ROOT / "experiments"))
try:
  import collect_result  # pylint: disable=g-import-not-at-top
  import result_tables  # pylint: disable=g-import-not-at-top
finally:
  sys.path.remove(str(ROOT / "experiments"))

from fxs_jax.errors import UserError  # pylint: disable=g-import-not-at-top


def _copy_fixtures(tmp_path, seeds=(0, 1, 2)):
  folder = tmp_path / "toy_run" / "test"
  folder.mkdir(parents=True)
  for seed in seeds:
    shutil.copy(FIXTURES / "toy_run" / "test" / f"seed{seed}.json", folder)
  return folder


def test_three_seeds_give_mean_and_sample_sd_with_references_once():
  # model: SSIM 0.8, 0.9, 1.0 -> mean 0.9, sd sqrt((0.01 + 0 + 0.01) / 2) = 0.1;
  # PSNR 30, 31, 35 -> 32, sd sqrt((4 + 1 + 9) / 2) = sqrt(7) = 2.6458 -> 2.65;
  # accuracy 0.5 three times -> sd 0; AU error 0.3, 0.2, 0.4 -> 0.3, sd 0.1.
  # colour_shift is not a headline metric: no column.
  expected = [
      "| method | SSIM vs truth | PSNR vs truth (dB) | expression accuracy | AU error (0-5) |",
      "| --- | --- | --- | --- | --- |",
      "| Toy (3 seeds) | 0.900 ± 0.100 | 32.00 ± 2.65 | 0.500 ± 0.000 | 0.300 ± 0.100 |",
      "| copy the input | 0.928 | 31.25 | 0.000 | 1.125 |",
      "| ground truth | 1.000 | inf | 1.000 | 0.175 |",
      "",
      "Test split, 4 held-out pairs of synth_faces/stills_64; step 1100; judges: AU regressor "
      "synthfaces64-1, expression classifier synthfaces64-1; 3 training seeds (0, 1, 2), mean ± "
      "sample sd; trained at ttt0001, ttt0002; evaluated at eee0001; from "
      "`tests/fixtures/results/toy_run/test/`.",
  ]
  assert result_tables.markdown("toy_run", "test", FIXTURES, title="Toy").split("\n") == expected


def test_one_seed_is_its_value(tmp_path):
  _copy_fixtures(tmp_path, seeds=(2,))
  table = result_tables.markdown("toy_run", "test", tmp_path, title="Toy")
  assert "| Toy (1 seed) | 1.000 | 35.00 | 0.500 | 0.400 |" in table
  assert ("1 training seed (2) (fewer than the 3 seeds planned: the 2-core CPU's time budget); "
          "trained at ttt0002;") in table
  assert "±" not in table


def test_a_run_without_results_is_one_line(tmp_path):
  assert (result_tables.markdown("ganimation_demo", "test", tmp_path)
          == "GANimation `:demo`: not yet measured with the fixed judges on the test split.")


def test_references_that_differ_between_seeds_are_refused(tmp_path):
  folder = _copy_fixtures(tmp_path)
  # seed1's copy-the-input SSIM is 0.928 + 4e-10 (within 1e-6: accepted); move seed2's by 2e-6.
  text = (folder / "seed2.json").read_text()
  (folder / "seed2.json").write_text(text.replace('"value": 0.928}', '"value": 0.928002}'))
  with pytest.raises(ValueError, match="copy_input / ssim_vs_truth differs between seed 0"):
    result_tables.markdown("toy_run", "test", tmp_path)


def test_a_file_whose_seed_is_not_its_name_is_refused(tmp_path):
  folder = _copy_fixtures(tmp_path, seeds=(0,))
  (folder / "seed0.json").rename(folder / "seed5.json")
  with pytest.raises(ValueError, match="seed 0; its path says 'test', seed 5"):
    result_tables.load("toy_run", "test", tmp_path)


def test_transfer_and_frame_references_are_named_for_what_they_copy(tmp_path):
  folder = _copy_fixtures(tmp_path, seeds=(0,))
  for dataset, label in (("synth_faces/transfer_64", "copy the target"),
                         ("synth_faces/sequences_64", "copy frame 0")):
    result = json.loads((folder / "seed0.json").read_text())
    result["dataset"] = dataset
    (folder / "seed0.json").write_text(json.dumps(result))
    assert f"| {label} | 0.928 |" in result_tables.markdown("toy_run", "test", tmp_path)


def _as_run(tmp_path, run, seeds, change=None):
  """The hand-written fixtures' seeds as run ``run``'s files under tmp_path (``change`` edits
  each file's text)."""
  folder = tmp_path / run / "test"
  folder.mkdir(parents=True)
  for seed in seeds:
    text = (FIXTURES / "toy_run" / "test" / f"seed{seed}.json").read_text()
    text = text.replace('"run": "toy_run"', f'"run": "{run}"')
    (folder / f"seed{seed}.json").write_text(change(text) if change else text)


def test_headline_table_puts_demo_bundle_and_references_side_by_side(tmp_path, monkeypatch):
  # `:demo` = the three fixtures (SSIM 0.9 ± 0.1, accuracy 0.5 ± 0, as in the first test);
  # bundle = seed 2 alone (SSIM 1.0, accuracy 0.5); references from the fixtures' rows.
  _as_run(tmp_path, "toy_demo", (0, 1, 2))
  _as_run(tmp_path, "toy_bundle", (2,))
  monkeypatch.setattr(result_tables, "HEADLINE", (
      ("Toy", "docs/toy.md", "toy_demo", "toy_bundle", ("ssim_vs_truth", "expression_accuracy")),
      ("Other", "docs/other.md", "other_demo", "other_bundle", ("ssim_vs_truth",))))
  lines = result_tables.headline(tmp_path).split("\n")
  assert lines[2:5] == [
      "| [Toy](docs/toy.md) | SSIM vs truth | 0.900 ± 0.100 (3 seeds) | 1.000 | 0.928 | 1.000 |",
      "|  | expression accuracy | 0.500 ± 0.000 (3 seeds) | 0.500 | 0.000 | 1.000 |",
      "| [Other](docs/other.md) | SSIM vs truth | not yet measured | not yet measured | - | - |"]

  _as_run(tmp_path, "other_demo", (1,))  # one seed: the cell says so
  lines = result_tables.headline(tmp_path).split("\n")
  assert lines[4].startswith("| [Other](docs/other.md) | SSIM vs truth | 0.900 (1 seed) | ")


def test_headline_refuses_references_that_differ_between_demo_and_bundle(tmp_path, monkeypatch):
  _as_run(tmp_path, "toy_demo", (0,))
  _as_run(tmp_path, "toy_bundle", (0,),
          change=lambda text: text.replace('"value": 0.928}', '"value": 0.93}'))
  monkeypatch.setattr(result_tables, "HEADLINE", (
      ("Toy", "docs/toy.md", "toy_demo", "toy_bundle", ("ssim_vs_truth",)),))
  with pytest.raises(ValueError, match="copy_input / ssim_vs_truth differs between toy_demo"):
    result_tables.headline(tmp_path)


# collect_result.py: a workdir's eval.json + provenance.json -> results/<name>/<split>/seedN.json


def _workdir(tmp_path, seed=0, **changes):
  """A workdir as --mode=train and --mode=eval leave it, from the hand-written fixture."""
  result = json.loads((FIXTURES / "toy_run" / "test" / f"seed{seed}.json").read_text())
  training = result.pop("training")["provenance"]
  del result["run"]
  result.update(changes)
  workdir = tmp_path / f"run{seed}"
  workdir.mkdir()
  (workdir / "eval.json").write_text(json.dumps(result))
  (workdir / "provenance.json").write_text(json.dumps(training))
  return workdir


def test_collect_writes_eval_json_plus_the_training_record(tmp_path):
  out = tmp_path / "results"
  workdir = _workdir(tmp_path)
  path, status = collect_result.collect(workdir, "toy_run", train_seconds=712.0, results_dir=out)
  assert (path, status) == (out / "toy_run" / "test" / "seed0.json", "written")
  written = json.loads(path.read_text())
  assert written == {**json.loads((workdir / "eval.json").read_text()), "run": "toy_run",
                     "training": {"provenance": json.loads((workdir / "provenance.json")
                                                           .read_text()),
                                  "train_seconds": 712.0}}
  assert collect_result.collect(workdir, "toy_run", train_seconds=712.0,
                                results_dir=out)[1] == "unchanged"
  assert [p.name for p in (out / "toy_run" / "test").iterdir()] == ["seed0.json"]  # no temp


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("split"), "has no 'split'"),
    (lambda r: r.pop("seed"), "has no 'seed'"),
    (lambda r: r.pop("provenance"), "has no 'provenance'"),
    (lambda r: r["evaluators"]["au_regressor"].pop("version"), "au_regressor judge has no version"),
    (lambda r: r.update(split="validation"), "evaluated on the 'validation' split, not 'test'"),
    (lambda r: r["provenance"].update(dirty=True), "uncommitted changes"),
    (lambda r: r["provenance"].update(commit=""), "records no commit"),
    (lambda r: r.update(seed=3), "evaluated with seed 3 but the run trained with seed 0"),
])
def test_collect_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, change, message):
  workdir = _workdir(tmp_path)
  result = json.loads((workdir / "eval.json").read_text())
  change(result)
  (workdir / "eval.json").write_text(json.dumps(result))
  out = tmp_path / "results"
  assert collect_result.main([f"--workdir={workdir}", "--name=toy_run",
                              f"--results_dir={out}"]) == 1
  err = capsys.readouterr().err
  assert message in err and err.startswith("error: ") and err.count("\n") == 1
  assert not out.exists()


def test_dirty_training_needs_allow_dirty(tmp_path):
  workdir = _workdir(tmp_path)
  training = json.loads((workdir / "provenance.json").read_text())
  (workdir / "provenance.json").write_text(json.dumps([{**training[0], "dirty": True}]))
  with pytest.raises(UserError, match="trained with uncommitted changes"):
    collect_result.collect(workdir, "toy_run", results_dir=tmp_path / "results")
  path, _ = collect_result.collect(workdir, "toy_run", allow_dirty=True,
                                   results_dir=tmp_path / "results")
  assert "ttt0001 (uncommitted changes)" in result_tables.markdown("toy_run", "test",
                                                                   tmp_path / "results")
  assert path.exists()


def test_a_different_result_is_replaced_only_when_asked(tmp_path):
  out = tmp_path / "results"
  collect_result.collect(_workdir(tmp_path), "toy_run", results_dir=out)
  other = tmp_path / "again"
  shutil.copytree(tmp_path / "run0", other)
  result = json.loads((other / "eval.json").read_text())
  result["step"] = 1200
  (other / "eval.json").write_text(json.dumps(result))
  with pytest.raises(UserError, match="already holds a different result for seed 0"):
    collect_result.collect(other, "toy_run", results_dir=out)
  assert json.loads((out / "toy_run" / "test" / "seed0.json").read_text())["step"] == 1100
  assert collect_result.collect(other, "toy_run", replace=True, results_dir=out)[1] == "replaced"
  assert json.loads((out / "toy_run" / "test" / "seed0.json").read_text())["step"] == 1200


def test_a_seed_of_another_run_is_refused(tmp_path):
  out = tmp_path / "results"
  collect_result.collect(_workdir(tmp_path, seed=0), "toy_run", results_dir=out)
  with pytest.raises(UserError, match="differs from seed 0 in its dataset"):
    collect_result.collect(_workdir(tmp_path, seed=1, dataset="synth_faces/transfer_64"),
                           "toy_run", results_dir=out)
  collect_result.collect(_workdir(tmp_path, seed=2), "toy_run", results_dir=out)
  assert "2 training seeds (0, 2)" in result_tables.markdown("toy_run", "test", out)


def test_a_file_in_another_runs_folder_is_refused(tmp_path):
  shutil.copytree(FIXTURES / "toy_run", tmp_path / "lgpgan_demo")
  with pytest.raises(ValueError, match="holds run 'toy_run', not 'lgpgan_demo'"):
    result_tables.markdown("lgpgan_demo", "test", tmp_path)


def test_comparison_rows_references_and_verdict(tmp_path, monkeypatch):
  # The paper's run = the three fixtures (SSIM 0.9 ± 0.1, accuracy 0.5 ± 0); a baseline = seed 0
  # alone (SSIM 0.8); another baseline has no results. Claim: higher SSIM. Copying the input
  # (SSIM 0.928) beats the paper's 0.9: the verdict says so.
  _as_run(tmp_path, "toy_demo", (0, 1, 2))
  _as_run(tmp_path, "base_demo", (0,))
  monkeypatch.setattr(result_tables, "COMPARISONS", {"toy": (
      "Toy against its baselines", ("toy_demo", "base_demo", "none_demo"),
      (("ssim_vs_truth", "SSIM", 3), ("expression_accuracy", "accuracy", 3)),
      (("ssim_vs_truth", "higher"),))})
  monkeypatch.setattr(result_tables, "COMPARISON_TITLES", {"toy_demo": "Toy", "base_demo": "Base",
                                                           "none_demo": "None"})
  lines = result_tables.comparison("toy", tmp_path).split("\n")
  assert lines[2:7] == [
      "| Toy (3 seeds) | 0.900 ± 0.100 | 0.500 ± 0.000 |",
      "| Base (1 seed) | 0.800 | 0.500 |",
      "| None | not yet measured | not yet measured |",
      "| copy the input | 0.928 | 0.000 |",
      "| ground truth | 1.000 | 1.000 |"]
  assert lines[8] == (
      "The paper's claim holds against Base (SSIM 0.900 vs 0.800). Not yet trained here: "
      "none_demo. Copying the input, which edits nothing, scores better still (SSIM 0.928): on these"
      " measures the paper's model does not beat doing nothing.")
  # A claim on two metrics, won on one: "holds on ... only" (accuracy 0.5 vs 0.5: not better).
  monkeypatch.setitem(result_tables.COMPARISONS, "toy", (
      "Toy", ("toy_demo", "base_demo"), (("ssim_vs_truth", "SSIM", 3), ("expression_accuracy",
                                                                        "accuracy", 3)),
      (("ssim_vs_truth", "higher"), ("expression_accuracy", "higher"))))
  assert "holds on SSIM only against Base" in result_tables.comparison("toy", tmp_path)
