"""Build speed of the manual-dataset builders on photos of the real datasets' sizes.

  python experiments/bench/dataset_build.py [--subjects=6] [--size=128] [--threads=1]

Writes, in a temporary folder, a RaFD-like tree (681x1024 colour JPEGs, the face ~360 px wide as
in RaFD's frontal photos; dlib detects every face) and a CK+-like tree (640x490 grey PNG
sequences of 12 frames with their shipped landmark files: dlib is not run), both with faces
drawn by the SynthFaces renderer, then times ``builders.prepare`` of ``rafd/frontal_<size>``,
``ck_plus/stills_<size>`` and ``ck_plus/sequences_<size>`` (TFDS build included) and prints
photos/s (photos read and cropped, not examples written). Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RAFD_SIZE = (681, 1024)  # (width, height) of RaFD's photos
CK_SIZE = (640, 490)  # CK+'s frames
FACE = 360
CK_FACE = 300
CK_FRAMES = 12
EMOTIONS = ("neutral", "happy", "sad", "surprised", "angry", "fearful", "disgusted",
            "contemptuous")
CK_CODES = {"happy": 5, "surprised": 7, "sad": 6}


def _paste(face, landmarks, canvas_size, top, grey=False):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  width, height = canvas_size
  canvas = np.full((height, width, 3), (120, 118, 112), np.uint8)
  size = face.shape[0]
  x0 = (width - size) // 2
  canvas[top:top + size, x0:x0 + size] = face
  image = Image.fromarray(canvas)
  return (image.convert("L") if grey else image), landmarks + np.float32([x0, top])


def write_rafd(root: Path, subjects: int) -> int:
  from fxs_jax import facs  # pylint: disable=g-import-not-at-top
  from fxs_jax.data import synth_faces  # pylint: disable=g-import-not-at-top
  count = 0
  for number in range(1, subjects + 1):
    identity = synth_faces.sample_identity(1000 + number)
    for emotion in EMOTIONS:
      image, _ = _paste(*synth_faces.render(identity, facs.emotion_aus(emotion), FACE),
                        RAFD_SIZE, top=300)
      image.save(root / f"Rafd090_{number:02d}_Caucasian_female_{emotion}_frontal.jpg",
                 quality=95)
      count += 1
  return count


def write_ck(root: Path, subjects: int) -> int:
  from fxs_jax import facs  # pylint: disable=g-import-not-at-top
  from fxs_jax.data import synth_faces  # pylint: disable=g-import-not-at-top
  count = 0
  for number in range(1, subjects + 1):
    identity = synth_faces.sample_identity(2000 + number)
    for seq, (emotion, code) in enumerate(CK_CODES.items(), start=1):
      subject, sequence = f"S{number:03d}", f"{seq:03d}"
      for tree in ("cohn-kanade-images", "Landmarks", "Emotion", "FACS"):
        (root / tree / subject / sequence).mkdir(parents=True, exist_ok=True)
      frames, landmarks, _ = synth_faces.render_sequence(identity, facs.emotion_aus(emotion),
                                                         CK_FRAMES, CK_FACE)
      for i, (frame, points) in enumerate(zip(frames, landmarks), start=1):
        stem = f"{subject}_{sequence}_{i:08d}"
        image, points = _paste(frame, points, CK_SIZE, top=100, grey=True)
        image.save(root / "cohn-kanade-images" / subject / sequence / f"{stem}.png")
        (root / "Landmarks" / subject / sequence / f"{stem}_landmarks.txt").write_text(
            "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points))
        count += 1
      peak = f"{subject}_{sequence}_{CK_FRAMES:08d}"
      (root / "Emotion" / subject / sequence / f"{peak}_emotion.txt").write_text(f"{code:.7e}\n")
      (root / "FACS" / subject / sequence / f"{peak}_facs.txt").write_text("12 3\n25 2\n")
  return count


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--subjects", type=int, default=6)
  parser.add_argument("--size", type=int, default=128)
  args = parser.parse_args()
  from fxs_jax.data import builders  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    (tmp / "rafd").mkdir()
    (tmp / "ck").mkdir()
    num_rafd = write_rafd(tmp / "rafd", args.subjects)
    num_ck = write_ck(tmp / "ck", args.subjects)
    sequences = args.subjects * len(CK_CODES)
    # Photos each build reads and crops: every RaFD photo; CK+ stills the first and peak frame
    # of each sequence; CK+ sequences 16 resampled frames of 12 (12 distinct).
    rows = [("rafd/frontal", tmp / "rafd", num_rafd, "dlib detection + 68 landmarks"),
            ("ck_plus/stills", tmp / "ck", 2 * sequences, "shipped landmarks"),
            ("ck_plus/sequences", tmp / "ck", sequences * min(CK_FRAMES, 16),
             "shipped landmarks")]
    print(f"cpu: {os.cpu_count()} cores visible; photos {RAFD_SIZE} (RaFD-like), {CK_SIZE} grey "
          f"(CK+-like, {num_ck} frames written); crops {args.size} px")
    print("| build | photos | seconds | photos/s | landmarks |")
    print("| --- | --- | --- | --- | --- |")
    for name, manual, photos, how in rows:
      t0 = time.perf_counter()
      builders.prepare(f"{name}_{args.size}", str(tmp / "tfds"), manual_dir=str(manual))
      seconds = time.perf_counter() - t0
      print(f"| `{name}_{args.size}` | {photos} | {seconds:.1f} | {photos / seconds:.1f} | {how} |",
            flush=True)


if __name__ == "__main__":
  main()
