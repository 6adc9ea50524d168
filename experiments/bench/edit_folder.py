"""Wall time of ``python -m fxs_jax.edit`` on a folder of real photos in one call, against one call
per photo (each of which loads and compiles the model again).

  nice -n 5 python experiments/bench/edit_folder.py [--model=synthfaces/ganimation]
      [--photos=20] [--separate=20] [--emotion=happy]

The photos come from ``tests/real_photos.py`` (scikit-image, matplotlib and insightface's sample
images; nothing is downloaded): insightface's group photo ``t1.jpg`` (five faces) and 19 single-
face photos: astronaut, grace_hopper and t1_face0..4 as they are, mirrored, and (the first five)
enlarged 1.5x; ``--photos`` takes the first N of that list. Both ways run as fresh processes,
timed whole (Python start, imports, model load, compiles, face detection, edits, writes), each
writing into its own temporary folder, with no persistent XLA cache (``JAX_COMPILATION_CACHE_DIR``
removed from their environment). ``--separate=K`` below ``--photos`` runs the first K photos
one call each and extrapolates the rest from their mean (printed as such). Prints the machine,
then seconds in total and per photo. Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib  # puts the repository root on sys.path

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-order
from PIL import Image  # pylint: disable=g-import-not-at-top,wrong-import-order
from PIL import ImageOps  # pylint: disable=g-import-not-at-top,wrong-import-order

SINGLES = ("astronaut", "grace_hopper") + tuple(f"t1_face{i}" for i in range(5))


def photo_list() -> list[tuple[str, np.ndarray]]:
  """(file name, uint8 photo): the group photo first, then the single faces' variants."""
  from tests import real_photos  # pylint: disable=import-outside-toplevel  (pytest, insightface)
  listed = [("t1_group.jpg", real_photos.group_photo())]
  originals = {name: Image.fromarray(real_photos.photo(name)) for name in SINGLES}
  listed += [(f"{name}.png", np.asarray(image)) for name, image in originals.items()]
  listed += [(f"{name}_mirrored.jpg", np.asarray(ImageOps.mirror(image)))
             for name, image in originals.items()]
  listed += [(f"{name}_x1.5.png", np.asarray(image.resize(
      (round(1.5 * image.width), round(1.5 * image.height)), Image.BICUBIC)))
             for name, image in list(originals.items())[:5]]
  return listed


def _cli(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, "-m", "fxs_jax.edit", *argv], env=env, cwd=benchlib.REPO,
                        capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - start
  if proc.returncode:
    raise SystemExit(f"python -m fxs_jax.edit {' '.join(argv)} failed ({proc.returncode}):\n"
                     f"{proc.stderr.strip()}")
  return seconds, proc


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="synthfaces/ganimation")
  parser.add_argument("--photos", type=int, default=20)
  parser.add_argument("--separate", type=int, default=None,
                      help="photos run one call each (default all; fewer: extrapolated)")
  parser.add_argument("--emotion", default="happy")
  args = parser.parse_args()
  available = photo_list()
  if not 1 <= args.photos <= len(available):
    parser.error(f"--photos must be 1..{len(available)}, got {args.photos}")
  separate = args.photos if args.separate is None else args.separate
  if not 1 <= separate <= args.photos:
    parser.error(f"--separate must be 1..--photos ({args.photos}), got {separate}")
  benchlib.print_machine()

  with tempfile.TemporaryDirectory(prefix="edit_folder_bench_") as tmp:
    folder, together, alone = Path(tmp, "photos"), Path(tmp, "one_call"), Path(tmp, "separate")
    folder.mkdir()
    files = []
    for name, image in available[:args.photos]:
      Image.fromarray(image).save(folder / name, **({"quality": 95} if name.endswith(".jpg")
                                                    else {}))
      files.append(folder / name)
    flags = [f"--model={args.model}", f"--emotion={args.emotion}", "--quiet"]

    one_call, proc = _cli([str(folder), *flags, f"--out={together}"])
    print(f"one call: {proc.stdout.strip().splitlines()[-1]}", flush=True)

    times = []
    for path in files[:separate]:
      seconds, _ = _cli([str(path), *flags, f"--out={alone / path.name}"])
      times.append(seconds)
      print(f"  {path.name}: {seconds:.1f} s", flush=True)
    measured = sum(times)
    total = measured + (args.photos - separate) * measured / separate

  n = args.photos
  how = "measured" if separate == n else f"{separate} measured, {n - separate} extrapolated"
  print(benchlib.markdown_table(
      ["way", "photos", "total s", "s per photo"],
      [["one call (folder)", n, one_call, one_call / n],
       [f"one call per photo ({how})", n, total, total / n]]))
  print(f"speed-up: {total / one_call:.1f}x")


if __name__ == "__main__":
  main()
