"""Time of ``model.animate_photo`` on a ~25 MP photo, by stage: frames pasted at the output size.

  python experiments/bench/animate_photo.py [--model=synthfaces/ganimation] [--frames=8]
      [--max_side=720] [--scale=4.7] [--full_res_paste] [--full_res_frames=2]

The photo: insightface's group photo (``tests/real_photos.group_photo()``, 1280 x 886, five
faces) upscaled ``--scale`` times (bicubic; 4.7 gives 6016 x 4164, 25 MP) and saved as a JPEG
(quality 95), so "read" decodes a real file. Stages, each timed once after a warm-up (the
generator compiled for the batch, dlib's model files loaded): read (``read_photo``), detect
(``search_faces``: dlib on a box-downscaled copy, then the crops at full resolution), model
(``model.edit`` of every face's ``--frames`` frames in one batch), paste+downscale, and the
whole ``animate_photo`` call timed on its own. Paste+downscale is ``animate_photo``'s path (the
photo downscaled once, every frame pasted into it) and, with ``--full_res_paste``, the
alternative (each frame pasted into the full photo, then downscaled), run on
``--full_res_frames`` frames and extrapolated to ``--frames``. One run, no medians: on a shared
machine the figures are indicative.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import benchlib  # puts the repository root on sys.path


def _timed(fn):
  start = time.perf_counter()
  result = fn()
  return result, time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="synthfaces/ganimation")
  parser.add_argument("--emotion", default="happy")
  parser.add_argument("--frames", type=int, default=8)
  parser.add_argument("--max_side", type=int, default=720)
  parser.add_argument("--scale", type=float, default=4.7)
  parser.add_argument("--full_res_paste", action="store_true",
                      help="also time pasting at full resolution, then downscaling")
  parser.add_argument("--full_res_frames", type=int, default=2)
  args = parser.parse_args()

  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  import fxs_jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import animation  # pylint: disable=g-import-not-at-top
  from fxs_jax import photos  # pylint: disable=g-import-not-at-top
  from fxs_jax.faces import alignment  # pylint: disable=g-import-not-at-top
  from fxs_jax.faces import search as face_search  # pylint: disable=g-import-not-at-top
  from tests import real_photos  # pylint: disable=g-import-not-at-top

  group = Image.fromarray(real_photos.group_photo())
  big = group.resize([round(side * args.scale) for side in group.size], Image.BICUBIC)
  path = Path(tempfile.mkdtemp(prefix="animate_photo_bench_")) / "group.jpg"
  big.save(path, quality=95)
  del big, group

  model, load_s = _timed(lambda: fxs_jax.load(args.model))
  size = model.config.model.image_size
  arguments = animation.target_arguments(model, emotion=args.emotion)
  alphas = np.linspace(0.0, 1.0, args.frames, dtype=np.float32)

  def edit(found):  # animate_photo's batch: every face's frames, face-major
    crops = np.repeat(np.stack([f.image for f in found]), args.frames, axis=0)
    landmarks = np.repeat(np.stack([f.landmarks for f in found]), args.frames, axis=0)
    return model.edit(crops, landmarks=landmarks, intensity=np.tile(alphas, len(found)),
                      **arguments).reshape(len(found), args.frames, size, size, 3)

  (image, name), read_s = _timed(lambda: photos.read_photo(path))
  search, first_detect_s = _timed(lambda: face_search.search_faces(image, size, "all", name))
  _, compile_s = _timed(lambda: edit(search.faces))  # compiles for this batch
  search, detect_s = _timed(lambda: face_search.search_faces(image, size, "all", name))
  found = search.faces
  edited, model_s = _timed(lambda: edit(found))
  references = edited[:, 0]

  def new_paste():
    canvas = photos.fit_within(image, args.max_side)
    faces = [alignment.rescaled(face, canvas.shape[:2]) for face in found]
    return [photos.paste_faces(canvas, faces, edited[:, t], references=references)
            for t in range(args.frames)]

  frames, paste_s = _timed(new_paste)
  video, total_s = _timed(lambda: model.animate_photo(path, emotion=args.emotion,
                                                      frames=args.frames,
                                                      max_side=args.max_side))
  assert np.array_equal(video.frames, np.stack(frames))

  height, width = image.shape[:2]
  info = benchlib.machine_info()
  print(f"{model.config.model_name} ({args.model}, {size} px crops); photo {width}x{height} "
        f"({width * height / 1e6:.1f} MP JPEG), {len(found)} faces, {args.frames} frames of "
        f"{video.frames.shape[2]}x{video.frames.shape[1]} (max_side {args.max_side})")
  print(f"machine: {info['cpu']}, {info['nproc']} cores, load average (1 min) "
        f"{info['load_avg_1m']}; one run each, indicative on a shared machine")
  print(f"one-off: load {load_s:.2f} s, first detect (dlib files) {first_detect_s:.2f} s, "
        f"compile the edit {compile_s:.2f} s")
  print("| path | read | detect | model | paste+downscale | total |")
  print("| --- | --- | --- | --- | --- | --- |")
  print(f"| paste at {args.max_side} px | {read_s:.2f} | {detect_s:.2f} | {model_s:.2f} | "
        f"{paste_s:.2f} | {total_s:.2f} (animate_photo, timed whole) |")
  if args.full_res_paste:
    def full_res_paste():
      return [photos.fit_within(photos.paste_faces(image, found, edited[:, t],
                                                   references=references), args.max_side)
              for t in range(args.full_res_frames)]
    full_frames, full_s = _timed(full_res_paste)
    full_s *= args.frames / args.full_res_frames
    count = args.full_res_frames
    difference = np.abs(np.stack(full_frames).astype(float) - video.frames[:count])
    print(f"| full-res paste, then downscale ({args.full_res_frames} frames timed, x "
          f"{args.frames / count:g}) | {read_s:.2f} | {detect_s:.2f} | {model_s:.2f} | "
          f"{full_s:.2f} | {read_s + detect_s + model_s + full_s:.2f} (sum of stages) |")
    print(f"output-size vs full-res frames {list(range(args.full_res_frames))}: mean |difference| "
          f"{difference.mean():.3f} grey levels, max {difference.max():.0f}")


if __name__ == "__main__":
  main()
