"""Learning curve against SynthFaces' exact truth: ``--mode=eval`` of every kept checkpoint.

  python experiments/analysis/truth_curve.py --config=configs/ganimation.py:demo --workdir=W \
      [--config.model.upsample=resize ...] [--evaluators] --out=experiments/PAPER/NAME_curve.md

Each checkpoint's held-out pairs are judged as ``--mode=eval`` judges them (the training
config's overrides must be repeated, as for ``--mode=eval``); the rows are written as one
markdown table (step x metric) with the copy-input and ground-truth rows below, and every step's
``eval.json`` is kept as ``<workdir>/eval_step_<N>.json``. Without ``--evaluators`` only the
pixel and artefact measures run (seconds per checkpoint; the AU regressor, classifier and ACD-I
add minutes).
"""

import json
import shutil
import sys
from pathlib import Path

from absl import app
from absl import flags
from ml_collections import config_flags

sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # configs/ importable

from fxs_jax import run  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top
from fxs_jax.train.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config (as for main.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir.")
_OUT = flags.DEFINE_string("out", "", "Markdown file to write (default: print only).")
_EVALUATORS = flags.DEFINE_bool("evaluators", False, "Also the AU regressor and classifier.")
_STEPS = flags.DEFINE_list("steps", [], "Only these kept checkpoints (default: every one).")
METRICS = harness.PAIR_METRICS + ("fd_classifier", "is_classifier")  # those present are shown


def _value(result: dict, method: str, metric: str) -> str:
  values = [r["value"] for r in result["rows"] if (r["method"], r["metric"]) == (method, metric)]
  return f"{values[0]:.4f}" if values else "-"


def main(argv):
  del argv
  config, workdir = _CONFIG.value, Path(_WORKDIR.value)
  config.eval.evaluators = _EVALUATORS.value
  config.eval.identity = False
  if "critic" in config.evals:
    config.evals.critic.enabled = False
  steps = Checkpointer(workdir / "checkpoints", config).all_steps()
  if _STEPS.value:
    missing = sorted(set(map(int, _STEPS.value)) - set(steps))
    if missing:
      raise app.UsageError(f"--steps {missing} not among the kept checkpoints {steps}")
    steps = sorted(map(int, _STEPS.value))
  results = {}
  for step in steps:
    run.run(config, str(workdir), "eval", step)
    shutil.copy(workdir / "eval.json", workdir / f"eval_step_{step}.json")
    results[step] = json.loads((workdir / f"eval_step_{step}.json").read_text())
  last = results[steps[-1]]
  metrics = [m for m in METRICS if _value(last, "model", m) != "-"]
  lines = [f"Learning curve of `{workdir.name}` against the truth ({last['num_pairs']} held-out "
           f"pairs of {last['dataset']}):", "",
           "| step | " + " | ".join(f"`{m}`" for m in metrics) + " |",
           "|---" * (len(metrics) + 1) + "|"]
  lines += [f"| {s} | " + " | ".join(_value(results[s], "model", m) for m in metrics) + " |"
            for s in steps]
  for method, name in (("copy_input", "copy input"), ("ground_truth", "ground truth")):
    lines.append(f"| {name} | " + " | ".join(_value(last, method, m) for m in metrics) + " |")
  text = "\n".join(lines) + "\n"
  print(text)
  if _OUT.value:
    Path(_OUT.value).write_text(text)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
