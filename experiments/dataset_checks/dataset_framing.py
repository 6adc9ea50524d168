"""How each dataset builder frames real faces: measured figures and input | crop grids.

  python experiments/dataset_checks/dataset_framing.py [--figures=docs/figures/framing]
      [--json=experiments/dataset_checks/framing.json]

Lays real face photos (the test fixture ``tests/real_photos.py``: scikit-image's astronaut,
matplotlib's Grace Hopper, insightface's Tom Hanks crop and group photo) out as each builder's
download, builds its 128 px stills config, and for every kept photo measures, under the dataset's
own framing and under SynthFaces' (the bundled models' framing, for comparison):

* ``photo_box``: the landmarks' bounding box as a share of the photo's area;
* ``crop_box``: the same box as a share of the crop's area;
* ``outside``: the fraction of crop pixels that come from outside the photo (mirrored, never
  stretched edge pixels).

Writes ``FIGURES/<dataset>.png`` (rows: input photo | the built crop | SynthFaces' framing with
the border pixels repeated) and the JSON (the figures per photo and their means, the commit), and
prints the markdown table docs/datasets.md shows (``framing_table.py`` prints it from the JSON).
"""

import json
import sys
import tempfile
from pathlib import Path

from absl import app
from absl import flags
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))

import framing_table  # pylint: disable=g-import-not-at-top,wrong-import-position

from fxs_jax import faces  # pylint: disable=g-import-not-at-top
from fxs_jax.data import builders  # pylint: disable=g-import-not-at-top
from fxs_jax.faces import framing  # pylint: disable=g-import-not-at-top
from experiments import provenance  # pylint: disable=g-import-not-at-top
from tests import real_photos  # pylint: disable=g-import-not-at-top

_FIGURES = flags.DEFINE_string("figures", "docs/figures/framing", "Folder for the grids.")
_JSON = flags.DEFINE_string("json", str(framing_table.JSON), "The measurements' JSON file.")
_ROWS = flags.DEFINE_integer("rows", 4, "Photos per grid.")

# dataset -> (128 px stills config, layout writer)
DATASETS = {
    "au_faces": ("stills_128", real_photos.au_faces_layout),
    "rafd": ("frontal_128", real_photos.rafd_layout),
    "ck_plus": ("stills_128", real_photos.ck_plus_layout),
    "oulu_casia": ("stills_128", real_photos.oulu_casia_layout),
    "mug": ("stills_128", real_photos.mug_layout),
}
SIZE = 128


def _measure(photo: np.ndarray, name: str) -> tuple[dict, np.ndarray] | None:
  """The three figures of one photo under framing ``name``, and its crop (None: no face)."""
  found = faces.preprocessing.shared_detector().detect(photo)
  if len(found) != 1:
    return None
  crop = faces.preprocess(photo, SIZE, landmarks=found[0], framing=name)
  if isinstance(crop, faces.Skip):
    return {"skipped": crop.reason}, None
  return {"photo_box": framing.box_share(found[0], photo.shape),
          "crop_box": framing.box_share(crop.landmarks, crop.image.shape),
          "outside": framing.outside_fraction(crop.transform, photo.shape, SIZE)}, crop.image


def _save_grid(path: Path, rows) -> None:
  """One row per list of images, each shown 128 px high, 8 px apart."""
  rows = [[Image.fromarray(np.asarray(image)).convert("RGB") for image in row] for row in rows]
  rows = [[image.resize((round(SIZE * image.width / image.height), SIZE), Image.BICUBIC)
           for image in row] for row in rows]
  width = max(sum(image.width + 8 for image in row) for row in rows)
  grid = Image.new("RGB", (width, (SIZE + 8) * len(rows)), "white")
  for y, row in enumerate(rows):
    x = 0
    for image in row:
      grid.paste(image, (x, (SIZE + 8) * y))
      x += image.width + 8
  grid.save(path)


def _mean(rows: list[dict], key: str) -> float:
  values = [r[key] for r in rows if key in r]
  return float(np.mean(values)) if values else float("nan")


def main(argv):
  del argv
  figures = Path(_FIGURES.value)
  figures.mkdir(parents=True, exist_ok=True)
  commit = provenance.commit()
  report = {"commit": commit, "size": SIZE, "datasets": {}}
  with tempfile.TemporaryDirectory() as tmp:
    for dataset, (config, layout_fn) in DATASETS.items():
      layout = layout_fn(Path(tmp) / dataset)
      builder = builders.prepare(f"{dataset}/{config}", str(Path(tmp) / "tfds"),
                                 manual_dir=str(layout.manual_dir))
      own = builder.framing
      built = {}
      for split in ("train", "test"):
        source = builder.as_data_source(split=split)
        built.update({int(source[i]["identity"]): source[i]["image"] for i in range(len(source))
                      if int(source[i]["emotion"]) == 0 or dataset == "au_faces"})
      per_photo, grid = [], []
      seen = set()
      for item in layout.stills:
        if item.identity in seen or (item.emotion != "neutral" and dataset != "au_faces"):
          continue
        seen.add(item.identity)
        photo = faces.load_image(layout.manual_dir / item.files[0])
        own_figures, own_crop = _measure(photo, own)
        synth_figures, _ = _measure(photo, "synthfaces")
        # SynthFaces' framing of the same photo, border pixels repeated, for comparison.
        (points,) = faces.preprocessing.shared_detector().detect(photo)
        synth_crop = faces.align(photo, points, SIZE, framing="synthfaces", fill="edge").image
        per_photo.append({"file": item.files[0], own: own_figures, "synthfaces": synth_figures})
        if len(grid) < _ROWS.value and item.identity in built:
          grid.append([photo, built[item.identity], synth_crop])
      _save_grid(figures / f"{dataset}.png", grid)
      means = {f: {k: _mean([p[f] for p in per_photo], k) for k in ("photo_box", "crop_box",
                                                                       "outside")}
               for f in dict.fromkeys((own, "synthfaces"))}
      report["datasets"][dataset] = {"config": config, "framing": own, "photos": per_photo,
                                     "means": means}
  Path(_JSON.value).write_text(json.dumps(report, indent=2) + "\n")
  print(framing_table.table(report))


if __name__ == "__main__":
  app.run(main)
