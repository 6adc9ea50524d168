"""Held-out evaluation of an expression editor against ground truth and reference rows.

Pairs: every held-out example is edited towards another example of the SAME identity with a
DIFFERENT expression. On SynthFaces (and RaFD-like sets) that target example is the exact ground
truth: the same face, rendered with the target AUs / emotion. Each metric is computed for three
methods side by side, so a number can be read:

* ``model``: the editor's output;
* ``copy_input``: the unedited input (what a model that does nothing scores);
* ``ground_truth``: the target example itself (the best achievable; evaluator error floor).

Data without true targets (no identity photographed with two expressions: GANimation's AU-labelled
photos) are evaluated unpaired (:func:`unpaired_targets`): each input is edited towards another
example's label, and only what needs no truth is measured (the judges' AU error and expression
accuracy against the requested label, the Fréchet distance to the split's photos, the identity
distance to the input), beside ``copy_input`` and ``target_example`` (the photo whose label was
requested: the judges' floor); the pair metrics are skipped with their reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from fxs_jax import facs
from fxs_jax.data import augment
from fxs_jax.data import pipeline
from fxs_jax.data import target_pairs
from fxs_jax.eval import artefacts
from fxs_jax.eval import image_metrics

Batch = dict[str, np.ndarray]
EditFn = Callable[[Batch, Batch], np.ndarray]  # (inputs, targets) -> images in [-1, 1]
METHODS = ("model", "copy_input", "ground_truth")
PAIR_METRICS = ("ssim_vs_truth", "psnr_vs_truth", "ssim_eyes", "ssim_mouth", "psnr_eyes",
                "psnr_mouth", "au_mae", "expression_accuracy", "acd_i", "checkerboard_rms",
                "seam_strength", "colour_shift", "error_where_kept", "error_where_changed")
_PSNR_OF_MEAN_MSE = ("psnr_eyes", "psnr_mouth")  # a box can be unchanged: its PSNR is inf
UNPAIRED_METHODS = ("model", "copy_input", "target_example")
# What an unpaired evaluation can measure (no true target image).
UNPAIRED_METRICS = ("au_mae", "expression_accuracy", "acd_i")
NO_TRUTH = ("no true targets: the split shows no identity with two expressions, so no photo "
            "says what the edit should look like (pair metrics need the same face with the "
            "requested expression)")


@dataclasses.dataclass
class Evaluators:
  """Independent judges; any may be None (its metrics are then skipped and the reason kept)."""

  au_regressor: Callable[[np.ndarray], np.ndarray] | None = None  # [-1,1] -> (B, 17) on 0-5
  expression_classifier: Callable[[np.ndarray], np.ndarray] | None = None  # -> (B, 8) logits
  face_embedder: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # uint8, lms
  distribution: Callable[[np.ndarray, np.ndarray], dict] | None = None  # FID/IS (fake, real)
  # The same on the expression classifier's features / logits (offline, SynthFaces-specific).
  offline_distribution: Callable[[np.ndarray, np.ndarray], dict] | None = None
  versions: dict = dataclasses.field(default_factory=dict)
  skipped: dict = dataclasses.field(default_factory=dict)


def emotion_set(names: str, what: str) -> frozenset[int] | None:
  """The labels of the comma-separated expression ``names`` (``what`` names the setting in the
  error for an unknown one); None for "" (every expression)."""
  chosen = [name.strip() for name in (names or "").split(",") if name.strip()]
  return frozenset(facs.emotion_index(name, what) for name in chosen) if chosen else None


def restriction(spec, name: str) -> dict:
  """The optional ``input_emotions`` / ``target_emotions`` fields of evaluator spec ``name``
  (comma-separated names, "" or absent = every expression) as :func:`eval_pairs`' keywords: which
  held-out examples are edited, and towards which expressions (e.g. a two-domain CycleGAN's:
  its domain A faces towards its domain B)."""
  return {key: emotion_set(spec.get(key, ""), f"config.evals.{name}.{key}")
          for key in ("input_emotions", "target_emotions")}


def _inputs_and_emotions(source, limit: int | None, input_emotions, target_emotions
                         ) -> tuple[list[int], np.ndarray | None]:
  """The candidate inputs: the first ``limit`` examples whose emotion is in ``input_emotions``
  (None: any); and every example's emotion label where a restriction needs them."""
  if input_emotions is None and target_emotions is None:
    return list(range(len(source) if limit is None else min(limit, len(source)))), None
  emotions = np.asarray([int(source[i]["emotion"]) for i in range(len(source))])
  candidates = [i for i in range(len(source))
                if input_emotions is None or emotions[i] in input_emotions]
  return candidates[:limit], emotions


def same_identity_pairs(source, limit: int | None = None, seed: int = 0,
                        input_emotions=None, target_emotions=None
                        ) -> tuple[np.ndarray, np.ndarray]:
  """(input indices, target indices): each input paired with a random other-expression example
  of its identity (deterministic in ``seed``). Examples without such a partner are left out.

  ``input_emotions`` / ``target_emotions`` (sets of labels, None = all): only examples of those
  expressions are inputs (the first ``limit`` of them) / targets."""
  candidates, emotions = _inputs_and_emotions(source, limit, input_emotions, target_emotions)
  partners = target_pairs.same_identity_partners(source)
  rng = np.random.default_rng(seed)
  inputs, targets = [], []
  for i in candidates:
    options = partners[i]
    if target_emotions is not None:
      options = options[np.isin(emotions[options], list(target_emotions))]
    if len(options):
      inputs.append(i)
      targets.append(int(options[rng.integers(len(options))]))
  return np.asarray(inputs, int), np.asarray(targets, int)


def unpaired_targets(source, limit: int | None = None, seed: int = 0,
                     input_emotions=None, target_emotions=None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """(input indices, target indices) for data without true targets: each input paired with a
  random other example of another expression (any identity; any other example if the split
  has one expression), whose label is the edit's request. Deterministic in ``seed``.
  ``input_emotions`` / ``target_emotions``: as :func:`same_identity_pairs`."""
  candidates, emotions = _inputs_and_emotions(source, limit, input_emotions, target_emotions)
  if emotions is None:
    emotions = np.asarray([int(source[i]["emotion"]) for i in range(len(source))])
  allowed = (np.ones(len(source), bool) if target_emotions is None
             else np.isin(emotions, list(target_emotions)))
  rng = np.random.default_rng(seed)
  inputs, targets = [], []
  for i in candidates:
    others = np.flatnonzero((emotions != emotions[i]) & allowed)
    if not len(others) and target_emotions is None:
      others = np.delete(np.arange(len(source)), i)
    if len(others):
      inputs.append(i)
      targets.append(int(others[rng.integers(len(others))]))
  return np.asarray(inputs, int), np.asarray(targets, int)


def pairs_seed(config) -> int:
  """Which held-out pairs are judged: ``config.eval.pairs_seed``, not the training seed, so that
  every seed of a run is judged on the same pairs (``fxs_jax.config_upgrade`` gives a config saved
  without the key its training seed, 0 for every published run)."""
  return int(config.eval.pairs_seed)


def eval_pairs(source, limit: int | None = None, seed: int = 0, input_emotions=None,
               target_emotions=None) -> tuple[np.ndarray, np.ndarray, bool]:
  """(input indices, target indices, truth): the same-identity pairs when the split has them
  (``truth``: each target is the input's true edit), else :func:`unpaired_targets` (e.g.
  AU-labelled photos: one photo per face); either restricted to ``input_emotions`` /
  ``target_emotions`` (:func:`restriction`)."""
  only = dict(input_emotions=input_emotions, target_emotions=target_emotions)
  inputs, targets = same_identity_pairs(source, limit, seed, **only)
  if len(inputs):
    return inputs, targets, True
  return (*unpaired_targets(source, limit, seed, **only), False)


def batches(source, indices: np.ndarray, batch_size: int,
            preprocess: pipeline.PreprocessFn) -> Iterator[Batch]:
  """The examples at ``indices``, preprocessed (no augmentation) and stacked in batches."""
  for start in range(0, len(indices), batch_size):
    examples = [preprocess(source[int(i)], None) for i in indices[start:start + batch_size]]
    yield {k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]}


class _Mean:
  """A running mean; ``finish`` maps it to the reported value (e.g. a mean MSE to its PSNR)."""

  def __init__(self, finish=float):
    self.total, self.count, self.finish = 0.0, 0, finish

  def add(self, values) -> None:
    values = np.asarray(values, np.float64).ravel()
    values = values[~np.isnan(values)]  # NaN = not measurable (e.g. no face); inf is kept
                                        # (PSNR of identical images)
    self.total += float(values.sum())
    self.count += values.size

  @property
  def value(self) -> float:
    return self.finish(self.total / self.count)


def evaluate_editor(edit_fn: EditFn, source, evaluators: Evaluators, batch_size: int = 16,
                    limit: int | None = None, seed: int = 0,
                    preprocess: pipeline.PreprocessFn | None = None,
                    crop_sizes: dict | None = None, upsampling_levels: int = 2,
                    input_emotions=None, target_emotions=None) -> dict:
  """Metrics of ``model`` / ``copy_input`` / ``ground_truth`` on same-identity pairs (of
  ``input_emotions`` towards ``target_emotions`` only, if given: :func:`eval_pairs`).

  Returns ``{"num_pairs", "rows": [{"method", "metric", "value", "n"}], "evaluators",
  "skipped"}``. Metrics: ``ssim_vs_truth``, ``psnr_vs_truth`` (whole face), ``ssim_eyes`` /
  ``ssim_mouth`` (boxes from the target's landmarks), ``psnr_eyes`` / ``psnr_mouth`` (the PSNR
  of the boxes' MSE averaged over the pairs: finite when some boxes are unchanged), ``au_mae``
  (AU regressor on the output vs the target's AUs, 0-5 scale), ``expression_accuracy``
  (classifier's argmax vs the target's emotion), ``acd_i`` (face-embedding distance output vs
  input), ``fid`` / ``inception_score``.
  Examples need ``image``, ``identity`` and ``emotion``; the box metrics and ACD-I also need
  ``landmarks``, the AU error ``aus`` (metrics whose inputs the data lack are left out).
  ``preprocess`` is the recipe's (default: stills, no flip). Artefact measures
  (``fxs_jax.eval.artefacts``, on output minus truth): ``checkerboard_rms`` (periods of
  ``upsampling_levels`` stride-2 up-samplings), ``seam_strength`` (across the borders of the crop
  windows of ``crop_sizes``, default LGP-GAN's), ``colour_shift`` (tint inside the eye and mouth
  boxes), ``error_where_kept`` / ``error_where_changed`` (mean absolute error on the pixels the
  truth keeps from the input / changes; ``artefacts.changed_pixels``).
  """
  preprocess = preprocess or pipeline.stills_preprocess(flip=False)
  inputs, targets, truth = eval_pairs(source, limit, seed, input_emotions, target_emotions)
  if not len(inputs):
    why = ("fewer than two examples in the split"
           if input_emotions is None and target_emotions is None else
           "no held-out example of the input emotions has a target of the target emotions")
    return {"num_pairs": 0, "rows": [], "evaluators": evaluators.versions,
            "skipped": {**evaluators.skipped, "pairs": why}}
  pairs = zip(batches(source, inputs, batch_size, preprocess),
              batches(source, targets, batch_size, preprocess))
  result = evaluate_batches(edit_fn, pairs, evaluators, crop_sizes, upsampling_levels, truth)
  return {"num_pairs": int(len(inputs)), **result}


def evaluate_batches(edit_fn: EditFn, pairs, evaluators: Evaluators,
                     crop_sizes: dict | None = None, upsampling_levels: int = 2,
                     truth: bool = True) -> dict:
  """``evaluate_editor``'s metrics on given ``(inputs, targets)`` batch pairs: ``inputs["image"]``
  is what copying the input returns (a transfer model's target face), ``targets`` hold the truth
  (``image``, and ``landmarks`` / ``aus`` / ``emotion`` where the data have them).

  ``truth=False``: the targets are other faces whose labels are the requests, not true targets:
  only :data:`UNPAIRED_METRICS` (and the distribution metrics) are measured, for
  :data:`UNPAIRED_METHODS`, the identity distance on the output aligned with the INPUT's
  landmarks; the pair metrics are listed as skipped with :data:`NO_TRUTH`."""
  methods = METHODS if truth else UNPAIRED_METHODS
  means = {(m, k): _Mean(image_metrics.psnr_of_mse if k in _PSNR_OF_MEAN_MSE else float)
           for m in methods for k in PAIR_METRICS}
  distributions = [f for f in (evaluators.distribution, evaluators.offline_distribution) if f]
  generated = {m: [] for m in methods} if distributions else None
  reals = []
  for inp, tgt in pairs:
    outputs = dict(zip(methods, (np.asarray(edit_fn(inp, tgt), np.float32), inp["image"],
                                 tgt["image"])))
    if not truth:
      _add_unpaired(means, outputs, inp, tgt, evaluators)
      if generated is not None:
        for method, out in outputs.items():
          generated[method].append(out)
        reals.append(tgt["image"])
      continue
    size = tgt["image"].shape[1]
    changed = artefacts.changed_pixels(inp["image"], tgt["image"])
    boxes = seams = None
    if "landmarks" in tgt:
      boxes = image_metrics.region_boxes(tgt["landmarks"], size)
      seams = artefacts.crop_boxes(tgt["landmarks"], size, crop_sizes)
    input_embedding = None
    if evaluators.face_embedder is not None and "landmarks" in inp:
      input_embedding = evaluators.face_embedder(augment.to_uint8(inp["image"]), inp["landmarks"])
    for method, out in outputs.items():
      means[method, "ssim_vs_truth"].add(image_metrics.ssim(out, tgt["image"]))
      means[method, "psnr_vs_truth"].add(image_metrics.psnr(out, tgt["image"]))
      means[method, "checkerboard_rms"].add(
          artefacts.checkerboard_rms(out, tgt["image"], upsampling_levels))
      means[method, "error_where_kept"].add(artefacts.error_inside(out, tgt["image"], ~changed))
      means[method, "error_where_changed"].add(artefacts.error_inside(out, tgt["image"], changed))
      if boxes is not None:
        for region in ("eyes", "mouth"):
          means[method, f"ssim_{region}"].add(
              image_metrics.region_ssim(out, tgt["image"], boxes[region]))
          means[method, f"psnr_{region}"].add(  # a mean MSE, reported as its PSNR
              image_metrics.region_mse(out, tgt["image"], boxes[region]))
          means[method, "colour_shift"].add(
              artefacts.colour_shift(out, tgt["image"], boxes[region]))
          means[method, "seam_strength"].add(
              artefacts.seam_strength(out, tgt["image"], seams[region]))
      # The output should have the target's geometry: aligned with the target's landmarks.
      _add_judged(means, method, out, tgt, evaluators, input_embedding, tgt.get("landmarks"))
      if generated is not None:
        generated[method].append(out)
    if generated is not None:
      reals.append(tgt["image"])
  rows = [{"method": m, "metric": k, "value": acc.value, "n": acc.count}
          for (m, k), acc in means.items() if acc.count]
  skipped = dict(evaluators.skipped)
  if not truth:
    skipped[", ".join(k for k in PAIR_METRICS if k not in UNPAIRED_METRICS)] = NO_TRUTH
  if generated is not None:
    real = np.concatenate(reals)
    for method in methods:
      for metric, value in {k: v for fn in distributions
                            for k, v in fn(np.concatenate(generated[method]), real).items()}.items():
        rows.append({"method": method, "metric": metric, "value": value, "n": len(real)})
  return {"rows": rows, "evaluators": evaluators.versions, "skipped": skipped}


def _hits(logits, emotions) -> np.ndarray:
  """1 where the classifier's argmax is the emotion, 0 where not, NaN (not counted) where the
  example has no label (-1: e.g. CK+'s unlabelled sequences)."""
  emotions = np.asarray(emotions)
  hits = (np.argmax(logits, axis=-1) == emotions).astype(np.float64)
  return np.where(emotions >= 0, hits, np.nan)


def _add_unpaired(means: dict, outputs: dict, inp: Batch, tgt: Batch,
                  evaluators: Evaluators) -> None:
  """The metrics that need no true target, for each method's ``outputs`` of one batch: the
  judges against the requested ``aus`` / ``emotion``, the identity distance to the input."""
  input_embedding = None
  if evaluators.face_embedder is not None and "landmarks" in inp:
    input_embedding = evaluators.face_embedder(augment.to_uint8(inp["image"]), inp["landmarks"])
  for method, out in outputs.items():
    # An edit keeps the input's geometry but for the expression: aligned with its landmarks.
    # The target example is another face (the distance between two people, for scale).
    own = tgt.get("landmarks") if method == "target_example" else inp.get("landmarks")
    _add_judged(means, method, out, tgt, evaluators, input_embedding, own)


def _add_judged(means: dict, method: str, out: np.ndarray, tgt: Batch, evaluators: Evaluators,
                input_embedding: np.ndarray | None, landmarks: np.ndarray | None) -> None:
  """The judges' metrics of one method's output: AU error and accuracy against the target's
  labels, and the identity distance to the input (``out`` aligned with ``landmarks``)."""
  if evaluators.au_regressor is not None and "aus" in tgt:
    means[method, "au_mae"].add(np.abs(evaluators.au_regressor(out) - tgt["aus"]).mean(1))
  if evaluators.expression_classifier is not None:
    means[method, "expression_accuracy"].add(
        _hits(evaluators.expression_classifier(out), tgt["emotion"]))
  if input_embedding is not None and landmarks is not None:
    emb = evaluators.face_embedder(augment.to_uint8(out), landmarks)
    means[method, "acd_i"].add(np.linalg.norm(emb - input_embedding, axis=-1))


def format_table(result: dict) -> str:
  """Metrics as rows, methods as columns (markdown): the editing methods first, then any other
  method the rows name (e.g. a motion evaluator's reference)."""
  metrics = list(dict.fromkeys(r["metric"] for r in result["rows"]))
  present = dict.fromkeys(r["method"] for r in result["rows"])
  methods = [m for m in METHODS if m in present] + [m for m in present if m not in METHODS]
  value = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  lines = ["| metric | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
  for metric in metrics:
    cells = [f"{value[m, metric]:.4f}" if (m, metric) in value else "-" for m in methods]
    lines.append(f"| {metric} | " + " | ".join(cells) + " |")
  for name, reason in result.get("skipped", {}).items():
    lines.append(f"\n{name}: skipped ({reason})")
  return "\n".join(lines)
