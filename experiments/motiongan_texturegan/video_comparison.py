"""The video papers' evaluation on SynthFaces' held-out sequences: per-frame FD / IS on the expression
classifier's features, ACD, ACD-I, and an MDS map of the frames' identity embeddings.

  python experiments/motiongan_texturegan/video_comparison.py [--texture=synthfaces/texturegan]
      [--motion=synthfaces/motiongan] [--video_model="MoCoGAN :demo=W"] [--split=test]
      [--num_videos=40] [--mds_videos=6] [--data_dir=...]

Methods: the true clips; copying frame 0 (no motion: ACD 0); TextureGAN rendering frame 0 along
the TRUE landmarks; the whole pipeline (a MotionGAN motion of the clip's expression on frame 0's
landmarks, rendered by TextureGAN); and each ``--video_model`` (``label=path``: a model with a
``sample_video`` prediction, e.g. MoCoGAN), one clip from noise per held-out clip, of its
expression and length (no input face: its ACD-I is not defined), or with an ``animate_face``
prediction (VGAN ``:from_face``), one clip from each held-out clip's frame 0 and expression. FD / IS: every frame of a method against every true frame
(the shipped expression classifier's features and logits: no Inception weights here). ACD / ACD-I:
dlib's face embeddings, aligned with each frame's landmarks (the generated ones for the pipeline;
dlib's own detection for clips from noise, which have none).
The MDS map (``fxs_jax.eval.mds``) places the embeddings of every frame of the first
``--mds_videos`` identities' clips (one each) of each method in one plane: a clip that keeps its
identity stays a tight cluster around its true face. Writes ``experiments/results/video_comparison/<split>/
video_comparison.json`` and ``docs/figures/video_identity_mds.png`` and prints the table
(``video_comparison_table.py``).
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
from fxs_jax.eval import fid  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import identity  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import mds  # pylint: disable=g-import-not-at-top
from fxs_jax.judges import shipped  # pylint: disable=g-import-not-at-top

import video_comparison_table  # pylint: disable=g-import-not-at-top,wrong-import-order  # beside this file

_TEXTURE = flags.DEFINE_string("texture", "synthfaces/texturegan", "TextureGAN run or bundle.")
_MOTION = flags.DEFINE_string("motion", "synthfaces/motiongan", "MotionGAN run or bundle.")
_SPLIT = flags.DEFINE_enum("split", "test", ["validation", "test"], "The held-out split.")
_NUM_VIDEOS = flags.DEFINE_integer("num_videos", 40, "Held-out clips with an expression.")
_MDS_VIDEOS = flags.DEFINE_integer("mds_videos", 6, "Clips of each method in the MDS map.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir (as config.data.data_dir).")
_SEED = flags.DEFINE_integer("seed", 0, "The pipeline's motion samples' seed.")
_VIDEO_MODELS = flags.DEFINE_multi_string("video_model", [], "label=path of a model that samples "
                                          "clips from noise (sample_video); repeatable.")
FIGURE = ROOT / "docs" / "figures" / "video_identity_mds.png"
TRUTH, COPY = "true clips", "copy frame 0"


def clips(texture, split: str, count: int):
  """(frames uint8 (V, T, H, W, 3), landmarks (V, T, 68, 2), emotions (V,), identities (V,)) of
  the first ``count`` held-out clips with an expression (frame 0 neutral)."""
  data = texture.config.data.copy_and_resolve_references()
  data.unlock()
  data.data_dir = _DATA_DIR.value or data.data_dir
  source = pipeline.load(data, [split])[split]
  frames, landmarks, emotions, identities = [], [], [], []
  for i in range(len(source)):
    example = source[i]
    if int(example["emotion"]) < 1:
      continue
    frames.append(np.asarray(example["frames"]))
    landmarks.append(np.asarray(example["landmarks"], np.float32))
    emotions.append(int(example["emotion"]))
    identities.append(int(example["identity"]))
    if len(frames) == count:
      break
  return np.stack(frames), np.stack(landmarks), np.asarray(emotions), np.asarray(identities)


def mds_figure(embeddings: dict[str, np.ndarray], path: Path) -> dict:
  """Draws the MDS map of ``{method: (V, T, 128)}`` embeddings (colour = clip, marker = method);
  returns the map's numbers: per method, the mean spread of a clip's frames around their centre
  and the mean distance of that centre from the true clip's centre (MDS units = embedding units)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  names = list(embeddings)
  stacked = np.concatenate([embeddings[m].reshape(-1, embeddings[m].shape[-1]) for m in names])
  keep = np.all(np.isfinite(stacked), axis=1)
  points = np.full((len(stacked), 2), np.nan)
  points[keep] = mds.classical_mds(mds.pairwise_distances(stacked[keep]), dims=2)[0]
  markers, start, per_method, numbers = "o^sDvP*X", 0, {}, {}
  for name in names:
    v, t = embeddings[name].shape[:2]
    per_method[name] = points[start:start + v * t].reshape(v, t, 2)
    start += v * t
  fig, ax = plt.subplots(figsize=(7, 6))
  colours = plt.get_cmap("tab10")
  for k, name in enumerate(names):
    for clip, xy in enumerate(per_method[name]):
      ax.scatter(xy[:, 0], xy[:, 1], s=14, marker=markers[k % len(markers)],
                 color=colours(clip % 10), alpha=0.75,
                 label=name if clip == 0 else None, edgecolors="none")
  for clip, xy in enumerate(per_method[TRUTH]):
    ax.annotate(f"identity {clip + 1}", np.nanmean(xy, axis=0), fontsize=8)
  ax.set_title("Identity embeddings of every frame (MDS); colour = held-out identity")
  legend = ax.legend(fontsize=8, loc="best")
  for handle in legend.legend_handles:
    handle.set_color("black")
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  true_centres = np.nanmean(per_method[TRUTH], axis=1)
  for name, xy in per_method.items():
    centres = np.nanmean(xy, axis=1)
    numbers[name] = {
        "spread": float(np.nanmean(np.linalg.norm(xy - centres[:, None], axis=-1))),
        "centre_to_truth": float(np.nanmean(np.linalg.norm(centres - true_centres, axis=-1)))}
  return numbers


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  texture = fxs_jax.load(_TEXTURE.value)
  frames, landmarks, emotions, identities = clips(texture, _SPLIT.value, _NUM_VIDEOS.value)
  # The MDS map: one clip of each of the first identities (a map of identities, not expressions).
  mapped = np.unique(identities, return_index=True)[1][:_MDS_VIDEOS.value]
  v, t = frames.shape[:2]
  videos = {TRUTH: frames, COPY: np.repeat(frames[:, :1], t, axis=1),
            "TextureGAN on the true landmarks": np.stack(
                [texture.render_frames(f[0], lms) for f, lms in zip(frames, landmarks)])}
  video_landmarks = {TRUTH: landmarks, COPY: np.repeat(landmarks[:, :1], t, axis=1),
                     "TextureGAN on the true landmarks": landmarks}
  made = [texture.animate(f[0], emotion=int(e), frames=t, neutral_landmarks=lms[0],
                          motion=_MOTION.value, seed=_SEED.value + i)
          for i, (f, lms, e) in enumerate(zip(frames, landmarks, emotions))]
  videos["MotionGAN + TextureGAN"] = np.stack([m.frames for m in made])
  video_landmarks["MotionGAN + TextureGAN"] = np.stack([m.landmarks for m in made])
  from_face = {TRUTH, COPY, "TextureGAN on the true landmarks", "MotionGAN + TextureGAN"}
  for spec in _VIDEO_MODELS.value:
    label, sep, path = spec.rpartition("=")
    if not sep or not label:
      raise app.UsageError(f"--video_model={spec!r} must be label=path.")
    sampler = fxs_jax.load(path)
    if "animate_face" in sampler.predictions:  # from each held-out clip's neutral frame 0
      videos[label] = sampler.animate_face(frames[:, 0], list(emotions), seed=_SEED.value)
      from_face.add(label)
    else:
      clip = sampler.sample_video(list(emotions), seed=_SEED.value, frames=t)
      videos[label] = np.round((np.asarray(clip) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    video_landmarks[label] = None  # dlib finds the faces

  classifier = shipped.load("expression_classifier")
  to_unit = lambda x: x.reshape(-1, *x.shape[2:]).astype(np.float32) / 127.5 - 1.0  # noqa: E731
  real = to_unit(frames)
  embedder = identity.FaceEmbedder()
  reference = embedder.embed(frames[:, 0], landmarks[:, 0])[:, None]
  rows, embeddings = [], {}
  for name, video in videos.items():
    scores = fid.classifier_fd_and_is(classifier.features, classifier.predict, to_unit(video),
                                      real)
    lms = video_landmarks[name]
    emb = embedder.embed(video.reshape(-1, *video.shape[2:]),
                         None if lms is None else lms.reshape(-1, 68, 2)).reshape(v, t, -1)
    embeddings[name] = emb[np.sort(mapped)]
    rows += [{"method": name, "metric": "fd_classifier", "value": scores["fd_classifier"]},
             {"method": name, "metric": "is_classifier", "value": scores["is_classifier"]},
             {"method": name, "metric": "acd", "value": identity.acd(emb)},
             {"method": name, "metric": "face_found_rate",
              "value": float(np.mean(np.all(np.isfinite(emb), axis=-1)))}]
    if name in from_face:  # a clip made from the held-out face: how far it drifts from it
      rows.append({"method": name, "metric": "acd_i",
                   "value": identity.acd_identity(emb, reference)})
  mds_numbers = mds_figure(embeddings, FIGURE)
  record = {
      "split": _SPLIT.value, "dataset": texture.config.data.name, "num_videos": int(v),
      "frames_per_video": int(t), "texture": _TEXTURE.value, "motion": _MOTION.value,
      "texture_step": texture.step, "judge": classifier.record,
      "face_embedder": "dlib_face_recognition_resnet_model_v1 (128-d)",
      "video_models": list(_VIDEO_MODELS.value), "methods": list(videos), "rows": rows, "mds": {"videos": _MDS_VIDEOS.value,
                                                      "per_method": mds_numbers},
      "provenance": provenance.record(texture.config, "", {}),
      "command": "python experiments/motiongan_texturegan/video_comparison.py " + " ".join(
          f"--{f}={getattr(flags.FLAGS, f)}" for f in ("texture", "motion", "split",
                                                       "num_videos", "mds_videos"))
      + "".join(f' --video_model="{m}"' for m in _VIDEO_MODELS.value)}
  out = video_comparison_table.JSON.parent.parent / _SPLIT.value / "video_comparison.json"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
  print(video_comparison_table.table(record))
  print(f"written {out} and {FIGURE}")


if __name__ == "__main__":
  app.run(main)
