"""``--mode=eval``'s held-out table for an exported bundle (no workdir, no checkpoints).

  python experiments/eval_bundle.py --data_dir=D --out=DIR synthfaces/ganimation

Runs the bundle's own evals (``config.evals``, critic-free: a bundle has no critic) with the
evaluators cached on this machine, without ACD-I (as ``--config.eval.identity=False``), and
writes ``DIR/eval.json``, so that a bundle can stand beside fresh runs in
``experiments/results_table.py``.
"""

import sys
from pathlib import Path

from absl import app
from absl import flags
from absl import logging

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from fxs_jax import inference  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import suite  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_OUT = flags.DEFINE_string("out", None, "Directory for eval.json.")


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give one bundle: a bundled name (synthfaces/...) or an export folder.")
  if not flags.FLAGS["verbosity"].present:  # as main.py: Orbax's INFO lines would bury the table
    logging.set_verbosity(logging.ERROR)
  model = inference.load(argv[1])
  config = model.config
  config.data.data_dir = _DATA_DIR.value or config.data.data_dir
  config.eval.identity = False
  if "critic" in config.evals:
    config.evals.critic.enabled = False
  source = pipeline.load(config.data, [config.data.eval_split])[config.data.eval_split]
  ctx = suite.EvalContext(config=config, recipe=inference.recipe_for(config), model=model,
                          source=source, critic_metrics=None)
  out = Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  print(harness.format_table(suite.run_evals(ctx, out, model.step)))
  print(f"Wrote {out / 'eval.json'}.")


if __name__ == "__main__":
  flags.mark_flags_as_required(["out"])
  app.run(main)
