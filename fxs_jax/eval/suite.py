"""``--mode=eval``: the evaluators ``config.evals`` selects, run on what the recipe predicts.

``config.evals`` maps a name to a spec (big_vision's ``config.evals`` pattern)::

    config.evals.pairs = {"type": "pairs", "predict": "edit", "target": "aus", "enabled": True}

``type`` picks the evaluator in ``EVALUATORS``; ``predict`` names one of the recipe's
``predictors``; the other fields are the evaluator's. What an evaluator needs from the data (true
targets, landmarks, AUs, emotion labels) is checked against the examples themselves; what is
missing is skipped with its reason. Settings shared by the evaluators stay in ``config.eval``.

Writes ``<workdir>/eval.json``: the step, the dataset, every (method, metric, value, n) row, the
evaluators' versions and held-out quality, and what was skipped and why.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from fxs_jax import geometry
from fxs_jax import judges
from fxs_jax.data import pipeline
from fxs_jax.errors import DatasetError
from fxs_jax.errors import UserError
from fxs_jax.eval import fer_reads
from fxs_jax.eval import fid
from fxs_jax.eval import harness
from fxs_jax.eval import identity
from fxs_jax.eval import inception
from fxs_jax.eval import motion
from fxs_jax.eval import motion_classifier
from fxs_jax.eval import video


@dataclasses.dataclass
class EvalContext:
  """What an evaluator may use: the config, the recipe, the trained model (``TrainedModel``), the
  eval split, if the ``critic`` evaluator ran its metrics, and ``animate`` (the video pipeline,
  ``fxs_jax.animation.animate``, handed down by the caller: the ``video`` evaluator's
  ``generated_motion`` row loads a MotionGAN run, which the layers below the inference API do
  not)."""

  config: ml_collections.ConfigDict
  recipe: Any
  model: Any
  source: Any
  critic_metrics: dict | None = None
  animate: Callable[..., Any] | None = None


def enabled_evals(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """The enabled specs of ``config.evals``, each checked to name a known evaluator."""
  specs = {}
  for name, spec in (config.get("evals") or {}).items():
    if "type" not in spec:
      raise UserError(f"config.evals.{name} has no type: choose from {', '.join(EVALUATORS)}.")
    if spec.type not in EVALUATORS:
      raise UserError(f"config.evals.{name}.type = {spec.type!r} is not an evaluator: choose "
                      f"from {', '.join(EVALUATORS)}.")
    if spec.get("enabled", True):
      specs[name] = spec
  return specs


def needs_critic(config: ml_collections.ConfigDict) -> bool:
  """Whether an enabled evaluator needs the critic (restored only then)."""
  return any(spec.type == "critic" for spec in enabled_evals(config).values())


def _first_example(source) -> dict:
  if not len(source):
    raise UserError("The eval split is empty: nothing to evaluate.")
  return source[0]


def _predict_fn(ctx: EvalContext, spec) -> Callable:
  if spec.predict not in ctx.model.predictions:
    raise UserError(f"config.evals: {ctx.config.model_name} has no prediction {spec.predict!r}; "
                    f"it has {', '.join(ctx.model.predictions) or 'none'}.")
  return getattr(ctx.model, spec.predict)


# ---- evaluators --------------------------------------------------------------------------------
def critic_rows(name: str, spec, ctx: EvalContext) -> dict:
  """The recipe's ``eval_metrics`` (the critic's judgement) over the split, as model rows."""
  del name, spec
  n = len(ctx.source)
  return {"rows": [{"method": "model", "metric": f"critic_{k}", "value": v, "n": n}
                   for k, v in (ctx.critic_metrics or {}).items()]}


def build_evaluators(config: ml_collections.ConfigDict, image_size: int, fields: set[str]
                     ) -> harness.Evaluators:
  """The judges ``config.eval`` asks for, given the data's ``fields``: the shipped AU regressor
  and classifier where they fit the judged data, else trained ones (``judges.judge``),
  each recorded with its version in ``versions``; each one that cannot be had is skipped with a
  reason."""
  ev = harness.Evaluators()
  wanted = {"au_regressor": "aus", "expression_classifier": "emotion"}
  metric = {"au_regressor": "au_mae", "expression_classifier": "expression_accuracy"}
  folder = None  # the shipped judges' folder; None: trained on first use
  if config.eval.evaluators and set(wanted.values()) & fields:
    folder = judges.judge_source(config, image_size)
  for kind, label in wanted.items():
    if not config.eval.evaluators:
      ev.skipped[metric[kind]] = "config.eval.evaluators=False"
    elif label not in fields:
      ev.skipped[metric[kind]] = f"the data have no {label!r} labels to train the {kind} on"
    else:
      try:
        judge = judges.judge(kind, config, image_size, folder)
      except DatasetError as e:  # e.g. a split smaller than the judge's batch: judge nothing
        cause = str(e).split(":")[0].rstrip(".")  # its own fix names the run's batch, not this
        dataset, _ = judges.judged_data(config)
        ev.skipped[metric[kind]] = (f"the {kind} could not be trained on {dataset} ({cause}); "
                                    "point config.eval.evaluator_dataset at a larger set")
        continue
      setattr(ev, kind, judge.predict)
      if kind == "expression_classifier":
        ev.offline_distribution = functools.partial(fid.classifier_fd_and_is, judge.features,
                                                    judge.predict)
      ev.versions[kind] = judge.record
  if not config.eval.identity:
    ev.skipped["acd_i"] = "config.eval.identity=False"
  elif "landmarks" not in fields:
    ev.skipped["acd_i"] = "the data have no 'landmarks' to align faces for the embedding"
  else:
    try:
      embedder = identity.FaceEmbedder()
      embedder._load()  # pylint: disable=protected-access  # fail here, not mid-evaluation
      ev.face_embedder = embedder
      ev.versions["face_embedder"] = "dlib_face_recognition_resnet_model_v1 (128-d)"
    except UserError as e:
      ev.skipped["acd_i"] = str(e)
  if config.eval.inception_weights:
    weights = config.eval.inception_weights
    inception.load_weights(weights)  # a wrong file fails now, with its name, not after editing
    ev.distribution = lambda fake, real: fid.fid_and_is(fake, real, weights)
    ev.versions["inception"] = weights
  else:
    ev.skipped["fid, inception_score"] = (
        "no Inception weights: pass --config.eval.inception_weights=/path/to/"
        "pt_inception-2015-12-05-6726825d.pth (see fxs_jax/eval/README_inception.md)")
  return ev


def edit_pairs(name: str, spec, ctx: EvalContext) -> dict:
  """Edits of held-out faces towards a same-identity example of another expression (the exact
  truth on SynthFaces), beside copy-the-input and ground-truth rows (``harness``). Optional
  ``spec.input_emotions`` / ``spec.target_emotions`` (comma-separated names, "" = all): only
  faces of those expressions are edited, only towards those (``harness.restriction``)."""
  only = harness.restriction(spec, name)  # a bad name fails before any work
  fields = set(_first_example(ctx.source))
  missing = sorted({"image", "identity", "emotion", spec.target} - fields)
  if missing:
    return {"skipped": {name: f"the data have no {', '.join(map(repr, missing))}: no "
                              "same-identity target pairs"}}
  edit = _predict_fn(ctx, spec)
  config = ctx.config
  evaluators = build_evaluators(config, config.model.image_size, fields)

  def edit_fn(inp, tgt):
    return edit(inp["image"], landmarks=inp.get("landmarks"), **{spec.target: tgt[spec.target]})

  m = ctx.model.config.model  # the trained model's crop windows (LGP-GAN), if it has any
  crop_sizes = ({"eyes": (m.eye_crop_height, m.eye_crop_width),
                 "mouth": (m.mouth_crop_height, m.mouth_crop_width)}
                if "eye_crop_height" in m else None)
  return harness.evaluate_editor(edit_fn, ctx.source, evaluators,
                                 batch_size=config.eval.batch_size,
                                 limit=config.eval.num_examples or None,
                                 seed=harness.pairs_seed(config),
                                 preprocess=ctx.recipe.preprocess, crop_sizes=crop_sizes,
                                 **only)


# The transfer evaluator's default: the cGAN's ``transfer`` prediction, keyword <- batch field.
TRANSFER_INPUTS = {"source_images": "source_image", "target_images": "target_image",
                   "source_landmarks": "source_landmarks", "target_landmarks": "target_landmarks"}


def transfer_pairs(name: str, spec, ctx: EvalContext) -> dict:
  """Image-to-image synthesis on held-out paired examples with exact truth: the recipe's
  eval-split examples with ``target_image`` (the face the model changes: the ``copy_input`` rows)
  and ``image`` (the truth), beside ground-truth rows (``harness``). ``synth_faces/transfer_*``
  for the cGAN transfer; TextureGAN's (neutral frame, frame t) pairs of a sequence.

  ``spec.inputs`` (optional) maps the prediction's input keywords to batch fields (default
  ``TRANSFER_INPUTS``; fields the batch lacks are not passed); the prediction returns the image,
  or a dict with ``image`` and, with landmarks, the fusion module's ``landmarks``: then their
  error (NME, inter-ocular) beside the trivial answers: the target's landmarks unchanged, the
  source's moved onto the target's."""
  
  config = ctx.config
  source = ctx.recipe.examples(ctx.source, config.data.eval_split)
  fields = set(_first_example(source))
  missing = sorted({"target_image", "image"} - fields)
  if missing:
    return {"skipped": {name: f"the data have no {', '.join(map(repr, missing))}: not paired "
                              "transfer examples (use synth_faces/transfer_*)"}}
  _predict_fn(ctx, spec)  # checks the name
  make_inputs = ctx.recipe.predictors()[spec.predict].inputs
  inputs = dict(spec.get("inputs") or TRANSFER_INPUTS)
  evaluators = build_evaluators(config, config.model.image_size, fields)
  count = min(config.eval.num_examples or len(source), len(source))
  nme = {"model": [], "copy_input": [], "source_moved": []}

  def pairs():
    for batch in harness.batches(source, np.arange(count), config.eval.batch_size,
                                 ctx.recipe.preprocess):
      inp = {"image": batch["target_image"], "batch": batch}
      if "target_landmarks" in batch:
        inp["landmarks"] = batch["target_landmarks"]
      yield inp, {k: batch[k] for k in ("image", "landmarks", "aus", "emotion") if k in batch}

  def edit_fn(inp, tgt):
    batch = inp["batch"]
    out = ctx.model.predict(spec.predict, make_inputs(
        **{keyword: batch[field] for keyword, field in inputs.items() if field in batch}))
    if not isinstance(out, dict):
      return out
    if "landmarks" in out and "landmarks" in tgt:
      truth = tgt["landmarks"]
      nme["model"].append(geometry.landmark_nme(out["landmarks"], truth))
      nme["copy_input"].append(geometry.landmark_nme(inp["landmarks"], truth))
      nme["source_moved"].append(geometry.landmark_nme(
          geometry.moved_to(batch["source_landmarks"], inp["landmarks"]), truth))
    return out["image"]

  result = harness.evaluate_batches(edit_fn, pairs(), evaluators)
  for method, values in nme.items():
    if values:
      values = np.concatenate([np.asarray(v) for v in values])
      result["rows"].append({"method": method, "metric": "landmark_nme",
                             "value": float(values.mean()), "n": len(values)})
  return {"num_pairs": count, **result}


def motion_geodesic(name: str, spec, ctx: EvalContext) -> dict:
  """Generated motions against real ones on the SRVF hypersphere (``motion.report``): ``model``
  rows beside ``real_heldout`` ones (the held-out real motions scored as if generated).

  The prediction gets each eval batch and returns the SRVFs, or a dict holding them under
  ``spec.output`` (default "srvf"); ``spec.real`` names the batch's real SRVFs. With class labels
  in the batch (``spec.label``, default "emotion": what generated motion i was asked for, the
  class of real motion i) also the per-class rows: nearest real motions of the TRAIN split of
  the same / other classes, within-class diversity, and the accuracy of a classifier fitted here
  on the train split's real SRVFs (``motion_classifier``; a ``chance`` row gives 1 / classes).
  """
  config, label = ctx.config, spec.get("label", "emotion")
  first = ctx.recipe.preprocess(_first_example(ctx.recipe.examples(
      ctx.source, config.data.eval_split)), None)
  if spec.real not in first:
    return {"skipped": {name: f"the recipe's examples have no {spec.real!r}"}}
  _predict_fn(ctx, spec)  # checks the name
  generated, real, classes = [], [], []
  for batch in ctx.recipe.eval_batches(ctx.source, config.data.eval_split,
                                       config.eval.batch_size, config.seed,
                                       limit=config.eval.num_examples or None):
    out = ctx.model.predict(spec.predict, batch)
    # A prediction with several outputs names its SRVFs in the spec (e.g. output="srvf").
    generated.append(np.asarray(out[spec.get("output", "srvf")] if isinstance(out, dict) else out))
    real.append(np.asarray(batch[spec.real]))
    classes.append(np.asarray(batch[label]) if label in batch else None)
  if not generated:
    return {"skipped": {name: "fewer eval examples than config.eval.batch_size"}}
  generated, real = np.concatenate(generated), np.concatenate(real)
  if classes[0] is None:
    return {"rows": motion.report(generated, real),
            "skipped": {f"{name} per class": f"the examples have no {label!r} labels"}}
  classes = np.concatenate(classes)
  train_real, train_classes = _train_motions(ctx, spec.real, label)
  result = {"rows": [], "evaluators": {}}
  classify = None
  if len(np.unique(train_classes)) < 2:
    result["skipped"] = {"motion_class_accuracy": "the train split has fewer than two classes"}
  else:
    started = time.perf_counter()
    classifier = motion_classifier.fit(train_real, train_classes)
    classify = classifier.predict
    result["rows"].append({"method": "chance", "metric": "motion_class_accuracy",
                           "value": 1.0 / len(classifier.classes_K),
                           "n": len(classifier.classes_K)})
    result["evaluators"]["motion_classifier"] = {
        "kind": "multinomial logistic regression on log-mapped SRVFs at the train Karcher mean "
                f"(L2 {motion_classifier.L2}), fitted at eval time on real motions only",
        "train_split": config.data.train_split, "num_train": len(train_classes),
        "classes": classifier.classes_K.tolist(), "train_accuracy": classifier.train_accuracy,
        "held_out": {"accuracy": classifier.accuracy(real, classes), "n": len(classes)},
        "fit_seconds": round(time.perf_counter() - started, 2)}
  if config.data.train_split == config.data.eval_split:  # the held-out reals are the reference
    train_real = train_classes = None
  result["rows"] = motion.report(generated, real, classes, train_real, train_classes,
                                 classify) + result["rows"]
  return result


def _train_motions(ctx: EvalContext, field: str, label: str) -> tuple[np.ndarray, np.ndarray]:
  """The real SRVFs ``field`` and classes ``label`` of the recipe's train-split examples."""
  split = ctx.config.data.train_split
  source = pipeline.load(ctx.config.data, [split])[split]
  examples = [ctx.recipe.preprocess(e, None) for e in ctx.recipe.examples(source, split)]
  return (np.stack([np.asarray(e[field]) for e in examples]),
          np.asarray([e[label] for e in examples]))


EVALUATORS: dict[str, Callable[[str, Any, EvalContext], dict]] = {
    "critic": critic_rows, "pairs": edit_pairs, "transfer": transfer_pairs,
    "motion": motion_geodesic, "video": video.video_identity, "fer": fer_reads.fer_rows}


def run_evals(ctx: EvalContext, workdir: Path, step: int, provenance: dict | None = None
              ) -> dict:
  """Runs every enabled evaluator and writes ``workdir/eval.json``; returns its content, with
  ``provenance`` (the commit, config, seed and command: ``eval.provenance.record``)."""
  result = {"step": step, "model": ctx.config.model_name, "dataset": ctx.config.data.name,
            "split": ctx.config.data.eval_split, "seed": int(ctx.config.seed), "rows": [],
            "evaluators": {}, "skipped": {}, "evals": {}, "provenance": provenance or {}}
  for name, spec in enabled_evals(ctx.config).items():
    out = EVALUATORS[spec.type](name, spec, ctx)
    result["evals"][name] = spec.type
    result["rows"] += out.get("rows", [])
    result["evaluators"].update(out.get("evaluators", {}))
    result["skipped"].update(out.get("skipped", {}))
    if "num_pairs" in out:
      result["num_pairs"] = out["num_pairs"]
  (Path(workdir) / "eval.json").write_text(json.dumps(result, indent=2, sort_keys=True))
  return result
