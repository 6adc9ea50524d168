"""``--mode=eval`` for editing models: build the independent evaluators, run the harness, save.

Writes ``<workdir>/eval.json``: the step, the dataset, every (method, metric, value, n) row,
the evaluators used (with their own held-out quality) and what was skipped and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import ml_collections

from fxs_jax.errors import UserError
from fxs_jax.eval import harness


def build_evaluators(config: ml_collections.ConfigDict, image_size: int) -> harness.Evaluators:
  """The judges ``config.eval`` asks for; each one that cannot be had is skipped with a reason."""
  ev = harness.Evaluators()
  dataset = config.data.name
  if not config.eval.evaluators:
    ev.skipped["au_mae, expression_accuracy"] = "config.eval.evaluators=False"
  elif not dataset.startswith("synth_faces/stills"):
    ev.skipped["au_mae, expression_accuracy"] = (
        f"evaluators are trained on SynthFaces; {dataset} has no matching trained evaluator")
  else:
    from fxs_jax.eval import evaluators  # pylint: disable=g-import-not-at-top
    from fxs_jax.train import supervised  # pylint: disable=g-import-not-at-top
    for kind in ("au_regressor", "expression_classifier"):
      workdir = evaluators.ensure_trained(kind, image_size, config.data.data_dir or None,
                                          config.eval.evaluator_dir or None, dataset=dataset)
      predict, step = supervised.load_evaluator(None, workdir)
      setattr(ev, kind, predict)
      quality = json.loads((workdir / "eval.json").read_text())
      ev.versions[kind] = {"workdir": str(workdir), "step": step,
                           "held_out": {k: v for k, v in quality.items()
                                        if k in ("accuracy", "au_mae")}}
  if config.eval.identity:
    from fxs_jax.eval import identity  # pylint: disable=g-import-not-at-top
    try:
      embedder = identity.FaceEmbedder()
      embedder._load()  # pylint: disable=protected-access  # fail here, not mid-evaluation
      ev.face_embedder = embedder
      ev.versions["face_embedder"] = "dlib_face_recognition_resnet_model_v1 (128-d)"
    except UserError as e:
      ev.skipped["acd_i"] = str(e)
  else:
    ev.skipped["acd_i"] = "config.eval.identity=False"
  if config.eval.inception_weights:
    from fxs_jax.eval import fid  # pylint: disable=g-import-not-at-top
    from fxs_jax.eval import inception  # pylint: disable=g-import-not-at-top
    weights = config.eval.inception_weights
    inception.load_weights(weights)  # a wrong file fails now, with its name, not after editing
    ev.distribution = lambda fake, real: fid.fid_and_is(fake, real, weights)
    ev.versions["inception"] = weights
  else:
    ev.skipped["fid, inception_score"] = (
        "no Inception weights: pass --config.eval.inception_weights=/path/to/"
        "pt_inception-2015-12-05-6726825d.pth (see fxs_jax/eval/README_inception.md)")
  return ev


def run_eval(recipe, gen, source, config: ml_collections.ConfigDict, workdir: Path, step: int,
             extra_rows: dict | None = None) -> dict:
  """Evaluates ``recipe.editor(gen)`` on ``source`` and writes ``workdir/eval.json``."""
  evaluators = build_evaluators(config, config.model.image_size)
  result = harness.evaluate_editor(recipe.editor(gen), source, evaluators,
                                   batch_size=config.eval.batch_size,
                                   limit=config.eval.num_examples or None, seed=config.seed)
  for metric, value in (extra_rows or {}).items():
    result["rows"].append({"method": "model", "metric": metric, "value": value,
                           "n": result["num_pairs"]})
  result = {"step": step, "model": config.model_name, "dataset": config.data.name,
            "split": config.data.eval_split, **result}
  (Path(workdir) / "eval.json").write_text(json.dumps(result, indent=2, sort_keys=True))
  return result
