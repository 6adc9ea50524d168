"""GANimation's single-AU evaluation (the paper's Fig. 3) on SynthFaces' held-out neutral faces.

  python experiments/ganimation/single_au_sweep.py [--model=synthfaces/ganimation]
      [--split=test] [--num_faces=0] [--data_dir=...]

Each of the paper's nine AUs at intensities 0 / 0.33 / 0.66 / 1 of the 0-5 range on every
neutral face of the split (``fxs_jax.eval.au_sweep``), read by the shipped AU regressor. Writes
``experiments/results/ganimation_au_sweep/<split>/<model>.json`` (rows, summary, provenance,
judge version) and ``docs/figures/ganimation_single_au_sweep.png`` (one face: a row per AU, the
input then each intensity), and prints the table (``au_sweep_table.py``).
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

from fxs_jax import facs  # pylint: disable=g-import-not-at-top
from fxs_jax import face_model  # pylint: disable=g-import-not-at-top
from fxs_jax import provenance  # pylint: disable=g-import-not-at-top
from fxs_jax import viz  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import au_sweep  # pylint: disable=g-import-not-at-top
from fxs_jax.judges import shipped  # pylint: disable=g-import-not-at-top

import au_sweep_table  # pylint: disable=g-import-not-at-top,wrong-import-order  # beside this file

_MODEL = flags.DEFINE_string("model", "synthfaces/ganimation", "A bundled name, workdir or export.")
_SPLIT = flags.DEFINE_enum("split", "test", ["validation", "test"], "The held-out split.")
_NUM_FACES = flags.DEFINE_integer("num_faces", 0, "Neutral faces to sweep (0 = all).")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_FIGURE_FACE = flags.DEFINE_integer("figure_face", 0, "Which swept face the figure shows.")
RESULTS = ROOT / "experiments" / "results" / "ganimation_au_sweep"
FIGURE = ROOT / "docs" / "figures" / "ganimation_single_au_sweep.png"
BATCH = 32


def neutral_faces(config, split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
  """The split's neutral faces (uint8) and their AUs, in the split's order."""
  source = pipeline.load(config.data, [split])[split]
  neutral = [source[i] for i in range(len(source))
             if int(source[i]["emotion"]) == facs.EMOTIONS.index("neutral")]
  neutral = neutral[:limit] if limit else neutral
  return (np.stack([e["image"] for e in neutral]),
          np.stack([np.asarray(e["aus"], np.float32) for e in neutral]))


def batched(fn, *arrays):
  return np.concatenate([fn(*(a[i:i + BATCH] for a in arrays))
                         for i in range(0, len(arrays[0]), BATCH)])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  model = face_model.load(_MODEL.value)
  config = model.config
  if _DATA_DIR.value:
    config.data.data_dir = _DATA_DIR.value
  judge = shipped.load("au_regressor")
  faces, source_aus = neutral_faces(config, _SPLIT.value, _NUM_FACES.value)
  edit = lambda images, aus: batched(lambda x, a: model.edit(x, aus=a), images, aus)
  read = lambda images: batched(lambda x: judge.predict(x.astype(np.float32) / 127.5 - 1.0),
                                images)
  rows, edits = au_sweep.sweep(edit, read, faces, source_aus)
  summary = au_sweep.summary(rows)
  name = _MODEL.value.replace("/", "_").strip("_")
  out = RESULTS / _SPLIT.value / f"{name}.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  record = {"model": _MODEL.value, "step": model.step, "split": _SPLIT.value,
            "dataset": config.data.name, "num_faces": len(faces),
            "aus": list(au_sweep.PAPER_AUS), "intensities": list(au_sweep.INTENSITIES),
            "au_scale": au_sweep.AU_SCALE, "changed_levels": au_sweep.CHANGED_LEVELS,
            "judge": judge.record, "summary": summary, "rows": rows,
            "provenance": provenance.record(config, "", {}),
            "command": "python experiments/ganimation/single_au_sweep.py " + " ".join(argv[1:])}
  out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
  face = _FIGURE_FACE.value
  tiles = au_sweep.grid(faces[face], {au: stack[:, face] for au, stack in edits.items()})
  viz.save_png(FIGURE, viz.upscale(viz.tile_grid(tiles.astype(np.float32) / 127.5 - 1.0), 900))
  print(au_sweep_table.table(record))
  print(f"{len(faces)} neutral {_SPLIT.value} faces; written {out} and {FIGURE}")


if __name__ == "__main__":
  app.run(main)
