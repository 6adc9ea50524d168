"""``python -m fxs_jax.faces.prepare FOLDER OUT [--size=128] [--multiple=skip|largest]
[--min_face=N] [--threshold=T]``: aligned face crops of every photo in a folder.

For each image under FOLDER (jpg, jpeg, png, bmp, ppm, tif, tiff; any case; recursive) with one
usable face, writes ``OUT/<relative path>.png`` (the crop), ``<...>.landmarks.npy`` ((68, 2)
float32, crop pixels) and ``<...>.transform.npy`` ((2, 3) float64, photo -> crop pixels; see
:class:`fxs_jax.faces.AlignedFace`). The suffix is appended (``a/b.jpg`` -> ``a/b.jpg.png``) so
``b.jpg`` and ``b.png`` do not collide. ``OUT/report.json`` and ``OUT/report.txt`` list every image
as kept or skipped, with the reason. Nothing in FOLDER is ever written, moved or deleted; OUT may
not overlap it. Re-running processes every image again and overwrites its own outputs (and
removes them for an image that is now skipped), so OUT always matches its report. Each file is
written under a temporary name and renamed (never half-written); an OUT that cannot be written (a
read-only folder, a file on its path) and out-of-range numbers are one line before any work.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import sys

import numpy as np
from PIL import Image
from tqdm import tqdm

from fxs_jax.errors import MAX_CROP_SIZE
from fxs_jax.errors import UserError
from fxs_jax.errors import check_number
from fxs_jax.errors import check_output_path
from fxs_jax.errors import replace_atomically
from fxs_jax.errors import write_error
from fxs_jax.faces import framing as framing_lib
from fxs_jax.faces.detect import DEFAULT_THRESHOLD
from fxs_jax.faces.detect import FaceDetector
from fxs_jax.faces.preprocessing import MULTIPLE_CHOICES
from fxs_jax.faces.preprocessing import Skip
from fxs_jax.faces.preprocessing import default_min_face
from fxs_jax.faces.preprocessing import preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff")
OUTPUT_SUFFIXES = {"crop": ".png", "landmarks": ".landmarks.npy", "transform": ".transform.npy"}
MAX_MIN_FACE = 100_000  # --min_face in photo pixels: wider than any photo fxs_jax reads
MAX_THRESHOLD = 10.0  # |--threshold|: dlib's detection scores lie well inside


def find_images(folder: pathlib.Path) -> list[pathlib.Path]:
  """Image files under ``folder`` (recursive, symlinked folders not followed), sorted."""
  found = []
  for root, dirs, files in os.walk(folder):
    dirs.sort()
    found += [pathlib.Path(root, f) for f in sorted(files)
              if pathlib.Path(f).suffix.lower() in IMAGE_SUFFIXES]
  return found


def _check_folders(folder, out) -> tuple[pathlib.Path, pathlib.Path]:
  folder, out = pathlib.Path(folder).resolve(), pathlib.Path(out).resolve()
  if not folder.exists():
    raise UserError(f"input folder {folder} does not exist; pass the folder of photos to prepare")
  if not folder.is_dir():
    raise UserError(f"{folder} is not a folder; pass the folder of photos to prepare")
  if out == folder or folder in out.parents or out in folder.parents:
    raise UserError(f"output folder {out} overlaps the input folder {folder}; choose an output "
                    f"folder outside it (prepare never writes into your photos)")
  if out.exists() and not out.is_dir():
    raise UserError(f"output {out} is a file; pass a folder path (it is created if missing)")
  check_output_path(out, folder=True)  # a read-only folder, a file on the way: before any work
  return folder, out


def check_numbers(size, min_face, threshold) -> None:
  """One-line errors for a crop size, smallest face or detection score out of range."""
  check_number(size, "size", low=16, high=MAX_CROP_SIZE, integer=True,
               meaning="the crops' side in pixels", fix="pass e.g. --size=128")
  if min_face is not None:
    check_number(min_face, "min_face", low=0, high=MAX_MIN_FACE, integer=True,
                 meaning="the smallest face kept, in photo pixels",
                 fix="omit it for the framing's own rule")
  check_number(threshold, "threshold", low=-MAX_THRESHOLD, high=MAX_THRESHOLD,
               meaning="dlib's detection score",
               fix=f"pass e.g. --threshold={DEFAULT_THRESHOLD:g}")



def _write_outputs(outputs: dict, result) -> None:
  """An image's crop, landmarks and transform, each written whole; when one cannot be, none of
  the three is left (a one-line error naming the file)."""
  writes = {"crop": lambda tmp: Image.fromarray(result.image).save(tmp, "PNG"),
            "landmarks": lambda tmp: np.save(tmp, result.landmarks.astype(np.float32)),
            "transform": lambda tmp: np.save(tmp, result.transform.astype(np.float64))}
  try:
    for kind, write in writes.items():
      replace_atomically(outputs[kind], write)
  except UserError:
    for path in outputs.values():
      try:
        path.unlink(missing_ok=True)
      except OSError:
        pass  # the error raised names the first file that failed
    raise


def _skip_kind(reason: str) -> str:
  """The reason without its details: 'unreadable', 'no face found', 'face too small', ..."""
  return reason.split(":")[0].split(" (")[0]


def _write_reports(out: pathlib.Path, report: dict) -> None:
  text = json.dumps(report, indent=2) + "\n"
  replace_atomically(out / "report.json", lambda tmp: pathlib.Path(tmp).write_text(text))
  counts = report["counts"]
  lines = [f"{counts['images']} images in {report['folder']} -> {report['out']} (size "
           f"{report['size']}, multiple={report['multiple']}, min_face {report['min_face']} px, "
           f"threshold {report['threshold']:g})",
           summary(report), ""]
  for item in report["images"]:
    detail = f"  {item['reason']}" if item["status"] == "skipped" else ""
    lines.append(f"{item['status']:8} {item['path']}{detail}")
  text = "\n".join(lines) + "\n"
  replace_atomically(out / "report.txt", lambda tmp: pathlib.Path(tmp).write_text(text))


def summary(report: dict) -> str:
  """One line: how many images were kept and why the others were skipped."""
  counts = report["counts"]
  why = ", ".join(f"{kind}: {n}" for kind, n in counts["skip_reasons"].items())
  return (f"kept {counts['kept']} of {counts['images']} images, skipped {counts['skipped']}"
          + (f" ({why})" if why else ""))


def prepare_folder(folder, out, size: int = 128, multiple: str = "skip",
                   min_face: int | None = None, threshold: float = DEFAULT_THRESHOLD,
                   detector: FaceDetector | None = None, progress: bool = True,
                   framing: str = "synthfaces") -> dict:
  """Writes the crops of every image under ``folder`` into ``out`` (see the module docstring).

  ``size``, ``multiple``, ``min_face`` and ``framing`` are :func:`fxs_jax.faces.preprocess`'s;
  ``threshold``
  is the :class:`FaceDetector`'s (used when no ``detector`` is given).

  Returns:
    The report also written to ``out/report.json``: the options, ``counts`` (images, kept,
    skipped, skip_reasons) and ``images`` (one ``{"path", "status", "reason" | "crop"}`` each).
  """
  check_numbers(size, min_face, threshold)
  folder, out = _check_folders(folder, out)
  images = find_images(folder)
  if not images:
    raise UserError(f"no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) found under "
                    f"{folder}; pass the folder that holds the photos")
  framing_lib.get(framing)  # an unknown name: one line, before any work
  if min_face is None and framing == "synthfaces":
    min_face = default_min_face(size)
  detector = detector or FaceDetector(threshold=threshold)
  try:
    out.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise write_error(out, e) from e
  items = []
  for path in tqdm(images, desc="faces", unit="image", disable=not progress):
    relative = path.relative_to(folder).as_posix()
    outputs = {k: out / (relative + suffix) for k, suffix in OUTPUT_SUFFIXES.items()}
    result = preprocess(path, size, detector=detector, min_face=min_face, multiple=multiple,
                        framing=framing)
    if isinstance(result, Skip):
      for stale in outputs.values():  # a previous run's crop of this image
        try:
          stale.unlink(missing_ok=True)
        except OSError as e:
          raise write_error(stale, e) from e
      items.append({"path": relative, "status": "skipped", "reason": result.reason})
      continue
    _write_outputs(outputs, result)
    items.append({"path": relative, "status": "kept", "crop": relative + OUTPUT_SUFFIXES["crop"]})
  reasons = collections.Counter(_skip_kind(i["reason"]) for i in items if i["status"] == "skipped")
  kept = sum(i["status"] == "kept" for i in items)
  report = {"folder": str(folder), "out": str(out), "size": size, "framing": framing,
            "multiple": multiple,
            "min_face": min_face, "threshold": detector.threshold,
            "counts": {"images": len(items), "kept": kept, "skipped": len(items) - kept,
                       "skip_reasons": dict(sorted(reasons.items()))},
            "images": items}
  _write_reports(out, report)
  return report


def main(argv: list[str] | None = None) -> int:
  """The command line; returns the exit status (errors are one line on stderr)."""
  parser = argparse.ArgumentParser(prog="python -m fxs_jax.faces.prepare",
                                   description="Aligned face crops of every photo in a folder.")
  parser.add_argument("folder", help="folder of photos (read only; searched recursively)")
  parser.add_argument("out", help="output folder, outside FOLDER (created if missing)")
  parser.add_argument("--size", type=int, default=128, help="crop side in pixels")
  parser.add_argument("--multiple", choices=MULTIPLE_CHOICES, default="skip",
                      help="photos with several faces: skip them or keep the largest face")
  parser.add_argument("--min_face", type=int, default=None,
                      help="smallest face kept, in photo pixels between the jaw corners "
                           "(default: 3/8 of --size with synthfaces, else faces the framing "
                           "would enlarge more than 1.44x are skipped)")
  parser.add_argument("--framing", choices=list(framing_lib.FRAMINGS), default="synthfaces",
                      help="how the face fills the crop (fxs_jax/faces/framing.py): synthfaces "
                           "(as the bundled models expect), face_crop (photos that already are "
                           "face crops), stargan_rafd, face_box")
  parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                      help="dlib face detection score a face needs: raise it if patterns are "
                           "mistaken for faces, lower it (dlib's default is 0) to find faint ones")
  args = parser.parse_args(argv)
  try:
    report = prepare_folder(args.folder, args.out, args.size, args.multiple, args.min_face,
                            args.threshold, framing=args.framing)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{summary(report)}; report: {pathlib.Path(report['out']) / 'report.txt'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
