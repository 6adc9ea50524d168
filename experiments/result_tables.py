"""A headline run's table from its committed results: mean ± sd over training seeds.

  python experiments/result_tables.py RUN [--split=test] [--results_dir=experiments/results]
  python experiments/result_tables.py --headline   # README.md's model table

Reads every ``experiments/results/RUN/SPLIT/seed<N>.json`` (written by
``experiments/collect_result.py``; the schema is at the top of that module) and prints one
markdown table: a row per method as ``eval.json``'s rows name it (the model, then the references:
copy the input, copy the target, copy frame 0, real motions, chance; then the ground truth) and
a column per headline metric the rows hold. A model cell is the mean ± the sample standard
deviation (ddof 1) over the seeds; the number of seeds is in the row's label. A reference row does
not depend on the training seed, so it is printed once, after checking that every seed's file
agrees on it within 1e-6. Below the table, a caption line names the split, the pairs, the step,
the judges' versions, the seeds and the commits. A run without results prints one line saying
so. ``--headline`` prints one table of every paper's headline numbers (README.md's model table),
taken from the same files. ``experiments/doc_tables.py`` puts these tables into README.md and the
docs pages.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "experiments" / "results"
# The runs the docs report, each with its model row's label.
HEADLINE_RUNS = {
    "ganimation_demo": "GANimation `:demo`",
    "lgpgan_demo": "LGP-GAN `:demo`",
    "cgan_transfer_demo": "cGAN transfer `:demo`",
    "motiongan_demo": "MotionGAN `:demo`",
    "texturegan_demo": "TextureGAN `:demo`",
    "stargan_demo": "StarGAN `:demo`",
    "attgan_demo": "AttGAN `:demo`",
    "cyclegan_demo": "CycleGAN `:demo` (neutral -> happy)",
    "mocogan_demo": "MoCoGAN `:demo`",
    "vgan_demo": "VGAN `:demo`",
    "vgan_from_face_demo": "VGAN `:from_face,demo` (clips from a neutral face)",
    "tgan_demo": "TGAN `:demo`",
    "cgan_baseline_demo": "CGAN `:demo`",
    "c2gan_demo": "C2GAN `:demo`",
    # The bundled models (fxs_jax/pretrained/synthfaces), each one run, evaluated by the
    # eval_command in its manifest (experiments/eval_bundle.py).
    "bundle_ganimation": "bundled GANimation (`:demo_long`)",
    "bundle_lgpgan": "bundled LGP-GAN (`:demo_long`)",
    "bundle_cgan_transfer": "bundled cGAN transfer (`:demo`)",
    "bundle_motiongan": "bundled MotionGAN (`:demo`)",
    "bundle_texturegan": "bundled TextureGAN (`:demo`)",
}
# Headline metrics in column order: (name in eval.json, column label, decimals).
METRICS = (
    ("ssim_vs_truth", "SSIM vs truth", 3),
    ("psnr_vs_truth", "PSNR vs truth (dB)", 2),
    ("ssim_mouth", "SSIM, mouth box", 3),
    ("expression_accuracy", "expression accuracy", 3),
    ("au_mae", "AU error (0-5)", 3),
    ("landmark_nme", "landmark NME", 4),
    ("motion_class_accuracy", "class accuracy", 3),
    ("geodesic_nearest_same_class", "nearest real motion, same class (rad)", 3),
    ("geodesic_nearest_other_class", "nearest real motion, other class (rad)", 3),
    ("diversity_within_class", "diversity within a class (rad)", 3),
    ("last_frame_ssim", "last frame SSIM vs truth", 3),
    ("last_frame_psnr", "last frame PSNR vs truth (dB)", 2),
    ("acd", "ACD", 3),
    ("face_found_rate", "frames with a face found", 2),
)
_HEADLINE = frozenset(name for name, _, _ in METRICS)
# Methods whose rows come from the trained model, so vary with its seed; every other method is a
# reference and must be equal in every seed's file.
MODEL_METHODS = ("model", "generated_motion")
METHOD_ORDER = ("model", "generated_motion", "copy_input", "source_moved", "real_heldout",
                "chance", "target_example", "ground_truth")
METHOD_LABELS = {
    "generated_motion": "MotionGAN + TextureGAN (generated motion)",
    "copy_input": "copy the input", "source_moved": "source landmarks moved onto the target",
    "real_heldout": "real held-out motions", "chance": "chance",
    "target_example": "the requested example", "ground_truth": "ground truth",
}
JUDGE_LABELS = {"au_regressor": "AU regressor", "expression_classifier": "expression classifier",
                "motion_classifier": "motion classifier"}
REFERENCE_TOLERANCE = 1e-6
PLANNED_SEEDS = 3  # training seeds a headline run is meant to have; fewer are flagged in its caption
NOT_MEASURED = "not yet measured with the fixed judges on the test split"
_SEED_FILE = re.compile(r"seed(\d+)\.json")


def seed_files(run: str, split: str = "test", results_dir: Path = RESULTS_DIR) -> dict[int, Path]:
  """``{seed: path}`` of the run's result files on ``split``, in seed order."""
  folder = Path(results_dir) / run / split
  found = {}
  for path in folder.glob("seed*.json") if folder.is_dir() else ():
    match = _SEED_FILE.fullmatch(path.name)
    if match:
      found[int(match.group(1))] = path
  return dict(sorted(found.items()))


def load(run: str, split: str = "test", results_dir: Path = RESULTS_DIR) -> list[dict]:
  """The run's results on ``split``, one per seed, checked to be comparable (``check_comparable``)
  and to match their paths (run folder, split folder, seed)."""
  results = []
  for seed, path in seed_files(run, split, results_dir).items():
    result = json.loads(path.read_text())
    if result.get("run", run) != run:
      raise ValueError(f"{path}: holds run {result['run']!r}, not {run!r}: collect it with "
                       f"experiments/collect_result.py --name={run}.")
    if result.get("split") != split or result.get("seed") != seed:
      raise ValueError(f"{path}: holds split {result.get('split')!r}, seed "
                       f"{result.get('seed')!r}; its path says {split!r}, seed {seed}.")
    results.append(result)
  check_comparable(results, run)
  return results


def _first_values(result: dict) -> dict[tuple[str, str], float]:
  """``{(method, metric): value}``; a pair named twice (one metric from two evaluators, e.g. a
  video's ``acd_i``) keeps its first row."""
  values = {}
  for row in result["rows"]:
    values.setdefault((row["method"], row["metric"]), float(row["value"]))
  return values


def _same(a: float, b: float) -> bool:
  return a == b or abs(a - b) <= REFERENCE_TOLERANCE


def judges(result: dict) -> dict[str, str]:
  """``{evaluator: version}`` of the evaluators a result was judged with: a network judge by its
  version, one fitted during the eval (the motion classifier) as such."""
  found = {}
  for name, info in sorted(result.get("evaluators", {}).items()):
    if isinstance(info, dict) and info.get("version"):
      found[name] = str(info["version"])
    elif isinstance(info, dict) and "held_out" in info:
      found[name] = "fitted at eval time" if "fit_seconds" in info else "unversioned"
  return found


def check_comparable(results: list[dict], run: str) -> None:
  """Raises ValueError unless the results are one run's seeds on the same data, pairs, config and
  judges, with the same reference cells in the table (within ``REFERENCE_TOLERANCE``)."""
  if not results:
    return
  first = results[0]
  seeds = [r.get("seed") for r in results]
  if len(set(seeds)) != len(seeds):
    raise ValueError(f"{run}: seed repeated among {seeds}.")
  def what(r):
    return {"split": r.get("split"), "model": r.get("model"), "dataset": r.get("dataset"),
            "pairs": r.get("num_pairs"), "config": r.get("provenance", {}).get("config"),
            "judges": judges(r)}
  for result in results[1:]:
    for key, value in what(result).items():
      if value != what(first)[key]:
        raise ValueError(f"{run}: seed {result['seed']} differs from seed {first['seed']} in its "
                         f"{key} ({value!r} vs {what(first)[key]!r}): not one run's seeds.")
  def printed_references(r):  # the reference cells a table shows
    return {k: v for k, v in _first_values(r).items()
            if k[0] not in MODEL_METHODS and k[1] in _HEADLINE}
  reference = printed_references(first)
  for result in results[1:]:
    other = printed_references(result)
    for key in sorted(set(reference) | set(other)):
      if key not in reference or key not in other or not _same(reference[key], other[key]):
        raise ValueError(
            f"{run}: the reference row {key[0]} / {key[1]} differs between seed {first['seed']} "
            f"({reference.get(key)}) and seed {result['seed']} ({other.get(key)}); references "
            "do not depend on the training seed, so these were evaluated on other pairs or "
            "judges.")


def cell(values: list[float], decimals: int) -> str:
  """One value, or ``mean ± sample sd`` (ddof 1) of several, to ``decimals`` places."""
  def fmt(x):
    return "inf" if math.isinf(x) else f"{x:.{decimals}f}"
  if len(values) == 1:
    return fmt(values[0])
  mean = sum(values) / len(values)
  if math.isinf(mean):
    return fmt(mean)
  return f"{fmt(mean)} ± {fmt(statistics.stdev(values))}"


def _method_label(method: str, result: dict, title: str, num_seeds: int) -> str:
  if method == "model":
    return f"{title} ({num_seeds} seed{'s' if num_seeds != 1 else ''})"
  if method == "copy_input" and "transfer" in result.get("dataset", ""):
    return "copy the target"
  if method == "copy_input" and "sequences" in result.get("dataset", ""):
    return "copy frame 0"
  return METHOD_LABELS.get(method, method.replace("_", " "))


def _commits(entries: list[dict]) -> str:
  seen = []
  for entry in entries:
    commit = entry.get("commit") or "?"
    commit += " (uncommitted changes)" if entry.get("dirty") else ""
    if commit not in seen:
      seen.append(commit)
  return ", ".join(seen)


def caption(results: list[dict], folder: str) -> str:
  """The line under a table: split, pairs, step, judges, seeds, commits and the source folder."""
  first = results[0]
  if "num_pairs" in first:
    pairs = f"{first['num_pairs']} held-out pairs of "
  else:  # e.g. the motion evaluator: its examples are the model rows' n
    sizes = sorted({row.get("n") for row in first["rows"]
                    if row["method"] == "model" and row["metric"] in _HEADLINE}, key=str)
    pairs = f"{sizes[0]} held-out examples of " if len(sizes) == 1 else ""
  steps = ", ".join(str(s) for s in sorted({r.get("step") for r in results}, key=str))
  judged = ", ".join(f"{JUDGE_LABELS.get(name, name.replace('_', ' '))} {version}"
                     for name, version in judges(first).items()) or "none"
  seeds = [r["seed"] for r in results]
  plural = "s" if len(seeds) != 1 else ""
  spread = ", mean ± sample sd" if len(seeds) > 1 else ""
  entries = [e for r in results for e in r.get("training", {}).get("provenance", [])]
  trained = _commits([e for e in entries if not e.get("bundle")])
  bundled = sorted({e.get("exported_at", "")[:10] for e in entries if e.get("bundle")})
  trained = f"trained at {trained or '?'}"
  if bundled:  # a bundle's run kept no commit: say what its manifest says
    trained = (f"a bundled model, exported {', '.join(bundled)} (its training run recorded no "
               "commit)")
  evaluated = _commits([r.get("provenance", {}) for r in results])
  if not bundled and len(seeds) < PLANNED_SEEDS:  # the bar: say so beside the number
    spread += f" (fewer than the {PLANNED_SEEDS} seeds planned: the 2-core CPU's time budget)"
  return (f"{first['split'].capitalize()} split, {pairs}{first.get('dataset', '?')}; step {steps}; "
          f"judges: {judged}; {len(seeds)} training seed{plural} "
          f"({', '.join(str(s) for s in seeds)}){spread}; {trained}; "
          f"evaluated at {evaluated}; from `{folder}/`.")

def markdown(run: str, split: str = "test", results_dir: Path = RESULTS_DIR,
             title: str | None = None) -> str:
  """The run's table on ``split`` with its caption, or one line when it has no results."""
  title = title or HEADLINE_RUNS.get(run, run)
  results = load(run, split, results_dir)
  if not results:
    return f"{title}: {NOT_MEASURED}."
  per_seed = [_first_values(r) for r in results]
  present = {key for values in per_seed for key in values}
  metrics = [m for m in METRICS if any(key[1] == m[0] for key in present)]
  methods = sorted({key[0] for key in present},
                   key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))
  lines = ["| method | " + " | ".join(label for _, label, _ in metrics) + " |",
           "| --- " * (len(metrics) + 1) + "|"]
  for method in methods:
    cells = []
    for name, _, decimals in metrics:
      values = [v[method, name] for v in per_seed if (method, name) in v]
      if method not in MODEL_METHODS:
        values = values[:1]  # checked equal across seeds by load()
      cells.append(cell(values, decimals) if values else "-")
    if any(c != "-" for c in cells):
      label = _method_label(method, results[0], title, len(results))
      lines.append(f"| {label} | " + " | ".join(cells) + " |")
  folder = Path(results_dir) / run / split
  try:
    folder = folder.resolve().relative_to(ROOT)
  except ValueError:
    pass
  return "\n".join(lines + ["", caption(results, folder.as_posix())])


# README.md's model table: (model, its docs page, the `:demo` run, the bundled run, the metrics).
HEADLINE = (
    ("GANimation", "docs/papers/ganimation.md", "ganimation_demo", "bundle_ganimation",
     ("expression_accuracy", "ssim_vs_truth")),
    ("LGP-GAN", "docs/papers/lgpgan.md", "lgpgan_demo", "bundle_lgpgan",
     ("expression_accuracy", "ssim_vs_truth")),
    ("cGAN transfer", "docs/papers/cgan_transfer.md", "cgan_transfer_demo", "bundle_cgan_transfer",
     ("expression_accuracy", "ssim_vs_truth")),
    ("MotionGAN", "docs/papers/motiongan_texturegan.md", "motiongan_demo", "bundle_motiongan",
     ("geodesic_nearest_same_class", "diversity_within_class")),
    ("TextureGAN", "docs/papers/motiongan_texturegan.md", "texturegan_demo", "bundle_texturegan",
     ("expression_accuracy", "ssim_vs_truth")),
)
# The reference columns: a model that does nothing, and the best achievable (first found).
BASELINES = ("copy_input", "chance")
CEILINGS = ("ground_truth", "real_heldout")


def _reference(found: dict[str, list[dict]], methods: tuple[str, ...], metric: str,
               model: str, default: str) -> str:
  """The first of ``methods`` that the runs hold for ``metric``, checked equal across the runs
  (the same pairs and judges), labelled when it is not ``default``; "-" when none holds it."""
  decimals = next(d for name, _, d in METRICS if name == metric)
  for method in methods:
    values = {run: _first_values(results[0])[method, metric] for run, results in found.items()
              if (method, metric) in _first_values(results[0])}
    if not values:
      continue
    first_run, value = next(iter(values.items()))
    for run, other in values.items():
      if not _same(value, other):
        raise ValueError(f"{model}: the reference {method} / {metric} differs between {first_run} "
                         f"({value}) and {run} ({other}): not the same pairs or judges.")
    some = next(iter(found.values()))[0]
    label = _method_label(method, some, model, 1)
    return cell([value], decimals) + ("" if label == default else f" ({label})")
  return "-"


def headline(results_dir: Path = RESULTS_DIR) -> str:
  """README.md's model table: per model and headline metric, the `:demo` run (mean ± sd over its
  seeds), the bundled model, a model that does nothing and the best achievable, all on the test
  split, from the same committed files as the per-run tables."""
  lines = ["| model | metric | `:demo`, trained from scratch | bundled model | copy the input | "
           "ground truth |", "| --- " * 6 + "|"]
  for model, page, demo, bundle, metrics in HEADLINE:
    found = {run: load(run, "test", results_dir) for run in (demo, bundle)}
    found = {run: results for run, results in found.items() if results}
    for i, metric in enumerate(metrics):
      label, decimals = next((l, d) for name, l, d in METRICS if name == metric)
      cells = []
      for run in (demo, bundle):
        values = [_first_values(r)[MODEL_METHODS[0], metric] for r in found.get(run, ())
                  if (MODEL_METHODS[0], metric) in _first_values(r)]
        # A `:demo` cell always says over how many seeds (fewer than 3: what the budget allowed).
        seeds = f" ({len(values)} seed{'s' if len(values) != 1 else ''})" if run == demo else ""
        cells.append(cell(values, decimals) + seeds if values else "not yet measured")
      cells.append(_reference(found, BASELINES, metric, model, "copy the input"))
      cells.append(_reference(found, CEILINGS, metric, model, "ground truth"))
      name = f"[{model}]({page})" if i == 0 else ""
      lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines + [
      "",
      "Test split of SynthFaces (identities no training saw), the judges shipped in the package;",
      f"`:demo`: mean ± sample sd over training seeds ({PLANNED_SEEDS} planned; fewer where a "
      "cell says so, for the 2-core CPU's time budget);",
      "bundled: one training run each (one seed, for the same budget), stored as float16.",
      "Full tables with their captions: each model's page."])



# Each paper's comparison with the baselines it was measured against, on SynthFaces: (title, the
# runs (the paper's model first), the columns (metric, label, decimals), the paper's claim as
# (metric, "higher" or "lower" is better) pairs).
COMPARISONS = {
    "lgpgan": ("LGP-GAN against StarGAN, AttGAN and GANimation",
               ("lgpgan_demo", "stargan_demo", "attgan_demo", "ganimation_demo"),
               (("is_classifier", "IS (classifier)", 2), ("fd_classifier", "FD (classifier)", 1),
                ("ssim_vs_truth", "SSIM vs truth", 3), ("ssim_eyes", "SSIM, eye box", 3),
                ("ssim_mouth", "SSIM, mouth box", 3),
                ("expression_accuracy", "expression accuracy", 3)),
               (("is_classifier", "higher"), ("fd_classifier", "lower"))),
    # GANimation's discrete-emotion comparison: neutral faces edited to happy (the one expression
    # a two-domain CycleGAN :demo is trained for), every editor given the class only.
    "ganimation": ("GANimation against StarGAN and CycleGAN, neutral -> happy",
                   ("ganimation_demo_neutral_happy", "stargan_demo_neutral_happy",
                    "cyclegan_demo"),
                   (("ssim_vs_truth", "SSIM vs truth", 3), ("psnr_vs_truth", "PSNR vs truth (dB)", 2),
                    ("ssim_mouth", "SSIM, mouth box", 3),
                    ("expression_accuracy", "expression accuracy", 3),
                    ("au_mae", "AU error (0-5)", 3)),
                   (("ssim_vs_truth", "higher"), ("expression_accuracy", "higher"))),
    "cgan_transfer": ("The cGAN transfer against pix2pix, CGAN and C2GAN",
                      ("cgan_transfer_demo", "pix2pix_demo", "cgan_baseline_demo", "c2gan_demo"),
                      (("ssim_vs_truth", "SSIM vs truth", 3),
                       ("psnr_vs_truth", "PSNR vs truth (dB)", 2),
                       ("ssim_mouth", "SSIM, mouth box", 3),
                       ("expression_accuracy", "expression accuracy", 3),
                       ("landmark_nme", "landmark NME", 4)),
                      (("ssim_vs_truth", "higher"), ("psnr_vs_truth", "higher"))),
}
# A run's label where HEADLINE_RUNS has none.
COMPARISON_TITLES = {
    "ganimation_demo_neutral_happy": "GANimation `:demo` (the EMFACS happy AUs)",
    "stargan_demo_neutral_happy": "StarGAN `:demo`",
    "pix2pix_demo": "pix2pix `:demo`",
}


def _model_values(results: list[dict], metric: str) -> list[float]:
  return [_first_values(r)[MODEL_METHODS[0], metric] for r in results
          if (MODEL_METHODS[0], metric) in _first_values(r)]


def comparison(name: str, results_dir: Path = RESULTS_DIR) -> str:
  """One paper's comparison table (``COMPARISONS[name]``): a row per run (mean ± sd over its
  seeds, or "not yet measured"), then copy-the-input and the truth (checked equal across the
  runs: the same pairs and judges), then whether the paper's claim holds, run by run."""
  _, runs, columns, claim = COMPARISONS[name]
  found = {run: load(run, "test", results_dir) for run in runs}
  lines = ["| method | " + " | ".join(label for _, label, _ in columns) + " |",
           "| --- " * (len(columns) + 1) + "|"]
  for run in runs:
    title = COMPARISON_TITLES.get(run) or HEADLINE_RUNS.get(run, run)
    if not found[run]:
      lines.append(f"| {title} | " + " | ".join("not yet measured" for _ in columns) + " |")
      continue
    cells = [cell(v, d) if (v := _model_values(found[run], m)) else "-" for m, _, d in columns]
    seeds = len(found[run])
    lines.append(f"| {title} ({seeds} seed{'s' if seeds != 1 else ''}) | " + " | ".join(cells)
                 + " |")
  measured = {run: results for run, results in found.items() if results}
  for methods, default in ((BASELINES, "copy the input"), (CEILINGS, "ground truth")):
    cells = []
    for metric, _, decimals in columns:
      text = "-"
      for method in methods:
        values = {run: _first_values(res[0])[method, metric] for run, res in measured.items()
                  if (method, metric) in _first_values(res[0])}
        if values:
          first = next(iter(values.values()))
          if not all(_same(first, v) for v in values.values()):
            raise ValueError(f"{name}: the reference {method} / {metric} differs between the "
                             "runs: not the same pairs or judges.")
          text = cell([first], decimals)
          if method != methods[0]:  # e.g. chance where no copy exists: say which
            text += f" ({METHOD_LABELS.get(method, method)})"
          break
      cells.append(text)
    some = next(iter(measured.values()), [{}])[0]
    label = _method_label(methods[0], some, "", 1) if some else default
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines + ["", verdict(name, found)])


def verdict(name: str, found: dict[str, list[dict]]) -> str:
  """Whether the paper's model beats each measured baseline on the claim's metrics (means): on
  all of them ("holds"), on none ("does not hold") or on some ("holds on ... only")."""
  _, runs, columns, claim = COMPARISONS[name]
  paper, *baselines = runs
  if not found[paper]:
    return f"The claim cannot be checked yet: {paper} has no results."
  labels = {m: label for m, label, _ in columns}
  decimals = {m: d for m, _, d in columns}
  better = lambda a, b, way: a > b if way == "higher" else a < b  # noqa: E731
  parts = []
  for run in baselines:
    if not found[run]:
      continue
    facts, wins = [], []
    for metric, way in claim:
      mine, theirs = _model_values(found[paper], metric), _model_values(found[run], metric)
      if not mine or not theirs:
        continue
      a, b = statistics.fmean(mine), statistics.fmean(theirs)
      d = decimals[metric]
      facts.append(f"{labels[metric]} {a:.{d}f} vs {b:.{d}f}")
      wins.append((labels[metric], better(a, b, way)))
    title = COMPARISON_TITLES.get(run) or HEADLINE_RUNS.get(run, run)
    if all(w for _, w in wins):
      word = "holds"
    elif not any(w for _, w in wins):
      word = "does not hold"
    else:
      word = "holds on " + " and ".join(label for label, w in wins if w) + " only"
    parts.append(f"{word} against {title} ({', '.join(facts)})")
  missing = [r for r in baselines if not found[r]]
  tail = f" Not yet trained here: {', '.join(missing)}." if missing else ""
  copied = []  # a claim metric on which copying the input beats the paper's own model
  for metric, way in claim:
    mine = _model_values(found[paper], metric)
    copy = [_first_values(r)[BASELINES[0], metric] for r in found[paper][:1]
            if (BASELINES[0], metric) in _first_values(r)]
    if mine and copy and better(copy[0], statistics.fmean(mine), way):
      copied.append(f"{labels[metric]} {copy[0]:.{decimals[metric]}f}")
  if copied:
    tail += (f" Copying the input, which edits nothing, scores better still ({', '.join(copied)}):"
             " on these measures the paper's model does not beat doing nothing.")
  if not parts:
    return "No baseline has results yet." + tail
  return "The paper's claim " + "; ".join(parts) + "." + tail

def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("run", nargs="?", help="a folder of --results_dir, e.g. ganimation_demo")
  parser.add_argument("--split", default="test", help="validation or test (default test)")
  parser.add_argument("--results_dir", type=Path, default=RESULTS_DIR)
  parser.add_argument("--headline", action="store_true", help="README.md's table of every model")
  parser.add_argument("--comparison", choices=sorted(COMPARISONS),
                      help="a paper against its baselines (COMPARISONS)")
  args = parser.parse_args(argv)
  if sum(map(bool, (args.run, args.headline, args.comparison))) != 1:
    parser.error("give one of RUN, --headline or --comparison")
  try:
    if args.comparison:
      print(comparison(args.comparison, args.results_dir))
    else:
      print(headline(args.results_dir) if args.headline else
            markdown(args.run, args.split, args.results_dir))
  except (ValueError, KeyError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
