"""Latency of one photo edit (``model.edit_photo``) on scikit-image's astronaut, by stage.

  python experiments/bench/photo_edit.py --model=synthfaces/ganimation [--scale=1] [--repeats=10]

``--model``: a workdir, an export or a bundled model's name. ``--scale`` enlarges the 512 px photo
(bilinear; 4 gives a 2048 px, 4 MP photo). Prints the one-off costs (dlib's model files, the
generator's compile) and the median of ``--repeats`` warm runs of each stage: read (PNG decode),
detect (dlib HOG + 68 landmarks), align (crop at the model's size), edit (the jitted generator),
paste (soft mask + paste-back at full resolution), then the whole ``edit_photo`` call. Measure on
an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _median_seconds(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--scale", type=float, default=1.0)
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--emotion", default="happy")
  args = parser.parse_args()

  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from skimage import data  # pylint: disable=g-import-not-at-top

  import fxs_jax  # pylint: disable=g-import-not-at-top
  from fxs_jax import photos  # pylint: disable=g-import-not-at-top
  from fxs_jax.faces import alignment  # pylint: disable=g-import-not-at-top
  from fxs_jax.faces import preprocessing  # pylint: disable=g-import-not-at-top

  photo = Image.fromarray(data.astronaut())
  if args.scale != 1.0:
    photo = photo.resize([round(s * args.scale) for s in photo.size], Image.BILINEAR)
  path = Path(tempfile.mkdtemp(prefix="photo_edit_bench_")) / "astronaut.png"
  photo.save(path)

  start = time.perf_counter()
  model = fxs_jax.load(args.model)
  load_s = time.perf_counter() - start
  size = model.config.model.image_size
  image, _ = photos.read_photo(path)
  detector = preprocessing.shared_detector()
  start = time.perf_counter()
  landmarks = detector.detect(image)
  first_detect_s = time.perf_counter() - start
  faces = [alignment.align(image, points, size) for points in landmarks]
  crops = np.stack([f.image for f in faces])
  crop_landmarks = np.stack([f.landmarks for f in faces])
  start = time.perf_counter()
  edited = model.edit(crops, landmarks=crop_landmarks, emotion=args.emotion)
  first_edit_s = time.perf_counter() - start

  stages = {
      "read": lambda: photos.read_photo(path),
      "detect": lambda: detector.detect(image),
      "align": lambda: [alignment.align(image, points, size) for points in landmarks],
      "edit": lambda: model.edit(crops, landmarks=crop_landmarks, emotion=args.emotion),
      "paste": lambda: photos.paste_faces(image, faces, edited),
      "edit_photo (all)": lambda: model.edit_photo(path, emotion=args.emotion),
  }
  print(f"{model}\nphoto {image.shape[1]}x{image.shape[0]} px, {len(faces)} face(s), crop "
        f"{size} px\none-off: load {load_s:.2f} s, first detect (dlib files) {first_detect_s:.2f}"
        f" s, first edit (compile) {first_edit_s:.2f} s\nmedian of {args.repeats} warm runs:")
  for name, fn in stages.items():
    print(f"  {name:17} {1000 * _median_seconds(fn, args.repeats):8.1f} ms")


if __name__ == "__main__":
  main()
