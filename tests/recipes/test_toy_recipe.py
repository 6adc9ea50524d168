"""The generic trainer, fxs_jax.run and fxs_jax.load on a recipe whose data are not images."""

import json

import numpy as np
import pytest
from PIL import Image

import fxs_jax
from fxs_jax import recipes
from fxs_jax import run
from fxs_jax.eval import motion
from tests import toy_curves


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tfds_dir):
  """The toy recipe trained (40 steps) and evaluated through ``fxs_jax.run``."""
  from fxs_jax.data import builders
  builders.prepare("synth_faces/sequences_smoke", str(tfds_dir))
  patch = pytest.MonkeyPatch()
  patch.setitem(recipes.RECIPES, "toy_curves", toy_curves.ToyCurves)  # a dict, not a registry
  config = toy_curves.get_config()
  config.data.data_dir = str(tfds_dir)
  workdir = tmp_path_factory.mktemp("toy") / "w"
  run.run(config, str(workdir), "train")
  run.run(config, str(workdir), "eval")
  yield config, workdir
  patch.undo()


def test_srvf_oracle():
  """A straight line at constant speed has a constant SRVF of unit norm along its direction."""
  t = np.linspace(0, 1, 9)[:, None]
  q = toy_curves.srvf(np.concatenate([3 * t, 4 * t], axis=1)[None])[0]
  np.testing.assert_allclose(q, np.broadcast_to([0.6, 0.8], (8, 2)), atol=1e-5)


def test_trains_logs_and_draws_curves(toy_run):
  _, workdir = toy_run
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  losses = [r["critic/loss"] for r in rows if "critic/loss" in r]
  assert len(losses) == 4 and all(np.isfinite(losses))
  assert any("eval/wasserstein" in r for r in rows)
  # The host drew the pytree the jitted `sample` returned: curves on white panels.
  grid = np.asarray(Image.open(workdir / "samples" / "curves_latest.png"))
  assert grid.dtype == np.uint8 and grid.ndim == 3
  magenta = (grid[..., 0] > 150) & (grid[..., 1] < 80) & (grid[..., 2] > 120)
  green = (grid[..., 1] > 120) & (grid[..., 0] < 60)
  assert magenta.sum() > 20 and green.sum() > 20


def test_motion_and_critic_evaluators_in_eval_json(toy_run):
  _, workdir = toy_run
  result = json.loads((workdir / "eval.json").read_text())
  assert result["evals"] == {"motion": "motion", "critic": "critic"}
  value = {(r["method"], r["metric"]): r["value"] for r in result["rows"]}
  # The smoke test split has one motion per class: no same-class pair for the reals' paired
  # distance or for any diversity.
  assert not {("real_heldout", "geodesic_paired"), ("model", "diversity_within_class")} & set(value)
  assert 0.0 <= value["model", "geodesic_paired"] <= np.pi
  for method in ("model", "real_heldout"):
    for metric in ("geodesic_nearest_real", "geodesic_nearest_same_class",
                   "geodesic_nearest_other_class"):
      assert 0.0 <= value[method, metric] <= np.pi
    for metric in ("nearest_is_same_class", "motion_class_accuracy"):
      assert 0.0 <= value[method, metric] <= 1.0
  assert value["chance", "motion_class_accuracy"] == 1.0 / len(
      result["evaluators"]["motion_classifier"]["classes"])
  assert ("model", "critic_wasserstein") in value


def test_load_gives_the_sample_motion_prediction(toy_run):
  config, workdir = toy_run
  model = fxs_jax.load(workdir)
  assert model.predictions == ("sample_motion",)
  q = model.sample_motion(label=[1, 2, 3], seed=0)
  assert q.shape == (3, config.model.frames - 1, 2)
  np.testing.assert_allclose(motion.srvf_inner(q, q), 1.0, atol=1e-4)  # on the unit sphere
  np.testing.assert_array_equal(q, model.sample_motion(label=[1, 2, 3], seed=0))
