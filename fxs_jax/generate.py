"""``--mode=generate``: the files a trained model makes from held-out examples, chosen by what its
predictions declare (``fxs_jax.recipes.base.Predictor``), each set with a ``targets.txt`` saying
what its rows and columns are.

* ``edit``: ``edits.png``, rows varied test faces, columns the input and each of the recipe's
  ``generation_targets`` (``config.generate.emotions`` / ``.aus``), then the recipe's
  ``generation_strips`` (GANimation: an interpolation from the face's own AUs);
* ``transfer``: ``transfers.png``, held-out pairs, columns source | target | the condition |
  output | truth; with ``config.generate.source_image`` / ``target_image`` also
  ``transfers_files.png``;
* ``sample_motion``: ``motions.png`` (faces x expressions, frames from neutral to apex) and
  ``motions.npz`` (the SRVFs, curves and landmark sequences behind it);
* ``render_frames``: ``frames.png`` (true frames of held-out sequences above the frames rendered
  from their landmarks) and, with ``config.video.motion`` (a MotionGAN run), expression videos of
  held-out faces and ``config.generate.neutral_image`` (``fxs_jax.animation.generate_videos``);
* ``sample_video``: ``videos.png`` (for each of ``config.generate.num_faces`` content draws, a
  row per expression, columns the frames) and ``videos.gif`` (the same clips playing, rows the
  expressions, columns the draws).

``recipe`` is the run's (its config carries the command line's ``--config`` overrides); ``model``
the trained generator; ``source`` the eval split.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from fxs_jax import animation
from fxs_jax import inputs
from fxs_jax import viz
from fxs_jax.data import augment
from fxs_jax.data import face_files
from fxs_jax.errors import UserError


def generate(model, recipe, source, out_dir: Path) -> list[Path]:
  """Writes the files of the first task ``model`` declares into ``out_dir``; their paths."""
  for task, write in (("edit", _edits), ("transfer", _transfers),
                      ("sample_motion", _motions), ("render_frames", _frames),
                      ("sample_video", _videos), ("animate_face", _animations)):
    if task in model.predictions:
      return write(model, recipe, source, Path(out_dir))
  raise UserError(f"{model.config.model_name} has no --mode=generate (its predictions: "
                  f"{', '.join(model.predictions) or 'none'}); use train or eval.")


def _batch(recipe, source, indices) -> dict[str, np.ndarray]:
  examples = [recipe.preprocess({k: np.asarray(v) for k, v in source[int(i)].items()}, None)
              for i in indices]
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def _write(out_dir: Path, grids: dict[str, np.ndarray], lines: list[str]) -> list[Path]:
  """Each ``{name: tiles (rows, cols, H, W, 3) in [-1, 1]}`` as ``name.png``, and targets.txt."""
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = []
  for name, tiles in grids.items():
    paths.append(out_dir / f"{name}.png")
    viz.save_png(paths[-1], viz.tile_grid(tiles))
  (out_dir / "targets.txt").write_text("\n".join(lines) + "\n")
  return paths


def _edits(model, recipe, source, out_dir: Path) -> list[Path]:
  targets = recipe.generation_targets()
  if not targets:
    raise UserError("Nothing to generate: set --config.generate.emotions (e.g. happy,sad)"
                    + (" and/or --config.generate.aus" if "aus" in recipe.config.generate else "")
                    + ".")
  count = min(recipe.config.generate.num_images, len(source))
  batch = _batch(recipe, source, recipe.sample_indices(source, count))
  image, landmarks = batch["image"], batch.get("landmarks")
  strips = [("edits", [{"landmarks": landmarks, **arguments} for _, arguments in targets],
             "input, " + ", ".join(name for name, _ in targets))]
  strips += recipe.generation_strips(batch)
  grids, lines = {}, []
  for name, columns, description in strips:
    grids[name] = np.stack([image] + [model.edit(image, **arguments) for arguments in columns],
                           axis=1)
    lines.append(f"{name}.png columns: {description}")
  return _write(out_dir, grids, lines)


def _file_pair(recipe, uses_landmarks: bool) -> dict | None:
  """``config.generate``'s two image files (and landmarks) as a one-pair batch, or None."""
  g, size = recipe.config.generate, recipe.config.model.image_size
  if not (g.get("source_image") or g.get("target_image")):
    return None
  if not (g.source_image and g.target_image):
    raise UserError("Set both --config.generate.source_image and --config.generate.target_image "
                    "(and, for the cGAN, their --config.generate.*_landmarks files).")
  batch = {}
  for role in ("source", "target"):
    image, landmarks = face_files.load_face(g[f"{role}_image"], g[f"{role}_landmarks"], size)
    if landmarks is None and uses_landmarks:
      raise UserError(f"The cGAN transfer needs --config.generate.{role}_landmarks: a .npy (68, "
                      "2) or a text file of 68 lines 'x y' in the image's pixels.")
    batch[f"{role}_image"] = augment.to_signed_unit(image[None])
    if landmarks is not None:
      batch[f"{role}_landmarks"] = landmarks[None]
  return batch


def _transfer_columns(model, recipe, batch) -> list[np.ndarray]:
  """Columns source | target | the condition (pix2pix: the source) | output of a batch."""
  out = model.predict("transfer", model.declaration("transfer").inputs(
      batch["source_image"], batch["target_image"], batch.get("source_landmarks"),
      batch.get("target_landmarks")))
  condition = np.asarray(recipe.condition_tile(jnp.asarray(out["condition"])))
  return [batch["source_image"], batch["target_image"], condition, out["image"]]


def _transfers(model, recipe, source, out_dir: Path) -> list[Path]:
  g = recipe.config.generate
  files = _file_pair(recipe, model.declaration("transfer").needs_landmarks)  # fails before writing
  count = min(g.num_images, len(source))
  batch = _batch(recipe, source, np.linspace(0, len(source) - 1, count).astype(int))
  grids = {"transfers": np.stack(_transfer_columns(model, recipe, batch) + [batch["image"]],
                                 axis=1)}
  lines = ["transfers.png columns: source, target, J_gen (pix2pix: the source), output, truth"]
  if files is not None:
    grids["transfers_files"] = np.stack(_transfer_columns(model, recipe, files), axis=1)
    lines.append(f"transfers_files.png columns: source ({g.source_image}), target "
                 f"({g.target_image}), J_gen, output")
  return _write(out_dir, grids, lines)


def _motions(model, recipe, source, out_dir: Path) -> list[Path]:
  examples = recipe.examples(source, recipe.config.data.eval_split)
  count = min(recipe.config.generate.num_faces, len(examples))
  neutral = np.stack([examples[int(i)]["neutral_landmarks"]
                      for i in recipe.sample_indices(examples, count)])
  emotions = inputs.MOTION_EMOTIONS
  labels = np.tile(np.arange(1, len(emotions) + 1), count)
  out = model.sample_motion(labels, neutral_landmarks=np.repeat(neutral, len(emotions), axis=0),
                            seed=recipe.config.seed)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = [out_dir / "motions.png", out_dir / "motions.npz"]
  viz.save_png(paths[0], viz.landmark_sequences_grid([[s] for s in out["landmarks"]]))
  np.savez(paths[1], emotion=labels, **out)
  (out_dir / "targets.txt").write_text(
      f"motions.png: {count} faces x rows {', '.join(emotions)}; columns "
      f"{viz.SEQUENCE_FRAMES} frames from neutral to apex\n")
  return paths


def _frames(model, recipe, source, out_dir: Path) -> list[Path]:
  g, v = recipe.config.generate, recipe.config.video
  faces = []
  if g.neutral_image:  # a bad file fails before anything is written
    image, lms = face_files.load_face(g.neutral_image, g.neutral_landmarks,
                                      recipe.config.model.image_size)
    faces.append(("file", image, lms))
  if faces and not v.motion:
    raise UserError("--config.generate.neutral_image is animated with a MotionGAN run's "
                    "motions: set --config.video.motion=<its workdir or export>.")
  if v.motion:  # a missing motion run or a bad emotion name fails before anything is written
    animation.motion_model(model, v.motion)
    animation.video_emotions(v.emotions)
  count = max(1, min(g.num_images // 2, len(source)))
  rows = []
  for i in np.linspace(0, len(source) - 1, count).astype(int):
    example = recipe.preprocess({k: np.asarray(x) for k, x in source[int(i)].items()}, None)
    truth = example["frames"]
    rows += [truth, model.render_frames(truth[0], example["landmarks"])]
    if v.motion and len(faces) - bool(g.neutral_image) < v.num_faces:
      faces.append((f"face{int(i)}", viz.to_uint8(truth[0]), example["landmarks"][0]))
  paths = _write(out_dir, {"frames": np.stack(rows)}, [])
  lines = ["frames.png rows: true frames of a held-out sequence, then the frames rendered from "
           "its frame 0 and each frame's landmarks (alternating)"]
  if v.motion:
    videos, video_lines = animation.generate_videos(model, recipe.config, faces, out_dir)
    paths, lines = paths + videos, lines + video_lines
  else:
    lines.append("no videos: set --config.video.motion=<a MotionGAN workdir or export>")
  (out_dir / "targets.txt").write_text("\n".join(lines) + "\n")
  return paths


def _videos(model, recipe, source, out_dir: Path) -> list[Path]:
  """Clips from noise: each content draw (seed ``config.seed + i``) under every expression."""
  del source  # a model that starts from no face
  g = recipe.config.generate
  clips = np.stack([model.sample_video(list(inputs.MOTION_EMOTIONS), seed=recipe.config.seed + i,
                                       same_content=True) for i in range(g.num_faces)])
  return _write_clips(out_dir, clips, g.fps, f"{g.num_faces} content draws (seeds "
                      f"{recipe.config.seed}..)", "content draws", "")


def _animations(model, recipe, source, out_dir: Path) -> list[Path]:
  """Clips from held-out faces: each of the first sequences' neutral frame 0 under every
  expression."""
  g = recipe.config.generate
  count = min(g.num_faces, len(source))
  if not count:
    raise UserError("Nothing to animate: the split holds no sequences.")
  faces = np.stack([viz.to_uint8(f) for f in _batch(recipe, source, range(count))["frames"][:, 0]])
  emotions = list(inputs.MOTION_EMOTIONS)
  clips = np.stack([model.animate_face(np.repeat(face[None], len(emotions), axis=0), emotions,
                                       seed=recipe.config.seed)
                    for face in faces])  # (faces, emotions, T, H, W, 3) uint8
  return _write_clips(out_dir, augment.to_signed_unit(clips), g.fps,
                      f"{count} held-out neutral faces", "faces", ", the first from the face")


def _write_clips(out_dir: Path, clips, fps: float, what: str, columns: str, first: str
                 ) -> list[Path]:
  """``videos.png`` (each of ``clips``' (N, emotions, T, H, W, 3) in [-1, 1] under every
  expression, frames across), ``videos.gif`` (expressions x the N) and targets.txt."""
  emotions = ", ".join(inputs.MOTION_EMOTIONS)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = [out_dir / "videos.png", out_dir / "videos.gif"]
  viz.save_png(paths[0], viz.tile_grid(clips.reshape(-1, *clips.shape[2:])))
  by_emotion = np.moveaxis(clips, 0, 1)  # (emotions, N, T, H, W, 3)
  viz.save_gif(paths[1], [viz.tile_grid(by_emotion[:, :, t]) for t in range(clips.shape[2])],
               fps=fps)
  (out_dir / "targets.txt").write_text(
      f"videos.png: {what} x rows {emotions}; columns the {clips.shape[2]} frames{first}\n"
      f"videos.gif: rows {emotions}; columns the {len(clips)} {columns}\n")
  return paths
