"""The evaluators' supervised trainer and train-on-first-use cache on SynthFaces smoke data."""

import json

import jax
import numpy as np
import pytest

from configs import au_regressor as au_config
from configs import expression_classifier as classifier_config
from fxs_jax import judges
from fxs_jax.data import pipeline
from fxs_jax.judges import select as judge_select
from fxs_jax.judges import training

CONFIGS = {"au_regressor": au_config, "expression_classifier": classifier_config}


def _train_batch(source, size, kind, mesh):
  host = next(iter(pipeline.train_dataset(source, size, seed=0, num_threads=1)))
  return training._device_batch(host, kind, mesh)  # pylint: disable=protected-access


@pytest.mark.parametrize("arg", [None, "128", "smoke", "128,smoke"])
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_configs_build_locked(kind, arg):
  config = CONFIGS[kind].get_config(arg)
  assert config.is_locked and config.model_name == kind
  size = {None: 64, "128": 128}.get(arg, 32)
  assert config.model.image_size == size
  assert config.data.name.endswith({64: "stills_64", 128: "stills_128", 32: "stills_smoke"}[size])


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_one_train_step_changes_params(kind, smoke_stills, smoke_config):
  config = smoke_config(CONFIGS[kind])
  trainer = training.SupervisedTrainer(config)
  state = trainer.init_state()
  before = jax.device_get(state.params)
  batch = _train_batch(smoke_stills.as_data_source("train"), 2, kind, trainer.mesh)
  state, metrics = trainer.train_step(state, batch)
  metrics = jax.device_get(metrics)
  assert int(state.step) == 1
  assert all(np.isfinite(v) for v in metrics.values())
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before, jax.device_get(state.params))
  assert all(jax.tree.leaves(changed))  # every parameter got a gradient


def test_checkpoint_round_trip_gives_identical_predictions(smoke_stills, smoke_config, tmp_path):
  config = smoke_config(CONFIGS["expression_classifier"])
  sources = pipeline.load(config.data)
  state = training.train_evaluator(config, tmp_path, sources)
  images = np.stack([pipeline.stills_preprocess(flip=False)(sources["validation"][i], None)["image"]
                     for i in range(7)])  # 7: a full chunk of 4 plus a padded chunk of 3
  expected = training.SupervisedTrainer(config).predict_fn(state)(images)
  predict_fn, step = training.load_evaluator(None, tmp_path)  # config read from the workdir
  assert step == config.num_train_steps
  got = predict_fn(images)
  assert got.shape == (7, 8)
  np.testing.assert_array_equal(got, expected)
  # Chunking and padding do not change a prediction.
  np.testing.assert_allclose(predict_fn(images[:1])[0], got[0], rtol=1e-5, atol=1e-5)
  # The features are what the head reads: its dense layer applied to them gives the logits.
  features_fn, _ = training.load_evaluator(None, tmp_path, features=True)
  features = features_fn(images)
  head = state.params["head"]
  np.testing.assert_allclose(features @ np.asarray(head["kernel"]) + np.asarray(head["bias"]),
                             got, rtol=1e-4, atol=1e-4)


def test_untrained_classifier_is_chance_and_short_training_fits(smoke_stills, smoke_config):
  # No augmentation, constant lr: the question is only whether the loss and the steps work.
  config = smoke_config(CONFIGS["expression_classifier"], num_train_steps=150,
                         **{"data.batch_size": 16, "optim.lr": 1e-3, "optim.decay_start_step": 150,
                            "data.max_shift": 0, "data.color_jitter": 0.0})
  trainer = training.SupervisedTrainer(config)
  state = trainer.init_state()
  train = smoke_stills.as_data_source("train")

  def train_metrics(state):
    return training.evaluate_evaluator(trainer.predict_fn(state), trainer.kind, train)

  untrained = train_metrics(state)
  images = np.stack([pipeline.stills_preprocess(flip=False)(train[i], None)["image"] for i in range(8)])
  probs = jax.nn.softmax(trainer.predict_fn(state)(images), axis=-1)
  assert np.max(probs) < 0.3  # near-uniform: an uninformed judge, not a confident one
  assert untrained["accuracy"] < 0.35
  # Can fail (a learning check, not a unit test): 150 steps should fit most of 48 training faces
  # (measured: 79% after 120 steps).
  data = iter(pipeline.train_dataset(train, 16, seed=0, num_threads=1))
  for _ in range(config.num_train_steps):
    state, _ = trainer.train_step(state, training._device_batch(  # pylint: disable=protected-access
        next(data), trainer.kind, trainer.mesh))
  assert train_metrics(state)["accuracy"] > 0.6


def test_ensure_trained_trains_once_then_reuses(smoke_stills, smoke_config, tfds_dir, tmp_path,
                                                monkeypatch,
                                                capsys):
  del smoke_stills
  monkeypatch.setattr(
      judge_select, "default_config",
      lambda kind, size, dataset=None, data_dir=None, framing="": smoke_config(
              CONFIGS[kind]))
  workdir = judges.ensure_trained("au_regressor", 32, str(tfds_dir), tmp_path,
                                      dataset="synth_faces/stills_smoke")
  assert "Training the au_regressor" in capsys.readouterr().out
  assert (workdir / "eval.json").exists()
  again = judges.ensure_trained("au_regressor", 32, str(tfds_dir), tmp_path,
                                    dataset="synth_faces/stills_smoke")
  assert again == workdir and "Using the trained au_regressor" in capsys.readouterr().out
  quality = json.loads((workdir / "eval.json").read_text())
  assert quality["num_examples"] == 16  # the whole validation split: 2 identities x 8 emotions
  trained_by = json.loads((workdir / "provenance.json").read_text())
  assert trained_by["config"] == "configs/au_regressor.py"
  # What eval.json keeps of a trained judge: a version naming its settings, where, its quality.
  judge = judges.trained_judge("au_regressor", workdir)
  assert judge.record == {
      "version": judges.trained_version(smoke_config(CONFIGS["au_regressor"])),
      "source": "trained", "workdir": str(workdir), "step": 2,
      "held_out": {"validation": {"au_mae": quality["au_mae"], "num_examples": 16}}}
  assert judge.predict(np.zeros((3, 32, 32, 3), np.float32)).shape == (3, 17)


def test_a_trained_judge_version_names_its_settings_not_where_it_ran(tmp_path):
  config = judges.default_config("expression_classifier", 64)
  version = judges.trained_version(config)
  assert version.startswith("trained-") and len(version) == len("trained-") + 10
  elsewhere = judges.default_config("expression_classifier", 64, data_dir=str(tmp_path))
  elsewhere.data.num_threads = 1  # reader threads and data_dir do not make another judge
  assert judges.trained_version(elsewhere) == version
  other = judges.default_config("expression_classifier", 64)
  other.optim.lr = 2e-3
  assert judges.trained_version(other) != version
  assert judges.trained_version(judges.default_config("au_regressor", 64)) != version


def test_a_setting_added_later_does_not_invalidate_a_cached_evaluator():
  """The cache was trained without a key a later version added (at its default); a changed
  value or a removed key still means another evaluator."""
  saved = {"model": {"width": 8}, "optim": {"lr": 1e-3}, "data": "d", "batch_size": 4,
           "steps": 10, "seed": 0}
  newer = {**saved, "optim": {"lr": 1e-3, "ema_decay": 0.0}}
  assert judge_select._same_training(saved, newer)  # pylint: disable=protected-access
  assert not judge_select._same_training(  # pylint: disable=protected-access
      saved, {**newer, "optim": {"lr": 2e-3, "ema_decay": 0.0}})
  assert not judge_select._same_training(saved, {**saved, "optim": {}})  # pylint: disable=protected-access
  assert not judge_select._same_training(saved, {**saved, "steps": 20})  # pylint: disable=protected-access
