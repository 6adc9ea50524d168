"""Reads every face in a folder of photos with the FER judge (``fxs_jax.eval.fer_judge``).

  python experiments/photos/judge_photos.py --photos=DIR [--margin=0.1|fer] [--json=OUT.json]

Per photo (the folder searched recursively) and per face dlib finds (largest first): the top
FER2013 class as an fxs_jax emotion word and the seven probabilities. Unreadable photos and
photos without a face are listed with the reason. ``--margin=fer`` crops with fer's fixed 10 px
instead of the proportional margin. Needs the ``faces`` extra (dlib) and h5py.
"""

import json
import sys
from pathlib import Path

from absl import app
from absl import flags

sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

from fxs_jax.errors import UserError  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import fer_judge  # pylint: disable=g-import-not-at-top
from fxs_jax.faces import preprocessing  # pylint: disable=g-import-not-at-top

_PHOTOS = flags.DEFINE_string("photos", None, "Folder of photos (searched recursively).")
_MARGIN = flags.DEFINE_string("margin", str(fer_judge.MARGIN),
                              "Crop margin per side as a fraction of the face box, or 'fer' for "
                              "fer's fixed 10 px.")
_JSON = flags.DEFINE_string("json", "", "Also write the readings to this JSON file.")
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def parse_margin(text: str) -> float | None:
  """``"fer"`` -> None (fer's fixed 10 px), else the fraction."""
  if text == "fer":
    return None
  try:
    return float(text)
  except ValueError:
    raise UserError(f"--margin must be a number such as 0.1 or 'fer', got {text!r}") from None


def judge_folder(folder, margin: float | None = fer_judge.MARGIN) -> list[dict]:
  """One row per face (``photo``, ``face``, ``emotion``, ``probabilities``) or per skipped photo
  (``photo``, ``skipped``: the reason), photos in sorted path order."""
  folder = Path(folder)
  if not folder.is_dir():
    raise UserError(f"--photos={folder} is not a folder; pass a folder of photos")
  judge = fer_judge.FerJudge(margin=margin)
  detector = preprocessing.shared_detector()
  rows = []
  for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES):
    name = str(path.relative_to(folder))
    photo = preprocessing.load_image(path)
    if isinstance(photo, preprocessing.Skip):
      rows.append({"photo": name, "skipped": photo.reason})
      continue
    faces = detector.detect(photo)
    if not len(faces):
      rows.append({"photo": name, "skipped": "no face found"})
      continue
    probabilities = judge.read_photos([photo] * len(faces), list(faces))
    for k, (emotion, p) in enumerate(zip(fer_judge.top_emotions(probabilities), probabilities)):
      rows.append({"photo": name, "face": k, "emotion": emotion,
                   "probabilities": {label: round(float(v), 4)
                                     for label, v in zip(fer_judge.FER_LABELS, p)}})
  return rows


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; pass --photos=DIR")
  try:
    rows = judge_folder(_PHOTOS.value, parse_margin(_MARGIN.value))
  except UserError as e:
    sys.exit(f"error: {e}")
  width = max([len(r["photo"]) for r in rows] + [5])
  print(f"{'photo':{width}}  face  {'read as':10}  " +
        "  ".join(f"{label[:7]:>7}" for label in fer_judge.FER_LABELS))
  for r in rows:
    if "skipped" in r:
      print(f"{r['photo']:{width}}  skipped: {r['skipped']}")
    else:
      print(f"{r['photo']:{width}}  {r['face']:4d}  {r['emotion']:10}  " +
            "  ".join(f"{v:7.2f}" for v in r["probabilities"].values()))
  if _JSON.value:
    Path(_JSON.value).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
  flags.mark_flag_as_required("photos")
  app.run(main)
