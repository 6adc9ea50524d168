"""``python -m fxs_jax.edit PHOTO [PHOTO | FOLDER ...] --model=DIR_OR_NAME --emotion=happy``: a
trained model on your own photos (``fxs_jax.photos``), loaded and compiled once for all of them.

    python -m fxs_jax.edit me.jpg --model=synthfaces/ganimation --emotion=happy
    python -m fxs_jax.edit holiday/ a.jpg b.png --model=synthfaces/ganimation --emotion=sad \\
        --out=edited/

    PHOTO / FOLDER  one or more photos and/or folders (a folder: its jpg, jpeg, png, bmp, ppm,
        tif and tiff files, any case, in its subfolders too, sorted)
    --emotion=NAME | --aus=AU12=3,AU06=2 (GANimation) | --source=PHOTO (cGAN transfer: the
        expression of the largest face in PHOTO)
    --intensity=1.0 --start=neutral  (see model.edit_photo), --faces=all|largest|0,2,
    --thorough (look harder for faces), --relative_to=start|input (what an edit adds)
    --animate=K  a K-frame video instead of a still (.gif and .mp4; --gif / --mp4 for one only;
        --fps, --max_side); TextureGAN runs make videos only (--motion=its MotionGAN run).
        Bounds that keep memory near 2 GB: K 2-300, --fps 0.1-60, --max_side 32-2048 (0: the
        photo's size, at most 2048), K x (frame + faces' crop) pixels at most 100 million
    --out  one photo: the output file (a video: its stem; an existing folder: written into it);
        several photos or a folder: the folder to write into (a folder's subfolders kept)
    --quiet  no progress bar and no line per edited photo

Each output is ``<photo stem>_<target>.<photo suffix>`` (videos ``.gif`` / ``.mp4``), beside its
photo or in --out. An input photo is never overwritten; an output from an earlier run is.

One photo: a problem (no face, an unreadable or too large file, a bad flag value, an output that
cannot be written) ends with one line on stderr and exit status 1, the output checked before the
model loads. Several photos: a bad flag, a missing path or a folder without images is one line
on stderr before any work (exit status 1). Then a photo with no face, or unreadable, or too
large is skipped ("skipped PATH: reason"), and a photo whose output would overwrite an input
photo or another photo's output, or cannot be written, fails ("failed PATH: reason"); the others
go on. The last line is "edited N, skipped M, failed K in S s". Exit status 0 when at least
one photo was edited and none failed (skipped photos alone do not fail the run), else 1. Files
are written under a temporary name and renamed: never half-written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fxs_jax import animation
from fxs_jax import errors
from fxs_jax import face_model
from fxs_jax import inputs
from fxs_jax import photo_io
from fxs_jax import photos
from fxs_jax.errors import check_output_path
from fxs_jax.errors import UserError
from fxs_jax.errors import write_error
from fxs_jax.faces import prepare

VIDEO_SUFFIXES = {".gif": "gif", ".mp4": "mp4"}


def _faces(text: str):
  """--faces: all, largest or comma-separated face indices."""
  if text in photos.FACE_CHOICES:
    return text
  try:
    return [int(part) for part in text.split(",")]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"{text!r} is not all, largest or face indices such as 0,2") from None


def parse_args(argv) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m fxs_jax.edit", description=__doc__.split(
      "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(
          __doc__.split("\n\n")[1:]))
  parser.add_argument("photos", nargs="+", metavar="PHOTO",
                      help="photos (jpg, png, ...) and/or folders of photos to edit")
  parser.add_argument("--model", required=True, help="a training workdir, an export or a "
                      "bundled model's name")
  target = parser.add_mutually_exclusive_group()
  target.add_argument("--emotion", help="target expression: neutral, happy, sad, surprised, "
                      "angry, fearful, disgusted, contemptuous")
  target.add_argument("--aus", help="GANimation's AU target: AU12=3,AU06=2 (others 0) or 17 "
                      "comma-separated intensities 0-5")
  target.add_argument("--source", help="cGAN transfer: the photo whose expression is copied")
  parser.add_argument("--intensity", type=float, default=1.0,
                      help="0 = start, 1 = the target (GANimation: > 1 exaggerates, up to "
                           f"{errors.MAX_INTENSITY:g})")
  parser.add_argument("--start", help="the expression intensity 0 means (default neutral)")
  parser.add_argument("--faces", type=_faces, default="all", help="all, largest, or the "
                      "indices of the faces to edit, the largest first: 0,2")
  parser.add_argument("--thorough", action="store_true", help="search again for faces at twice "
                      "the scale (about 4x the time): faces half as large, turned faces")
  parser.add_argument("--relative_to", choices=photos.RELATIVE_TO, default="start",
                      help="start: add only the model's change from the face's start (nothing "
                           "asked, nothing changed); input: paste the model's whole rendering")
  parser.add_argument("--out", help="one photo: the output path; several photos or a folder: "
                      "the output folder (default beside each photo)")
  parser.add_argument("--quiet", action="store_true",
                      help="no progress bar, no line per edited photo")
  parser.add_argument("--animate", type=int, metavar="K",
                      help=f"write a K-frame video (2-{errors.MAX_FRAMES})")
  parser.add_argument("--gif", action="store_true", help="with --animate: write the GIF")
  parser.add_argument("--mp4", action="store_true", help="with --animate: write the MP4")
  parser.add_argument("--fps", type=float, help=f"with --animate: frames per "
                      f"second ({errors.MIN_FPS:g}-{errors.MAX_FPS:g})")
  parser.add_argument("--motion", help="TextureGAN: the MotionGAN run (default the texture run's "
                      "config.video.motion)")
  parser.add_argument("--max_side", type=int, default=photos.ANIMATION_MAX_SIDE,
                      help="with --animate: longer side of the video's frames, "
                           f"{errors.MIN_VIDEO_SIDE}-{errors.MAX_VIDEO_SIDE} (0: the photo's)")
  parser.add_argument("--no_keep_detail", action="store_true",
                      help="paste the model's crops themselves, not their change to the photo")
  return parser.parse_args(argv)


def _target_name(args) -> str:
  if args.source:
    return "transfer"
  return args.emotion or "aus"


def _formats(args, out: Path | None = None) -> tuple[str, ...]:
  """The video formats --animate writes (none for a still); ``out``'s suffix may pick one."""
  if args.animate is None:
    if args.gif or args.mp4 or (out is not None and out.suffix.lower() in VIDEO_SUFFIXES):
      raise UserError(f"{out or '--gif/--mp4'}: a video needs --animate=K (the number of "
                      "frames).")
    return ()
  chosen = tuple(f for f in animation.VIDEO_FORMATS if getattr(args, f))
  if not chosen and out is not None and out.suffix.lower() in VIDEO_SUFFIXES:
    chosen = (VIDEO_SUFFIXES[out.suffix.lower()],)
  return chosen or animation.VIDEO_FORMATS


def _written(out: Path, formats) -> list[Path]:
  """The files an output writes: ``out`` itself (a still) or ``out.<format>`` (a video)."""
  return [out.with_name(f"{out.name}.{f}") for f in formats] if formats else [out]


def _default_out(photo: Path, folder: Path, args, formats) -> Path:
  stem = folder / f"{photo.stem}_{_target_name(args)}"
  return stem if formats else stem.with_name(stem.name + photo.suffix)


def check_flags(args) -> None:
  """The numbers the flags give, each finite and in its range (one line, before any work)."""
  animation.check_intensity(args.intensity, "--intensity")
  if args.animate is None and args.fps is not None:
    raise UserError(f"--fps={args.fps:g}: frames per second are a video's; add --animate=K or "
                    "drop --fps.")
  if args.animate is not None:
    animation.check_frames(args.animate, "--animate")
    animation.check_fps(args.fps, "--fps")
    animation.check_max_side(args.max_side, "--max_side")


def writable(out: Path, formats) -> str:
  """Why the files of output ``out`` cannot be written (a missing or unwritable folder, a file
  where a folder should be, an unknown suffix), or "" when they can."""
  try:
    for path in _written(out, formats):
      if not formats:
        photo_io.check_suffix(path)
      check_output_path(path)
  except UserError as e:
    return one_line(e)
  return ""


def output_paths(args) -> tuple[Path, tuple[str, ...]]:
  """One photo's output (for a video: its stem) and the video formats; never the photo itself."""
  photo = Path(args.photos[0])
  given = Path(args.out) if args.out else None
  into = given if given is not None and given.is_dir() else None
  formats = _formats(args, None if into else given)
  if given is None or into is not None:
    out = _default_out(photo, into or photo.parent, args, formats)
  else:
    out = given.with_suffix("") if formats and given.suffix.lower() in VIDEO_SUFFIXES else given
  for path in _written(out, formats):
    if path.resolve() == photo.resolve():
      raise UserError(f"{path} is the input photo: choose another --out (the photo is never "
                      "overwritten).")
  problem = writable(out, formats)
  if problem:
    raise UserError(problem)
  return out, formats


@dataclasses.dataclass
class Job:
  """One photo of a bulk edit: where its output goes, or why it cannot be written."""
  photo: Path
  out: Path  # a still's file, a video's stem
  problem: str = ""


def find_photos(paths) -> list[tuple[Path, Path]]:
  """``(photo, its path below the folder given, or its name)`` for every photo named or found in
  a named folder, in order, each once; a one-line error for a missing path or an empty folder."""
  found, seen = [], set()
  for given in map(Path, paths):
    if given.is_dir():
      images = prepare.find_images(given)
      if not images:
        raise UserError(f"{given}: no images ({', '.join(s[1:] for s in prepare.IMAGE_SUFFIXES)})"
                        " in this folder or its subfolders; pass a folder of photos.")
      pairs = [(image, image.relative_to(given)) for image in images]
    elif given.exists():
      pairs = [(given, Path(given.name))]
    else:
      raise UserError(f"{given}: no such file or folder; pass photos (jpg, png, ...) or folders "
                      "of them.")
    for photo, relative in pairs:
      if photo.resolve() not in seen:  # a photo named twice (or also in a folder) is edited once
        seen.add(photo.resolve())
        found.append((photo, relative))
  return found


def plan(args, found: list[tuple[Path, Path]]) -> tuple[list[Job], tuple[str, ...]]:
  """Each photo's output, beside it or in the --out folder; an output that is an input photo
  or an earlier photo's output is not written (``Job.problem`` says why)."""
  out_dir = Path(args.out) if args.out else None
  file_like = out_dir is not None and out_dir.suffix.lower() in {*prepare.IMAGE_SUFFIXES,
                                                                 *VIDEO_SUFFIXES}
  if out_dir is not None and (out_dir.is_file() or (file_like and not out_dir.exists())):
    raise UserError(f"--out={out_dir} names a file; with several photos or a folder, --out is the "
                    "folder to write into.")
  formats = _formats(args)
  inputs = {photo.resolve() for photo, _ in found}
  owners: dict[Path, Path] = {}
  jobs = []
  for photo, relative in found:
    out = _default_out(photo, out_dir / relative.parent if out_dir else photo.parent, args,
                       formats)
    problem = ""
    for path in _written(out, formats):
      if path.resolve() in inputs:
        problem = (f"its output {path} is an input photo (never overwritten); write into another "
                   "folder with --out=DIR")
      elif path.resolve() in owners:
        problem = (f"its output {path} is also the output of {owners[path.resolve()]}; edit them "
                   "in separate calls")
      if problem:
        break
    problem = problem or writable(out, formats)
    if not problem:
      owners.update((path.resolve(), photo) for path in _written(out, formats))
    jobs.append(Job(photo, out, problem))
  return jobs, formats


def editor(model, args, aus):
  """``edit(photo) -> PhotoEdit | Animation`` as the flags say, after checking the flags against
  the model (one-line errors before any photo is edited)."""
  keep_detail = not args.no_keep_detail
  if args.source:
    if args.animate is not None:
      raise UserError("--source (expression transfer) makes a still photo; drop --animate.")
    if "transfer_photo" not in model.uses:
      raise UserError(f"--source needs a cGAN transfer model; {args.model} is "
                      f"{model.config.model_name}.")
    source, name = photos.read_photo(args.source)
    photos.find_faces(source, model.config.model.image_size, "largest", name)  # has a face
    return lambda photo: model.transfer_photo(source, photo, faces=args.faces,
                                              keep_detail=keep_detail, thorough=args.thorough,
                                              relative_to=args.relative_to)
  if args.emotion is None and aus is None:
    raise UserError("Say what to do: --emotion=NAME, --aus=AU12=3,... (GANimation) or "
                    "--source=PHOTO (cGAN transfer).")
  wanted = "animate_photo" if args.animate is not None else "edit_photo"
  if wanted not in model.uses:
    hint = (" it makes videos: add --animate=K" if "animate_photo" in model.uses
            else " pass a GANimation, LGP-GAN, cGAN transfer or TextureGAN model")
    raise UserError(f"{args.model} ({model.config.model_name}) does not "
                    f"{'animate' if args.animate is not None else 'edit'} photos;{hint}.")
  target = {"emotion": args.emotion, "aus": aus, "faces": args.faces, "start": args.start,
            "keep_detail": keep_detail, "thorough": args.thorough,
            "relative_to": args.relative_to}
  if args.intensity != 1.0:
    target["intensity"] = args.intensity
  if "edit" in model.predictions:  # the target, checked by the model's own input builder
    size = model.config.model.image_size
    model.declaration("edit").inputs(
        np.zeros((1, size, size, 3), np.uint8), landmarks=np.zeros((1, 68, 2), np.float32),
        intensity=args.intensity, **animation.target_arguments(
            model, emotion=args.emotion, aus=aus, start=args.start))
  if args.animate is None:
    return lambda photo: model.edit_photo(photo, **target)
  if args.motion:
    target["motion"] = args.motion
  return lambda photo: model.animate_photo(photo, frames=args.animate, fps=args.fps,
                                           max_side=args.max_side or None, **target)


def faces_note(result) -> str:
  """`` (2 faces edited; skipped the face at ...: why)`` for an edit, the skipped faces of an
  animation, or "" when there is nothing to say."""
  if hasattr(result, "summary"):
    return f" ({result.summary()})"
  skipped = getattr(result, "skipped", ())
  return f" ({photos.faces_summary(0, skipped).split('; ', 1)[1]})" if skipped else ""


def save(result, out: Path, formats) -> list[Path]:
  """Writes an edit (a still) or an animation (``formats``) to ``out``; the files written
  (each complete, or a one-line error naming it)."""
  try:
    if not formats:
      return [result.save(out)]
    return result.save(out, min_side=0, formats=formats)  # frames as --max_side made them
  except OSError as e:  # the writers turn theirs into UserErrors; anything they miss, here
    raise write_error(getattr(e, "filename", None) or out, e) from e


def _load(args):
  """The model, once the flags that need no model are checked."""
  aus = inputs.parse_aus(args.aus) if args.aus else None
  if args.source:  # a bad source fails before the model loads
    photos.read_photo(args.source)
  return face_model.load(args.model), aus


def run(args) -> tuple[list[Path], str]:
  """Edits (or animates) the one photo as the flags say; returns the files written and what
  became of its faces (:func:`faces_note`)."""
  out, formats = output_paths(args)
  image, name = photos.read_photo(args.photos[0])  # a bad file fails before the model loads
  if formats:
    animation.check_video_size(name, image.shape[:2], args.animate, args.max_side or None)
  del image
  model, aus = _load(args)
  result = editor(model, args, aus)(args.photos[0])
  return save(result, out, formats), faces_note(result)


def one_line(error: Exception) -> str:
  """An error's message on one line (messages may wrap)."""
  return " ".join(str(error).split())


def run_many(args) -> int:
  """Edits every photo of ``args.photos`` (files and folders) with one model; the exit status."""
  start = time.perf_counter()
  jobs, formats = plan(args, find_photos(args.photos))
  if any(not job.problem for job in jobs):  # else nothing can be written: no model to load
    model, aus = _load(args)
    edit = editor(model, args, aus)
  counts = {"edited": 0, "skipped": 0, "failed": 0}
  summary = lambda: (", ".join(f"{k} {v}" for k, v in counts.items())
                     + f" in {time.perf_counter() - start:.1f} s")

  def report(kind: str, job: Job, reason: str) -> None:
    counts[kind] += 1
    tqdm.write(f"{kind} {job.photo}: {reason}", file=sys.stderr)

  for job in tqdm(jobs, unit="photo", disable=args.quiet or not sys.stderr.isatty()):
    if job.problem:
      report("failed", job, job.problem)
      continue
    try:
      result = edit(str(job.photo))
    except UserError as e:
      # fxs_jax.photos names the file first in what is wrong with a photo (unreadable, too
      # large, no face); any other error (the flags, the model) would stop every photo alike.
      if not str(e).startswith(f"{job.photo}: "):
        print(f"error: {one_line(e)}", file=sys.stderr)
        print(f"{summary()}; stopped at {job.photo}")
        return 1
      report("skipped", job, one_line(e)[len(f"{job.photo}: "):])
      continue
    try:
      written = save(result, job.out, formats)
    except (UserError, OSError) as e:
      # photos.save_photo's errors name the file and say why; an OSError's errno text is noise.
      why = e.strerror if isinstance(e, OSError) and e.strerror else one_line(e)
      report("failed", job, why if why.startswith(str(job.out)) else
             f"cannot write {job.out}: {why}")
      continue
    counts["edited"] += 1
    if not args.quiet:
      tqdm.write(f"{job.photo} -> {', '.join(map(str, written))}{faces_note(result)}",
                 file=sys.stdout)
  print(summary())
  return 0 if counts["edited"] and not counts["failed"] else 1


def main(argv=None) -> int:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    check_flags(args)
    if len(args.photos) > 1 or Path(args.photos[0]).is_dir():
      return run_many(args)
    written, note = run(args)
  except UserError as e:
    print(f"error: {one_line(e)}", file=sys.stderr)
    return 1
  if not args.quiet:
    print(f"{args.photos[0]} -> {', '.join(map(str, written))}{note}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
