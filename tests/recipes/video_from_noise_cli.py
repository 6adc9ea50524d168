"""The command-line life of a noise-to-video baseline's ``:smoke`` (MoCoGAN, VGAN, TGAN): trained,
its sample grid and generated videos drawn, evaluated and loaded; each test adds its own terms
and readings. Also the video evaluator's stand-in face embedder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from PIL import Image

import fxs_jax
from fxs_jax.eval import identity

ROOT = Path(__file__).resolve().parents[2]
K = 7  # classes: happy .. contemptuous
GRID_SHAPE = (K * 32 + (K + 1) * 2, 8 * 32 + 9 * 2, 3)  # classes x 8 frames of 32 px


def make_recipe(config_module, recipe_cls, arg: str, **model):
  """``recipe_cls`` on ``config_module``'s config of variants ``arg``, with ``model`` overrides."""
  config = config_module.get_config(arg)
  for key, value in model.items():
    config.model[key] = value
  return recipe_cls(config)


def num_params(module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


class MeanColourEmbedder:
  """A stand-in for dlib's face embedder: a frame's embedding is its mean colour, in the first
  three of 128 dimensions (so ACD / ACD-I have a closed form); it detects every frame's face."""

  def _load(self):
    pass

  def embed(self, images, landmarks=None):
    assert landmarks is None  # generated frames have none: dlib detects the faces
    out = np.zeros((len(images), identity.EMBEDDING_DIM), np.float32)
    out[:, :3] = np.asarray(images, np.float32).mean(axis=(1, 2))
    return out


def main(*args):
  env = dict(os.environ, JAX_DEFAULT_PRNG_IMPL="rbg")
  return subprocess.run([sys.executable, "-m", "fxs_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)


def smoke_life(name: str, workdir: Path, tfds_dir, logged_terms, critic_readings,
               variants: str = "smoke", task: str = "sample_video"):
  """Train, generate and evaluate ``configs/<name>.py:<variants>`` in ``workdir``; check that
  the ``logged_terms`` (metrics.jsonl names) at step 2 and the ``critic_readings`` (eval.json
  ``critic_<reading>`` rows) are finite, the grids' shapes, that dlib's video eval was skipped
  as the smoke config asks, that the model's one prediction is ``task``, conditioned on the
  class; return the model loaded by ``fxs_jax.load``."""
  common = (f"--config=configs/{name}.py:{variants}", f"--config.data.data_dir={tfds_dir}",
            f"--workdir={workdir}")
  proc = main(*common)
  assert proc.returncode == 0, proc.stderr
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  logged = {k: v for row in rows if row["step"] == 2 for k, v in row.items()}
  for term in logged_terms:
    assert np.isfinite(logged[term]), term
  assert np.asarray(Image.open(workdir / "samples" / "latest.png")).shape == GRID_SHAPE
  proc = main(*common, "--mode=generate")
  assert proc.returncode == 0, proc.stderr
  videos = np.asarray(Image.open(workdir / "generate_step_2" / "videos.png"))
  assert videos.shape == GRID_SHAPE
  assert (workdir / "generate_step_2" / "videos.gif").exists()
  proc = main(*common, "--mode=eval")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["model"] == name
  values = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  for reading in critic_readings:
    assert np.isfinite(values["model", f"critic_{reading}"]), reading
  assert result["skipped"]["video"] == "config.eval.identity=False"
  model = fxs_jax.load(workdir)
  assert model.predictions == (task,) and model.uses == ()
  assert model.declaration(task).conditions == ("motion_class",)
  return model
