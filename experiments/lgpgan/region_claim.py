"""LGP-GAN's region claim on SynthFaces: eye and mouth boxes of whole-face and local editors at
large deformations (``fxs_jax.eval.region_claim``).

  python experiments/lgpgan/region_claim.py \
      --model="LGP-GAN :demo=W_LGP0" --model="LGP-GAN :demo=W_LGP1" \
      --model="StarGAN :demo=W_STAR0" --model="GANimation :demo=W_GAN2" \
      [--split=test] [--fraction=0.333] [--data_dir=...] [--out=...]

Each ``--model`` is ``label=path`` (a workdir, an export or a bundled name); a label given more
than once is one run's seeds. Every model edits the held-out same-identity pairs its own
``--mode=eval`` judges (``config.eval.pairs_seed``), conditioned as there (GANimation on the
target's AUs, the class editors on its class). Inside the eye and mouth boxes of the target's
landmarks: L1, PSNR, sharpness (Laplacian variance against the truth's) and ghosting (the input's
expression left over), over all pairs and over the third of the pairs whose region moves most,
beside copy-the-input and the truth. Writes ``experiments/results/lgpgan_region_claim/<split>/
region_claim.json`` and prints the table (``region_claim_table.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app
from absl import flags

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-order

import fxs_jax  # pylint: disable=g-import-not-at-top
from fxs_jax import provenance  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import harness  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import image_metrics  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import region_claim  # pylint: disable=g-import-not-at-top

import region_claim_table  # pylint: disable=g-import-not-at-top,wrong-import-order  # beside this file

_MODELS = flags.DEFINE_multi_string("model", [], "label=path of a trained model (repeat).")
_SPLIT = flags.DEFINE_enum("split", "test", ["validation", "test"], "The held-out split.")
_FRACTION = flags.DEFINE_float("fraction", 1.0 / 3.0, "Share of the pairs called large.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", 0, "Held-out inputs to pair (0 = the split).")
_OUT = flags.DEFINE_string("out", "", "Output JSON (default under experiments/results).")
BATCH = 32
REFERENCES = ("copy the input", "ground truth")


def _measure(outputs: dict, inp: dict, tgt: dict, per_pair: dict) -> None:
  """Adds this batch's box measures of every method to ``per_pair[method][region][measure]``."""
  boxes = image_metrics.region_boxes(np.asarray(tgt["landmarks"]), tgt["image"].shape[1])
  for method, out in outputs.items():
    for region in region_claim.REGIONS:
      values = region_claim.box_measures(out, tgt["image"], inp["image"], boxes[region])
      for name, v in values.items():
        per_pair.setdefault(method, {}).setdefault(region, {}).setdefault(name, []).append(v)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not _MODELS.value:
    raise app.UsageError("Give at least one --model=label=path.")
  entries = []
  for spec in _MODELS.value:
    label, sep, path = spec.rpartition("=")
    if not sep or not label:
      raise app.UsageError(f"--model={spec!r} must be label=path.")
    entries.append((label, path, fxs_jax.load(path)))
  config = entries[0][2].config
  if _DATA_DIR.value:
    config.data.data_dir = _DATA_DIR.value
  source = pipeline.load(config.data, [_SPLIT.value])[_SPLIT.value]
  seeds = {int(model.config.eval.pairs_seed) for _, _, model in entries}
  if len(seeds) != 1:
    raise app.UsageError(f"The models judge different held-out pairs (pairs_seed {seeds}).")
  inputs, targets = harness.same_identity_pairs(source, _NUM_PAIRS.value or None,
                                                seeds.pop())
  preprocess = pipeline.stills_preprocess(flip=False)
  per_pair, moved = {}, {r: [] for r in region_claim.REGIONS}
  for inp, tgt in zip(harness.batches(source, inputs, BATCH, preprocess),
                      harness.batches(source, targets, BATCH, preprocess)):
    outputs = {}
    for i, (_, _, model) in enumerate(entries):
      condition = model.config.evals.pairs.target  # as --mode=eval: "aus" or "emotion"
      outputs[i] = np.asarray(model.edit(inp["image"], landmarks=inp["landmarks"],
                                         **{condition: tgt[condition]}), np.float32)
    outputs["copy the input"], outputs["ground truth"] = inp["image"], tgt["image"]
    _measure(outputs, inp, tgt, per_pair)
    for region, v in region_claim.deformation(inp["landmarks"], tgt["landmarks"]).items():
      moved[region].append(v)
  moved = {r: np.concatenate(v) for r, v in moved.items()}
  large = {r: region_claim.largest(v, _FRACTION.value) for r, v in moved.items()}
  rows = []
  for method, regions in per_pair.items():
    for region, measures in regions.items():
      measures = {k: np.concatenate(v) for k, v in measures.items()}
      for subset, mask in (("all", None), ("large", large[region])):
        for name, value in region_claim.summary(measures, mask).items():
          rows.append({"method": method, "region": region, "subset": subset, "measure": name,
                       "value": value})
  models = [{"index": i, "label": label, "path": path, "step": model.step,
             "seed": int(model.config.seed), "model": model.config.model_name}
            for i, (label, path, model) in enumerate(entries)]
  record = {
      "split": _SPLIT.value, "dataset": config.data.name, "num_pairs": int(len(inputs)),
      "fraction": _FRACTION.value, "models": models, "references": list(REFERENCES),
      "large_threshold_px": {r: float(v[large[r]].min()) for r, v in moved.items()},
      "mean_deformation_px": {r: {"all": float(v.mean()), "large": float(v[large[r]].mean())}
                              for r, v in moved.items()},
      "rows": rows, "provenance": provenance.record(config, "", {}),
      "command": "python experiments/lgpgan/region_claim.py " + " ".join(
          f'--model="{m}"' for m in _MODELS.value) + f" --split={_SPLIT.value}"
      + (f" --num_pairs={_NUM_PAIRS.value}" if _NUM_PAIRS.value else "")}
  out = Path(_OUT.value) if _OUT.value else region_claim_table.JSON.parent.parent / \
      _SPLIT.value / "region_claim.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
  print(region_claim_table.table(record))
  print(f"written {out}")


if __name__ == "__main__":
  app.run(main)
