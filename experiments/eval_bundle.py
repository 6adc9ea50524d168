"""``--mode=eval``'s held-out table for an exported bundle (no workdir, no checkpoints).

  python experiments/eval_bundle.py --split=test synthfaces/ganimation           # writes the bundle's eval.json
  python experiments/eval_bundle.py --split=test --out=DIR synthfaces/ganimation # elsewhere

Runs the bundle's own evals (``config.evals``, critic-free: a bundle has no critic) with the
shipped judges (``fxs_jax/pretrained/judges``; ``config.eval.judges``), without ACD-I (as
``--config.eval.identity=False``: dlib's embedding is not part of the bundles' claims), on
``--split`` (test by default: a bundle's numbers are reported, not used to choose), and writes
``eval.json`` with the split, the judges' versions and the provenance (this command, the commit).
A bundle's manifest records this command as its ``eval_command``; ``--update_manifest`` writes it
there, so that the bundle's ``eval.json`` is reproduced by the command it names.
"""

import json
import sys
from pathlib import Path

from absl import app
from absl import flags
from absl import logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))

from fxs_jax import animation  # pylint: disable=g-import-not-at-top
from fxs_jax import inference  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top
from fxs_jax import provenance  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import suite  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_OUT = flags.DEFINE_string("out", "", "Directory for eval.json (default: the bundle's folder).")
_SPLIT = flags.DEFINE_enum("split", "test", ["validation", "test"], "The split to evaluate on.")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", 0, "Held-out inputs to edit (0 = all).")
_UPDATE = flags.DEFINE_bool("update_manifest", False,
                            "Write this command into the bundle's manifest as its eval_command.")


def command(name: str, split: str, num_examples: int) -> str:
  """The command line that writes ``name``'s own ``eval.json`` (the manifest's eval_command)."""
  limit = f" --num_examples={num_examples}" if num_examples else ""
  return f"python experiments/eval_bundle.py --split={split}{limit} {name}"


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give one bundle: a bundled name (synthfaces/...) or an export folder.")
  if not flags.FLAGS["verbosity"].present:  # as main.py: Orbax's INFO lines would bury the table
    logging.set_verbosity(logging.ERROR)
  model = inference.load(argv[1])
  config = model.config
  config.data.data_dir = _DATA_DIR.value or config.data.data_dir
  config.data.eval_split = _SPLIT.value
  config.eval.num_examples = _NUM_EXAMPLES.value
  config.eval.identity = False
  if "critic" in config.evals:
    config.evals.critic.enabled = False
  source = pipeline.load(config.data, [config.data.eval_split])[config.data.eval_split]
  ctx = suite.EvalContext(config=config, recipe=inference.recipe_for(config), model=model,
                          source=source, critic_metrics=None, animate=animation.animate)
  folder = Path(inference.resolve(argv[1]))
  out = Path(_OUT.value) if _OUT.value else folder
  out.mkdir(parents=True, exist_ok=True)
  overrides = {"data.eval_split": _SPLIT.value, "eval.num_examples": _NUM_EXAMPLES.value,
               "eval.identity": False}
  record = provenance.record(config, f"bundle:{argv[1]}", overrides)
  print(harness.format_table(suite.run_evals(ctx, out, model.step, record)))
  print(f"Wrote {out / 'eval.json'}.")
  if _UPDATE.value:
    manifest_path = folder / inference.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["eval_command"] = command(argv[1], _SPLIT.value, _NUM_EXAMPLES.value)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"Recorded its command in {manifest_path}.")


if __name__ == "__main__":
  app.run(main)
