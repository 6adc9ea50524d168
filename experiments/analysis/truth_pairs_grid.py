"""Held-out edits beside SynthFaces' exact truth, as one PNG grid.

  python experiments/analysis/truth_pairs_grid.py --data_dir=D --out=docs/figures/NAME.png \
      NAME=WORKDIR [NAME=WORKDIR ...]

Rows: held-out same-identity pairs (the eval's pairing, ``harness.same_identity_pairs``) of
varied identities and expressions (``pipeline.varied_indices``). Columns: the input, then each
run's edit towards the pair's target
(GANimation: the target's AUs; LGP-GAN: its class), then the true target; below each edit, its
absolute error to the truth (x4, white = 0), so that leaks and tints show.
"""

import sys
from pathlib import Path

import numpy as np
from absl import app
from absl import flags

sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import fxs_jax  # pylint: disable=g-import-not-at-top
from fxs_jax import viz  # pylint: disable=g-import-not-at-top
from fxs_jax.data import augment  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top

_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_OUT = flags.DEFINE_string("out", "truth_pairs.png", "PNG to write.")
_ROWS = flags.DEFINE_integer("rows", 6, "Pairs to show.")


def main(argv):
  runs = [(name, fxs_jax.load(path)) for name, _, path in (a.partition("=") for a in argv[1:])]
  if not runs:
    raise app.UsageError("Give one or more NAME=WORKDIR.")
  config = runs[0][1].config
  config.data.data_dir = _DATA_DIR.value or config.data.data_dir
  source = pipeline.load(config.data, [config.data.eval_split])[config.data.eval_split]
  partner = dict(zip(*harness.same_identity_pairs(source)))  # the eval's pairs
  pick = [int(i) for i in pipeline.varied_indices(source, _ROWS.value) if int(i) in partner]
  prep = pipeline.stills_preprocess(flip=False)
  inp = next(harness.batches(source, np.asarray(pick), len(pick), prep))
  tgt = next(harness.batches(source, np.asarray([partner[i] for i in pick]), len(pick), prep))
  image, truth, landmarks = inp["image"], tgt["image"], inp["landmarks"]
  top, bottom = [image], [np.ones_like(image)]
  for name, model in runs:
    field = model.config.evals.pairs.target  # what the eval edits towards: "aus" or "emotion"
    target = {field: tgt[field]}
    out = np.asarray(model.edit(image, landmarks=landmarks, **target))
    top.append(out)
    bottom.append(1.0 - np.clip(4.0 * np.abs(out - truth), 0.0, 2.0))  # white = exact
    print(f"{name}: mean |edit - truth| {np.abs(out - truth).mean() / 2:.4f} (0-1 units), "
          f"copy input {np.abs(image - truth).mean() / 2:.4f}")
  top.append(truth)
  bottom.append(np.ones_like(truth))
  rows = []
  for r in range(len(pick)):
    rows += [col[r] for col in top] + [col[r] for col in bottom]
  grid = viz.make_grid(augment.to_uint8(np.stack(rows)), len(top))
  viz.save_png(Path(_OUT.value), grid)
  print(f"wrote {_OUT.value}: rows = pairs (edit, then its error x4 below); columns = input, "
        + ", ".join(n for n, _ in runs) + ", truth")


if __name__ == "__main__":
  app.run(main)
