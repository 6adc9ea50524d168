"""A paper the library has never seen, added as a recipe only, gets photo editing and an editor
entry from its predictions' declarations alone (docs/architecture.md, "Declared capabilities").

The toy paper tints a face by the emotion asked for: ``G(x, c) = x + c @ TINT`` with ``c`` the
class blend ``(1 - a) * onehot(start) + a * onehot(emotion)``. The oracle is that formula: an
edit of a photo towards "happy" from neutral adds ``TINT[happy]`` (red only) inside the face and
leaves the pixels far from it as they were, bit for bit.
"""

from __future__ import annotations

import io
import json
import urllib.request

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx
from PIL import Image

import fxs_jax
from fxs_jax import facs
from fxs_jax import inference
from fxs_jax import inputs
from fxs_jax import recipes
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor
from fxs_jax.train import state as state_lib
from tests import real_photos

SIZE = 32
RED = 0.3  # TINT[happy]: +0.3 of [-1, 1] on the red channel, about 38 of 255 levels
TINT = np.zeros((facs.NUM_EMOTIONS, 3), np.float32)
TINT[facs.EMOTIONS.index("happy"), 0] = RED


class Tinter(nnx.Module):
  def __init__(self):
    self.tint = nnx.Param(jnp.asarray(TINT))

  def __call__(self, image_BxHxWx3, condition_BxK):
    return image_BxHxWx3 + (condition_BxK @ self.tint[...])[:, None, None, :]


class ToyTint(GANRecipe):
  """Nothing but what a recipe declares: networks, (unused) losses, samples, one prediction."""

  title = "Toy tint"

  def build_generator(self, rngs):
    return Tinter()

  def build_critic(self, rngs):
    return Tinter()

  def fakes_for_critic(self, gen, batch, key):
    return {}

  def critic_loss(self, critic, batch, fakes, key, phase="all"):
    return jnp.zeros(()), {}

  def generator_loss(self, gen, critic, batch, key):
    return jnp.zeros(()), {}

  def sample(self, gen, batch):
    return batch["image"]

  def render_samples(self, outputs, batch):
    return {}

  def predictors(self):
    return {"edit": Predictor(compute=lambda gen, b: gen(b["image"], b["condition"]),
                              inputs=self.edit_inputs, conditions=("emotion",))}

  def edit_inputs(self, images, emotion=None, intensity=1.0, landmarks=None, start=None):
    del landmarks
    image = inputs.check_images(images, SIZE)
    n = len(image)
    eye = np.eye(facs.NUM_EMOTIONS, dtype=np.float32)
    scale = inputs.per_example(inputs.check_intensities(intensity, 1.0), n, "intensity")
    origin = eye[inputs.emotion_labels("neutral" if start is None else start, n, "start")]
    target = eye[inputs.emotion_labels(emotion, n)]
    return {"image": image, "condition": origin + scale[:, None] * (target - origin)}


@pytest.fixture
def toy_model(tmp_path, monkeypatch):
  """The toy recipe registered, its (untrained) generator exported and loaded by fxs_jax.load."""
  monkeypatch.setitem(recipes.RECIPES, "toy_tint", ToyTint)
  config = ml_collections.ConfigDict({"model_name": "toy_tint", "seed": 0,
                                      "model": {"image_size": SIZE}, "data": {},
                                      "eval": {"batch_size": 4}})
  recipe = inference.recipe_for(config)
  graphdef, params, rest = state_lib.split(recipe.build_generator(nnx.Rngs(0)))
  trained = inference.TrainedModel(recipe, graphdef, params, rest, step=0)
  inference.write_export(trained, tmp_path / "toy")
  return fxs_jax.load(tmp_path / "toy")


def test_the_declarations_give_the_uses(toy_model):
  assert toy_model.predictions == ("edit",)
  assert set(toy_model.uses) == {"edit_photo", "interpolate", "animate_photo"}
  face = np.full((SIZE, SIZE, 3), 100, np.uint8)
  edited = toy_model.edit(face, emotion="happy")  # uint8 in, uint8 out, by the formula
  np.testing.assert_array_equal(edited[..., 1:], face[..., 1:])
  np.testing.assert_array_equal(edited[..., 0], np.round((100 / 127.5 - 1 + RED + 1) * 127.5))
  video = toy_model.interpolate(face, emotion="happy", frames=3)
  np.testing.assert_array_equal(video.frames[0], face)  # intensity 0: the start, neutral


def test_the_toy_edits_a_photo(toy_model):
  photo = real_photos.astronaut()
  edit = toy_model.edit_photo(photo, emotion="happy")
  change = edit.photo.astype(np.float64) - photo
  (x0, y0, x1, y1), = edit.boxes
  inside = change[y0 + (y1 - y0) // 3:y1 - (y1 - y0) // 3, x0 + (x1 - x0) // 3:x1 - (x1 - x0) // 3]
  assert inside[..., 0].mean() > 0.6 * RED * 127.5  # the tint, through the soft face mask
  assert np.abs(inside[..., 1:]).max() <= 1  # green and blue as they were (rounding)
  far = np.ones(photo.shape[:2], bool)
  far[max(0, y0 - 60):y1 + 60, max(0, x0 - 60):x1 + 60] = False
  np.testing.assert_array_equal(edit.photo[far], photo[far])


def test_the_editor_serves_the_toy(toy_model):
  pytest.importorskip("starlette")
  pytest.importorskip("uvicorn")
  from fxs_jax.serve import app  # pylint: disable=import-outside-toplevel
  from fxs_jax.serve import browser  # pylint: disable=import-outside-toplevel
  web_app = app.create_app({"toy": toy_model}, timeout=120, warm_up=False)
  try:
    with browser.serving(web_app) as url:
      with urllib.request.urlopen(f"{url}/api/info", timeout=60) as response:
        [entry] = json.loads(response.read())["models"]
      assert (entry["kind"], entry["title"]) == ("emotion", "Toy tint: emotions")
      happy, neutral = (_edited(url, emotion) for emotion in ("happy", "neutral"))
  finally:
    web_app.state.editor.close()
  change = happy - neutral  # the model's own change, by the formula: red up inside the face
  assert change[..., 0].max() >= 0.6 * RED * 127.5 and change[..., 0].min() >= -1
  assert np.abs(change[..., 1:]).max() <= 1


def _edited(url: str, emotion: str) -> np.ndarray:
  """The editor's sample photo 0 edited towards ``emotion``, as downloaded (PNG)."""
  request = urllib.request.Request(
      f"{url}/api/edit", json.dumps({"model": "toy", "photo": "sample-0",
                                     "emotion": emotion}).encode(),
      {"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=120) as response:
    body = json.loads(response.read())
  assert len(body["crops"]) == 1
  with urllib.request.urlopen(url + body["downloads"]["png"], timeout=60) as response:
    return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"), np.float64)
