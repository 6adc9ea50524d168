"""The ``video`` evaluator: identity through expression videos (the video papers' ACD and ACD-I).

For held-out sequences (frame 0 neutral, ``frames`` (T, H, W, 3), ``landmarks`` (T, 68, 2),
``emotion``), four ways of making the T frames, each scored by dlib face embeddings aligned with
the frames' landmarks (``fxs_jax.eval.identity``):

* ``model``: the texture model's ``spec.predict`` (TextureGAN's ``render_frames``) of frame 0 and
  each true frame's landmarks;
* ``copy_input``: frame 0 repeated (ACD and ACD-I 0: what a model that changes nothing scores);
* ``ground_truth``: the true frames (the expression's own change of the embedding);
* ``generated_motion``: the whole pipeline (``fxs_jax.animation.animate``, the context's
  ``animate``) on frame 0 with the sequence's expression, when ``config.video.motion`` names a
  MotionGAN run.

``acd``: mean pairwise embedding distance between a video's frames; ``acd_i``: mean distance of
each frame to the input (neutral) face. Per-frame SSIM / PSNR against the true frames are the
``transfer`` evaluator's (``config.evals.frames``).

A prediction that makes clips from noise and an expression class, with no input face (declared
conditioned on ``motion_class`` alone and returning frames: MoCoGAN's ``sample_video``), is
scored by :func:`sampled_identity` instead; one that makes them from a face and a class
(VGAN's ``animate_face``) by :func:`animated_identity`.
"""

from __future__ import annotations

import numpy as np

from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.eval import image_metrics
from fxs_jax.errors import UserError

SEQUENCE_FIELDS = ("frames", "landmarks", "emotion")
SAMPLED_PER_CALL = 64  # clips sampled from noise per call of the prediction


def _sequences(ctx, limit: int):
  """(frames uint8 (V, T, H, W, 3), landmarks (V, T, 68, 2), emotions (V,)) of the first
  ``limit`` (0: all) held-out sequences, preprocessed as the recipe trains on them."""
  count = len(ctx.source) if not limit else min(limit, len(ctx.source))
  frames, landmarks, emotions = [], [], []
  for i in range(count):
    example = ctx.recipe.preprocess({k: np.asarray(v) for k, v in ctx.source[i].items()}, None)
    frames.append(np.stack([viz.to_uint8(f) for f in example["frames"]]))
    landmarks.append(np.asarray(example["landmarks"], np.float32))
    emotions.append(int(example["emotion"]))
  return np.stack(frames), np.stack(landmarks), np.asarray(emotions)


def video_identity(name: str, spec, ctx) -> dict:
  """Rows (method, ``acd`` / ``acd_i``) for the methods above; ``n`` counts videos / pairs."""
  from fxs_jax.eval import identity  # lazy: dlib, an optional dependency
  config = ctx.config
  if not len(ctx.source) or any(k not in ctx.source[0] for k in SEQUENCE_FIELDS):
    return {"skipped": {name: "the eval split holds no sequences (frames, landmarks, emotion)"}}
  if not config.eval.identity:
    return {"skipped": {name: "config.eval.identity=False"}}
  embedder = identity.FaceEmbedder()
  try:
    embedder._load()  # pylint: disable=protected-access  # fail here, not mid-evaluation
  except UserError as e:
    return {"skipped": {name: str(e)}}
  frames, landmarks, emotions = _sequences(ctx, spec.get("num_videos", 0))
  declaration = ctx.model.declaration(spec.predict)
  if "landmark_sequence" not in declaration.conditions:
    if declaration.image_arg:  # a face and a class
      return animated_identity(name, spec, ctx, embedder, frames, emotions)
    return sampled_identity(name, spec, ctx, embedder, frames, emotions)
  render = getattr(ctx.model, spec.predict)
  videos = {"model": np.stack([render(f[0], lms) for f, lms in zip(frames, landmarks)]),
            "copy_input": np.repeat(frames[:, :1], frames.shape[1], axis=1),
            "ground_truth": frames}
  video_landmarks = {"model": landmarks, "ground_truth": landmarks,
                     "copy_input": np.repeat(landmarks[:, :1], landmarks.shape[1], axis=1)}
  inputs, input_landmarks = frames[:, 0], landmarks[:, 0]
  result = {"rows": [], "evaluators": {
      "face_embedder": "dlib_face_recognition_resnet_model_v1 (128-d)"}, "skipped": {}}
  motion_run = config.get("video", {}).get("motion", "")
  moving = emotions >= 1  # the generated motion needs an expression to move to
  if motion_run and moving.any() and ctx.animate is not None:
    made = [ctx.animate(ctx.model, f[0], int(e), frames=frames.shape[1],
                              neutral_landmarks=lms[0], motion=motion_run, seed=config.seed + i)
            for i, (f, lms, e) in enumerate(zip(frames[moving], landmarks[moving],
                                                emotions[moving]))]
    videos["generated_motion"] = np.stack([a.frames for a in made])
    video_landmarks["generated_motion"] = np.stack([a.landmarks for a in made])
    result["evaluators"]["motion_run"] = str(motion_run)
  elif ctx.animate is None:
    result["skipped"][f"{name} generated_motion"] = "no video pipeline handed to the evaluator"
  else:
    result["skipped"][f"{name} generated_motion"] = (
        "no --config.video.motion (a MotionGAN run) to take the motions from")
  for method, video in videos.items():
    keep = moving if method == "generated_motion" else np.ones(len(frames), bool)
    scores = identity.identity_metrics(video, inputs[keep], video_landmarks[method],
                                       input_landmarks[keep], embedder)
    result["rows"] += [
        {"method": method, "metric": "acd", "value": scores["acd"], "n": scores["acd_videos"]},
        {"method": method, "metric": "acd_i", "value": scores["acd_i"],
         "n": scores["acd_i_pairs"]}]
  return result


def sampled_identity(name: str, spec, ctx, embedder, frames: np.ndarray, emotions: np.ndarray
                     ) -> dict:
  """Clips generated from noise (``spec.predict`` called as ``(emotions, seed=...)``, in parts of
  ``SAMPLED_PER_CALL``, seeds ``config.seed + offset``): one per held-out sequence with an
  expression, of its class. Rows: ``acd`` of the ``model``'s clips and of the true clips
  (``ground_truth``), the true clips' ``acd_i`` to their own neutral frame 0, and each method's
  ``face_found_rate``. Every frame, true ones too, is aligned by dlib's own detection (generated
  frames come with no landmarks; the true ones are measured the same way, so the rows compare).
  The model gets no ``acd_i``: it starts from no face."""
  from fxs_jax.eval import identity  # lazy: dlib, an optional dependency
  moving = emotions >= 1
  if not moving.any():
    return {"skipped": {name: "no held-out sequence with an expression to sample clips of"}}
  sample, asked = getattr(ctx.model, spec.predict), emotions[moving]
  made = np.concatenate([  # in parts: a call draws a bounded number of clips
      augment.to_uint8(sample(asked[i:i + SAMPLED_PER_CALL], seed=int(ctx.config.seed) + i))
      for i in range(0, len(asked), SAMPLED_PER_CALL)])
  videos = {"model": made, "ground_truth": frames[moving]}
  result = {"rows": [], "evaluators": {
      "face_embedder": "dlib_face_recognition_resnet_model_v1 (128-d), faces detected by dlib"},
      "skipped": {f"{name} model acd_i": f"{spec.predict} generates clips from noise: there is "
                                         "no input face to compare the frames with"}}
  for method, video in videos.items():
    scores = identity.identity_metrics(video, video[:, 0], embedder=embedder)
    result["rows"] += [
        {"method": method, "metric": "acd", "value": scores["acd"], "n": scores["acd_videos"]},
        {"method": method, "metric": "face_found_rate",
         "value": scores["faces_generated"] / max(scores["num_generated"], 1),
         "n": scores["num_generated"]}]
    if method == "ground_truth":
      result["rows"].append({"method": method, "metric": "acd_i", "value": scores["acd_i"],
                             "n": scores["acd_i_pairs"]})
  return result


def animated_identity(name: str, spec, ctx, embedder, frames: np.ndarray, emotions: np.ndarray
                      ) -> dict:
  """Clips made from each held-out sequence's neutral frame 0 and its class (``spec.predict``
  called as ``(faces, emotions, seed=config.seed)``, in parts of ``SAMPLED_PER_CALL``), beside
  frame 0 repeated (``copy_input``) and the true clips (``ground_truth``). Rows: ``acd``,
  ``acd_i`` (to frame 0) and ``face_found_rate`` of each, every frame aligned by dlib's own
  detection (made frames come with no landmarks); and, against the true clip of that face and
  class, ``last_frame_psnr`` / ``last_frame_ssim`` (the apex: where the class should have taken
  the face) of the model and of ``copy_input``."""
  from fxs_jax.eval import identity  # lazy: dlib, an optional dependency
  moving = emotions >= 1
  if not moving.any():
    return {"skipped": {name: "no held-out sequence with an expression to animate towards"}}
  animate, truth, asked = getattr(ctx.model, spec.predict), frames[moving], emotions[moving]
  made = np.concatenate([  # uint8 faces in, uint8 clips out
      animate(truth[i:i + SAMPLED_PER_CALL, 0], asked[i:i + SAMPLED_PER_CALL],
              seed=int(ctx.config.seed)) for i in range(0, len(asked), SAMPLED_PER_CALL)])
  videos = {"model": made, "copy_input": np.repeat(truth[:, :1], truth.shape[1], axis=1),
            "ground_truth": truth}
  result = {"rows": [], "skipped": {}, "evaluators": {
      "face_embedder": "dlib_face_recognition_resnet_model_v1 (128-d), faces detected by dlib"}}
  apex = augment.to_signed_unit(truth[:, -1])
  for method, video in videos.items():
    scores = identity.identity_metrics(video, truth[:, 0], embedder=embedder)
    result["rows"] += [
        {"method": method, "metric": "acd", "value": scores["acd"], "n": scores["acd_videos"]},
        {"method": method, "metric": "acd_i", "value": scores["acd_i"],
         "n": scores["acd_i_pairs"]},
        {"method": method, "metric": "face_found_rate",
         "value": scores["faces_generated"] / max(scores["num_generated"], 1),
         "n": scores["num_generated"]}]
    if method != "ground_truth":
      last = augment.to_signed_unit(video[:, -1])
      for metric, fn in (("last_frame_psnr", image_metrics.psnr),
                         ("last_frame_ssim", image_metrics.ssim)):
        result["rows"].append({"method": method, "metric": metric,
                               "value": float(np.mean(fn(last, apex))), "n": len(apex)})
  return result
