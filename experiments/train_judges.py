"""Trains the SynthFaces judges once and writes them into the package as versioned files.

  python experiments/train_judges.py                      # train both, write the package folder
  python experiments/train_judges.py --from_dir=DIR       # export DIR/<kind>_64, trained already

Trains the AU regressor and the expression classifier with their default configs
(``configs/au_regressor.py``, ``configs/expression_classifier.py``) on SynthFaces ``stills_64``
train, as ``fxs_jax.judges.ensure_trained`` does, into ``--workdir/<kind>_64`` (or takes
them from ``--from_dir``, checked to be those defaults, fully trained). Each is written with
``fxs_jax.judges.shipped.write``, read back as eval reads it, and measured on validation
and test (``judge.json``'s ``held_out``) and on freshly rendered test-identity transfer pairs and
sequence frames (``also_read``: the other 64 px data the shipped judges read). The package folder
``--out`` is replaced whole: written beside it, then renamed.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from fxs_jax.data import builders  # pylint: disable=g-import-not-at-top
from fxs_jax.data import pipeline  # pylint: disable=g-import-not-at-top
from fxs_jax.data import synth_faces_examples  # pylint: disable=g-import-not-at-top
from fxs_jax.errors import UserError  # pylint: disable=g-import-not-at-top
from fxs_jax.judges import metrics as judge_metrics  # pylint: disable=g-import-not-at-top
from fxs_jax import judges  # pylint: disable=g-import-not-at-top
from fxs_jax import provenance  # pylint: disable=g-import-not-at-top
from fxs_jax.judges import shipped as shipped_judges  # pylint: disable=g-import-not-at-top
from fxs_jax.judges import training  # pylint: disable=g-import-not-at-top

SIZE, FOLDER = 64, "synthfaces_64"
COMMAND = "python experiments/train_judges.py"
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir ('' = TFDS' default).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/judges", "Where the judges train (<kind>_64).")
_FROM_DIR = flags.DEFINE_string("from_dir", "", "Export the judges trained in DIR/<kind>_64 by "
                                "judges.ensure_trained (read only) instead of training.")
_OUT = flags.DEFINE_string("out", str(shipped_judges.JUDGES_DIR / FOLDER), "The folder written.")
_VERSION = flags.DEFINE_integer("version", 0, "n of synthfaces64-n (0 = one above --out's).")


def trained_workdir(kind: str) -> Path:
  """``kind``'s workdir: trained here on first use, or ``--from_dir``'s, checked."""
  if not _FROM_DIR.value:
    return judges.ensure_trained(kind, SIZE, _DATA_DIR.value or None, _WORKDIR.value)
  workdir = Path(_FROM_DIR.value).expanduser() / f"{kind}_{SIZE}"
  default = judges.default_config(kind, SIZE)
  if not (workdir / "eval.json").is_file():
    raise UserError(f"{workdir} holds no finished {kind} (no eval.json): wait for its training, "
                    f"or run {COMMAND} without --from_dir.")
  saved = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  if not judges.same_training(saved, default):
    raise UserError(f"{workdir} was trained with another config than configs/{kind}.py's "
                    "default: the shipped judges are the defaults.")
  return workdir


def next_version(out: Path) -> str:
  prefix = shipped_judges.VERSION_PREFIX[FOLDER]
  if _VERSION.value:
    return f"{prefix}-{_VERSION.value}"
  shipped = out / judges.KINDS[0] / shipped_judges.JUDGE_FILE
  n = int(json.loads(shipped.read_text())["version"].rpartition("-")[2]) if shipped.exists() else 0
  return f"{prefix}-{n + 1}"


def rendered_test_data() -> dict:
  """Freshly rendered test identities of the other 64 px data the judges read: transfer pairs'
  truths and sources (stills_64 test ids) and sequences' frames (sequences_64 test ids)."""
  kinds = {}
  for kind in ("transfer", "sequences"):
    builder = builders.get_builder(f"synth_faces/{kind}_{SIZE}")
    ids = range(builder.builder_config.num_train_identities,
                builder.builder_config.num_train_identities
                + builder.builder_config.num_test_identities)
    images, aus, emotions, apex = [], [], [], []
    for i in ids:
      job = synth_faces_examples.Job(kind, SIZE, i, num_frames=builder.builder_config.num_frames,
                                     split_ids=(ids.start, ids.stop))
      for _, ex in synth_faces_examples.identity_examples(job, encode=False):
        if kind == "transfer":
          images += [ex["image"], ex["source_image"]]
          aus += [ex["aus"], ex["aus"]]
          emotions += [ex["emotion"]] * 2
          apex += [True, True]
        else:
          images += list(ex["frames"])
          aus += list(ex["aus"])
          emotions += [ex["emotion"]] * len(ex["frames"])
          apex += [False] * (len(ex["frames"]) - 1) + [True]  # the last frame is the apex
    kinds[f"synth_faces/{kind}_{SIZE} test ids [{ids.start}, {ids.stop}), rendered"] = {
        "image": np.stack(images).astype(np.float32) / 127.5 - 1, "aus": np.stack(aus),
        "emotion": np.asarray(emotions), "apex": np.asarray(apex)}
  return kinds


def also_read(judge, rendered: dict) -> dict:
  """The judge's quality on each rendered set: the classifier on the frames that show the
  emotion fully (transfer truths and sources, sequence apexes), the AU regressor on all."""
  out = {}
  for name, data in rendered.items():
    if judge.kind == "expression_classifier":
      logits = judge.predict(data["image"][data["apex"]])
      metrics = judge_metrics.classification_metrics(logits, data["emotion"][data["apex"]])
      out[name] = {"accuracy": metrics["accuracy"], "num_examples": int(data["apex"].sum())}
    else:
      metrics = judge_metrics.au_errors(judge.predict(data["image"]), data["aus"])
      out[name] = {"au_mae": metrics["au_mae"], "au_mae_active": metrics["au_mae_active"],
                   "num_examples": len(data["image"])}
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("No positional arguments.")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  out = Path(_OUT.value).expanduser().absolute()
  version = next_version(out)
  workdirs = {kind: trained_workdir(kind) for kind in judges.KINDS}
  data_config = judges.default_config(judges.KINDS[0], SIZE, data_dir=_DATA_DIR.value).data
  sources = pipeline.load(data_config, ["validation", "test"])
  tfds_version = str(builders.get_builder(data_config.name, _DATA_DIR.value or None).version)
  rendered = rendered_test_data()
  tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    for kind, workdir in workdirs.items():
      config = judges.default_config(kind, SIZE)  # what trained it, without a local data_dir
      _, state, step = training.restore_state(config, workdir)
      trained_provenance = workdir / "provenance.json"
      commit = (json.loads(trained_provenance.read_text()) if trained_provenance.exists()
                else provenance.source_commit())
      info = {"version": version, "step": int(step),
              "trained_on": {"dataset": data_config.name, "tfds_version": tfds_version,
                             "split": config.data.train_split},
              "held_out": {"validation": {}, "test": {}},
              "commit": commit["commit"], "dirty": bool(commit.get("dirty", False)),
              "command": COMMAND, "exported_by": " ".join(["python", *sys.argv])}
      directory = shipped_judges.write(tmp / kind, config, state.params, info)
      judge = shipped_judges.load.__wrapped__(kind, tmp)  # read back as eval reads it
      info["held_out"] = {split: training.evaluate_evaluator(judge.predict, kind, sources[split])
                          for split in ("validation", "test")}
      info["also_read"] = also_read(judge, rendered)
      written = json.loads((directory / shipped_judges.JUDGE_FILE).read_text())
      (directory / shipped_judges.JUDGE_FILE).write_text(
          json.dumps({**written, **info}, indent=2, sort_keys=True))
      print(f"{kind} {version}: " + json.dumps(
          {"held_out": {s: shipped_judges.headline(m) for s, m in info["held_out"].items()},
           "also_read": info["also_read"]}), flush=True)
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
      out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
  print(f"Wrote {out} ({version}, {size / 2**20:.1f} MiB).")


if __name__ == "__main__":
  app.run(main)
