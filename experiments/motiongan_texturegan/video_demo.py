"""The docs' video: held-out SynthFaces sequences, truth beside what the pipeline makes.

  python experiments/motiongan_texturegan/video_demo.py --texture=W_TEX --motion=W_MOTION --data_dir=D \
      [--num=3] [--out=docs/figures/texturegan_demo_video.gif]

Rows: held-out sequences (frame 0 neutral, one expression each). Columns: the true frames;
TextureGAN's frames rendered from frame 0 and the TRUE landmarks (``render_frames``); the whole
pipeline (``model.animate``: a MotionGAN motion of the sequence's expression on frame 0's
landmarks, rendered by TextureGAN); that motion's landmarks alone. Writes the GIF, an MP4 beside
it and a PNG strip of 6 frames (neutral -> apex) for reading without a player; prints the per-
frame mean absolute error to the truth of columns 2 and 3 and of copying frame 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import fxs_jax
from fxs_jax import facs
from fxs_jax import viz
from fxs_jax.data import pipeline


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--texture", required=True, help="TextureGAN workdir or export")
  parser.add_argument("--motion", required=True, help="MotionGAN workdir or export")
  parser.add_argument("--data_dir", default="")
  parser.add_argument("--num", type=int, default=3, help="held-out sequences (rows)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--fps", type=float, default=8.0)
  parser.add_argument("--min_side", type=int, default=300, help="the GIF's shorter side (px)")
  parser.add_argument("--out", default="docs/figures/texturegan_demo_video.gif")
  args = parser.parse_args()

  texture = fxs_jax.load(args.texture)
  data = texture.config.data.copy_and_resolve_references()
  data.unlock()
  data.data_dir = args.data_dir or data.data_dir
  source = pipeline.load(data, [data.eval_split])[data.eval_split]
  picked = [i for i in np.linspace(0, len(source) - 1, 8 * args.num).astype(int)
            if int(source[int(i)]["emotion"]) >= 1]
  # One sequence per expression where possible, spread over the split.
  rows, seen = [], set()
  errors = {"copy frame 0": [], "true landmarks": [],
            "pipeline (another sample of the expression)": []}
  for i in picked:
    example = source[int(i)]
    emotion = int(example["emotion"])
    if emotion in seen:
      continue
    seen.add(emotion)
    truth, lms = np.asarray(example["frames"]), np.asarray(example["landmarks"], np.float32)
    rendered = texture.render_frames(truth[0], lms)
    video = texture.animate(truth[0], emotion=emotion, frames=len(truth),
                            neutral_landmarks=lms[0], motion=args.motion, seed=args.seed)
    dots = video.landmark_frames(min_side=truth.shape[1])
    rows.append([truth, rendered, video.frames, dots])
    err = lambda x: np.abs(x.astype(float) - truth.astype(float)).mean() / 255.0
    errors["copy frame 0"].append(err(np.repeat(truth[:1], len(truth), 0)))
    errors["true landmarks"].append(err(rendered))
    errors["pipeline (another sample of the expression)"].append(err(video.frames))
    print(f"row {len(rows)}: held-out sequence {i}, {facs.EMOTIONS[emotion]}")
    if len(rows) == args.num:
      break
  frames = [viz.make_grid([video[t] for row in rows for video in row], 4)
            for t in range(len(rows[0][0]))]
  # Hold the apex for a moment before looping back to neutral.
  frames = frames + [frames[-1]] * 4
  big = viz.upscale(np.stack(frames), args.min_side)
  out = Path(args.out)
  viz.save_gif(out, big, args.fps)
  viz.save_mp4(out.with_suffix(".mp4"), big, args.fps)
  picks = np.linspace(0, len(rows[0][0]) - 1, 6).round().astype(int)
  strip = [viz.make_grid([row[c][t] for t in picks], len(picks))
           for row in rows for c in range(4)]
  viz.save_png(out.with_suffix(".png"), np.concatenate(strip, axis=0))
  print("columns: truth | TextureGAN on the true landmarks | MotionGAN + TextureGAN | "
        "generated landmarks")
  for name, values in errors.items():
    print(f"mean |frame - true frame| (0-1), {name}: {np.mean(values):.5f}")
  print(f"wrote {out}, {out.with_suffix('.mp4')}, {out.with_suffix('.png')}")


if __name__ == "__main__":
  main()
