"""``python -m fxs_jax.edit PHOTO --model=DIR_OR_NAME --emotion=happy [--out=edited.jpg]``: a
trained model on your own photo (``fxs_jax.photos``).

    --emotion=NAME | --aus=AU12=3,AU06=2 (GANimation) | --source=PHOTO (cGAN transfer: the
        expression of the largest face in PHOTO)
    --intensity=1.0 --start=neutral  (see model.edit_photo), --faces=all|largest
    --animate=K  a K-frame video instead of a still (.gif and .mp4; --gif / --mp4 for one only;
        --fps, --max_side); TextureGAN runs make videos only (--motion=its MotionGAN run)

The output defaults to ``<photo stem>_<target>.<photo suffix>`` (videos ``.gif`` / ``.mp4``)
beside the photo, and never overwrites the photo itself. Problems (no face, an unreadable or too
large file, a bad flag value) end with one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fxs_jax import animation
from fxs_jax import photos
from fxs_jax.errors import UserError

VIDEO_SUFFIXES = {".gif": "gif", ".mp4": "mp4"}


def parse_args(argv) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m fxs_jax.edit", description=__doc__.split(
      "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("photo", help="the photo to edit (jpg, png, ...)")
  parser.add_argument("--model", required=True, help="a training workdir, an export or a "
                      "bundled model's name")
  target = parser.add_mutually_exclusive_group()
  target.add_argument("--emotion", help="target expression: neutral, happy, sad, surprised, "
                      "angry, fearful, disgusted, contemptuous")
  target.add_argument("--aus", help="GANimation's AU target: AU12=3,AU06=2 (others 0) or 17 "
                      "comma-separated intensities 0-5")
  target.add_argument("--source", help="cGAN transfer: the photo whose expression is copied")
  parser.add_argument("--intensity", type=float, default=1.0,
                      help="0 = start, 1 = the target (GANimation: > 1 exaggerates)")
  parser.add_argument("--start", help="the expression intensity 0 means (default neutral)")
  parser.add_argument("--faces", choices=photos.FACE_CHOICES, default="all")
  parser.add_argument("--out", help="output path (default beside the photo)")
  parser.add_argument("--animate", type=int, metavar="K", help="write a K-frame video")
  parser.add_argument("--gif", action="store_true", help="with --animate: write the GIF")
  parser.add_argument("--mp4", action="store_true", help="with --animate: write the MP4")
  parser.add_argument("--fps", type=float, help="with --animate: frames per second")
  parser.add_argument("--motion", help="TextureGAN: the MotionGAN run (default the texture run's "
                      "config.video.motion)")
  parser.add_argument("--max_side", type=int, default=photos.ANIMATION_MAX_SIDE,
                      help="with --animate: longer side of the video's frames (0: the photo's)")
  parser.add_argument("--no_keep_detail", action="store_true",
                      help="paste the model's crops themselves, not their change to the photo")
  return parser.parse_args(argv)


def _target_name(args) -> str:
  if args.source:
    return "transfer"
  return args.emotion or "aus"


def output_paths(args) -> tuple[Path, tuple[str, ...]]:
  """The output (for a video: its stem) and the video formats; never the photo itself."""
  photo = Path(args.photo)
  out = Path(args.out) if args.out else photo.with_name(f"{photo.stem}_{_target_name(args)}")
  formats = ()
  if args.animate is not None:
    formats = tuple(f for f in animation.VIDEO_FORMATS if getattr(args, f))
    formats = formats or ((VIDEO_SUFFIXES[out.suffix.lower()],)
                          if out.suffix.lower() in VIDEO_SUFFIXES else animation.VIDEO_FORMATS)
    out = out.with_suffix("") if out.suffix.lower() in VIDEO_SUFFIXES else out
    written = [out.with_name(f"{out.name}.{f}") for f in formats]
  else:
    if args.gif or args.mp4 or out.suffix.lower() in VIDEO_SUFFIXES:
      raise UserError(f"{out}: a video needs --animate=K (the number of frames).")
    out = out if args.out else out.with_name(out.name + photo.suffix)
    written = [out]
  for path in written:
    if path.resolve() == photo.resolve():
      raise UserError(f"{path} is the input photo: choose another --out (the photo is never "
                      "overwritten).")
  return out, formats


def run(args) -> list[Path]:
  """Edits (or animates) the photo as the flags say; returns the files written."""
  from fxs_jax import inference  # pylint: disable=import-outside-toplevel  (JAX: after the flags)
  out, formats = output_paths(args)
  aus = photos.parse_aus(args.aus) if args.aus else None
  for photo in filter(None, (args.photo, args.source)):  # bad files fail before the model loads
    photos.read_photo(photo)
  model = inference.load(args.model)
  keep_detail = not args.no_keep_detail
  if args.source:
    if args.animate is not None:
      raise UserError("--source (expression transfer) makes a still photo; drop --animate.")
    if "transfer_photo" not in model.recipe.methods():
      raise UserError(f"--source needs a cGAN transfer model; {args.model} is "
                      f"{model.config.model_name}.")
    result = model.transfer_photo(args.source, args.photo, faces=args.faces,
                                  keep_detail=keep_detail)
    return [result.save(out)]
  if args.emotion is None and aus is None:
    raise UserError("Say what to do: --emotion=NAME, --aus=AU12=3,... (GANimation) or "
                    "--source=PHOTO (cGAN transfer).")
  methods = model.recipe.methods()
  wanted = "animate_photo" if args.animate is not None else "edit_photo"
  if wanted not in methods:
    hint = (" it makes videos: add --animate=K" if "animate_photo" in methods
            else " pass a GANimation, LGP-GAN, cGAN transfer or TextureGAN model")
    raise UserError(f"{args.model} ({model.config.model_name}) does not "
                    f"{'animate' if args.animate is not None else 'edit'} photos;{hint}.")
  target = {"emotion": args.emotion, "aus": aus, "faces": args.faces, "start": args.start,
            "keep_detail": keep_detail}
  if args.intensity != 1.0:
    target["intensity"] = args.intensity
  if args.animate is None:
    return [model.edit_photo(args.photo, **target).save(out)]
  if args.motion:
    target["motion"] = args.motion
  video = model.animate_photo(args.photo, frames=args.animate, fps=args.fps,
                              max_side=args.max_side or None, **target)
  return video.save(out, min_side=0, formats=formats)  # frames as --max_side made them


def main(argv=None) -> int:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    written = run(args)
  except UserError as e:
    print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
    return 1
  print(f"{args.photo} -> {', '.join(map(str, written))}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
