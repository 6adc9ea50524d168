"""The shipped SynthFaces judges: their files, their accuracy on freshly rendered held-out faces,
and that ``--mode=eval`` uses them (the same on any machine), or says why it trains instead."""

import hashlib
import json
import shutil
import zipfile

import numpy as np
import pytest

from configs import au_regressor as au_config
from configs import cgan_transfer as cgan_config
from configs import expression_classifier as classifier_config
from configs import ganimation as ganimation_config
from configs import texturegan as texturegan_config
from fxs_jax import judges
from fxs_jax.data import synth_faces_examples
from fxs_jax.errors import DatasetError
from fxs_jax.errors import UserError
from fxs_jax.eval import suite
from fxs_jax.judges import select as judge_select
from fxs_jax.judges import shipped

FOLDER = shipped.JUDGES_DIR / "synthfaces_64"
KINDS = ("au_regressor", "expression_classifier")
FIELDS = {"image", "aus", "emotion", "identity", "landmarks"}
TEST_IDS = range(300, 313)  # stills_64's test identities are [300, 360): 13 x 8 emotions = 104


def _judge_json(kind):
  return json.loads((FOLDER / kind / "judge.json").read_text())


@pytest.fixture(scope="module")
def test_faces():
  """104 freshly rendered 64 px test-identity stills (no dataset build): images in [-1, 1]."""
  examples = [ex for i in TEST_IDS for _, ex in synth_faces_examples.identity_examples(
      synth_faces_examples.Job("stills", 64, i), encode=False)]
  images = np.stack([ex["image"] for ex in examples]).astype(np.float32) / 127.5 - 1.0
  return (images, np.stack([ex["aus"] for ex in examples]),
          np.asarray([ex["emotion"] for ex in examples]))


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_files_match_their_judge_json(kind):
  info = _judge_json(kind)
  config = json.loads((FOLDER / kind / "config.json").read_text())
  params = FOLDER / kind / "params.npz"
  assert info["kind"] == config["model_name"] == kind
  assert info["version"] == _judge_json(KINDS[0])["version"]  # the pair shares one version
  assert info["version"].startswith("synthfaces64-") and info["version"][13:].isdigit()
  assert info["image_size"] == config["model"]["image_size"] == 64
  assert info["trained_on"]["dataset"] == "synth_faces/stills_64"
  assert info["trained_on"]["split"] == "train"
  assert hashlib.sha256(params.read_bytes()).hexdigest() == info["params_sha256"]
  with zipfile.ZipFile(params) as archive:  # float32 arrays, as many numbers as recorded
    sizes = [np.lib.format.read_array(archive.open(n)).size for n in archive.namelist()]
  assert sum(sizes) == info["num_params"]
  assert params.stat().st_size < 4 * info["num_params"] + 65536
  for split in ("validation", "test"):
    held_out = info["held_out"][split]
    assert held_out["num_examples"] == 480  # 60 identities x 8 emotions
    assert ("accuracy" if kind == "expression_classifier" else "au_mae") in held_out
  total = sum(f.stat().st_size for f in FOLDER.rglob("*") if f.is_file())
  assert total < 8 * 2**20  # "a few MB"


def test_shipped_judges_read_fresh_test_faces_as_recorded(test_faces):
  images, aus, emotions = test_faces
  classifier = shipped.load("expression_classifier", FOLDER)
  accuracy = np.mean(np.argmax(classifier.predict(images), -1) == emotions)
  recorded = _judge_json("expression_classifier")["held_out"]["test"]["accuracy"]
  assert abs(accuracy - recorded) < 0.05, (accuracy, recorded)  # 104 of its 480 faces
  regressor = shipped.load("au_regressor", FOLDER)
  mae = np.mean(np.abs(regressor.predict(images) - aus))
  recorded = _judge_json("au_regressor")["held_out"]["test"]["au_mae"]
  assert abs(mae - recorded) < 0.2 * recorded, (mae, recorded)


def _demo_config(evaluator_dir, **eval_overrides):
  config = ganimation_config.get_config("demo")  # judged images: synth_faces/stills_64, 64 px
  config.eval.evaluators, config.eval.identity = True, False
  config.eval.evaluator_dir = str(evaluator_dir)
  for key, value in eval_overrides.items():
    config.eval[key] = value
  return config


def test_eval_uses_the_shipped_judges_the_same_from_any_cache(test_faces, tmp_path, monkeypatch,
                                                              capsys):
  def no_training(*args, **kwargs):
    raise AssertionError("a shipped judge must not be trained")

  monkeypatch.setattr(judge_select, "ensure_trained", no_training)
  images = test_faces[0][:20]
  predictions = []
  for cache in ("a", "b"):
    shipped.load.cache_clear()  # a fresh process: the files read again
    ev = suite.build_evaluators(_demo_config(tmp_path / cache), 64, FIELDS)
    assert not (tmp_path / cache).exists()  # nothing trained, nothing cached
    for kind in KINDS:
      info = _judge_json(kind)
      assert ev.versions[kind]["version"] == info["version"]
      assert ev.versions[kind]["source"] == "shipped"
      assert ev.versions[kind]["held_out"]["test"]["num_examples"] == 480
    predictions.append((ev.expression_classifier(images), ev.au_regressor(images)))
  np.testing.assert_array_equal(predictions[0][0], predictions[1][0])
  np.testing.assert_array_equal(predictions[0][1], predictions[1][1])
  assert "No shipped judges" not in capsys.readouterr().out


@pytest.mark.parametrize("make", [lambda: cgan_config.get_config("demo"),  # transfer_64
                                  lambda: texturegan_config.get_config("demo")])  # sequences_64
def test_the_other_synthfaces_64_data_use_the_shipped_judges(make):
  assert judges.judge_source(make(), 64) == FOLDER


def test_without_a_shipped_judge_eval_trains_and_says_why(tmp_path, monkeypatch, capsys):
  asked = []

  def too_small(kind, *args, **kwargs):
    asked.append(kind)
    raise DatasetError("Only 5 examples for a global batch of 32: lower the batch size.")

  monkeypatch.setattr(judge_select, "ensure_trained", too_small)
  config = ganimation_config.get_config("smoke")  # 32 px stills_smoke: no shipped judge
  config.eval.evaluators, config.eval.identity = True, False
  assert config.eval.judges == "shipped"
  ev = suite.build_evaluators(config, 32, FIELDS)
  lines = [line for line in capsys.readouterr().out.splitlines() if line]
  assert lines == ["No shipped judges for this evaluation (the shipped judges read SynthFaces at "
                   "64 px (synth_faces/sequences_64, synth_faces/stills_64, "
                   "synth_faces/transfer_64), not synth_faces/stills_smoke): training them on "
                   "first use (--config.eval.judges=train does so without this line)."]
  assert asked == list(KINDS) and "au_mae" in ev.skipped
  # judges="train" trains even where a shipped judge fits, without the line.
  asked.clear()
  suite.build_evaluators(_demo_config(tmp_path, judges="train"), 64, FIELDS)
  assert asked == list(KINDS) and not capsys.readouterr().out
  with pytest.raises(UserError, match="config.eval.judges='best' is not a judge source"):
    suite.build_evaluators(_demo_config(tmp_path, judges="best"), 64, FIELDS)


def test_a_changed_judge_file_is_named_not_used(tmp_path):
  folder = tmp_path / "synthfaces_64"
  shutil.copytree(FOLDER, folder)
  params = folder / "expression_classifier" / "params.npz"
  data = bytearray(params.read_bytes())
  data[len(data) // 2] ^= 1  # one bit of one weight
  params.write_bytes(bytes(data))
  with pytest.raises(UserError, match=r"params.npz is not the file .*judge.json describes"):
    shipped.load("expression_classifier", folder)


@pytest.mark.parametrize("kind,module", [("au_regressor", au_config),
                                         ("expression_classifier", classifier_config)])
def test_the_judges_trained_on_first_use_train_as_the_configs_files_say(kind, module):
  """The package trains new judges from the shipped judge's config (no ``configs/`` import in an
  installed package); it must be what ``configs/<kind>.py`` gives."""
  shipped_config = shipped.default_config(kind).to_dict()
  expected = module.get_config().to_dict()
  for section in ("model", "optim", "data", "num_train_steps", "seed", "model_name"):
    assert shipped_config[section] == expected[section], section
