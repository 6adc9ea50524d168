"""fxs_jax.config_upgrade: configs saved by earlier code get the keys added since (with the value
the code used without them), and the defaults shipped in the package are configs/' own."""

import copy
import importlib
import json
from pathlib import Path

import ml_collections
import pytest

from fxs_jax import config_upgrade
from fxs_jax import recipes
from fxs_jax.recipes.editing import EditingRecipe

REPO = Path(__file__).resolve().parents[1]

# A GANimation config.json as written before the keys of config_upgrade.DEFAULTS existed.
OLD_GANIMATION = {
    "model_name": "ganimation", "seed": 3, "num_train_steps": 600,
    "model": {"image_size": 64, "num_aus": 17, "gen_base_channels": 32, "upsample": "resize"},
    "data": {"name": "synth_faces/stills_64", "data_dir": "", "batch_size": 16},
    "optim": {"lr": 1e-4, "b1": 0.5, "b2": 0.999},
    "eval": {"batch_size": 16, "num_examples": 0, "evaluators": True},
}
# What the code read for each missing key (written out by hand from the reading sites).
UPGRADED_GANIMATION = {
    "model_name": "ganimation", "seed": 3, "num_train_steps": 600,
    "model": {"image_size": 64, "num_aus": 17, "gen_base_channels": 32, "upsample": "resize",
              "colour": "absolute", "lambda_truth": 0.0, "changed_truth_weight": 0.0,
              "colour_truth_weight": 0.0, "colour_truth_region": "changed"},
    "data": {"name": "synth_faces/stills_64", "data_dir": "", "batch_size": 16,
             "manual_dir": "", "framing": ""},
    "optim": {"lr": 1e-4, "b1": 0.5, "b2": 0.999, "ema_decay": 0.0},
    "compute": {"conv_impl": "auto", "dtype": "float32", "malloc": "auto"},
    "eval": {"batch_size": 16, "num_examples": 0, "evaluators": True, "judges": "shipped",
             "evaluator_dataset": "", "pairs_seed": 3},
}


def test_old_config_gets_what_the_code_read_without_the_keys():
  given = copy.deepcopy(OLD_GANIMATION)
  upgraded = config_upgrade.upgrade(given)
  assert upgraded.to_dict() == UPGRADED_GANIMATION
  assert given == OLD_GANIMATION  # a copy: the input is untouched
  assert config_upgrade.upgrade(upgraded).to_dict() == UPGRADED_GANIMATION  # idempotent
  upgraded.new_key = 1  # unlocked
  locked = ml_collections.ConfigDict(OLD_GANIMATION)
  locked.lock()
  assert config_upgrade.upgrade(locked).to_dict() == UPGRADED_GANIMATION


def test_only_the_model_that_reads_a_key_gets_it():
  old = {"model_name": "texturegan", "seed": 0, "model": {"upsample": "resize"},
         "data": {}, "optim": {}, "eval": {}}
  upgraded = config_upgrade.upgrade(old).to_dict()
  assert upgraded["video"] == {"motion": "", "fps": 15.0}
  assert upgraded["model"] == {"upsample": "resize"}  # no colour head, no truth terms
  motion = config_upgrade.upgrade({**old, "model_name": "motiongan", "model": {}}).to_dict()
  assert motion["model"] == {} and "video" not in motion


def test_present_values_are_kept():
  full = {"model_name": "lgpgan", "seed": 1,
          "model": {"upsample": "resize", "colour": "residual", "lambda_truth": 5.0,
                    "changed_truth_weight": 0.5, "paste_feather": 3, "local_truth_weight": 1.0},
          "data": {"manual_dir": "/d", "framing": "face_box"}, "optim": {"ema_decay": 0.9},
          "compute": {"conv_impl": "plain", "dtype": "bfloat16", "malloc": "glibc"},
          "eval": {"judges": "train", "evaluator_dataset": "rafd/x", "pairs_seed": 7}}
  assert config_upgrade.upgrade(full).to_dict() == full


@pytest.mark.parametrize("name", ["ganimation", "lgpgan", "motiongan", "stargan", "attgan",
                                  "cyclegan", "c2gan", "mocogan", "vgan", "tgan",
                                  "au_regressor",
                                  "expression_classifier"])
def test_todays_configs_need_nothing(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  assert config_upgrade.upgrade(config).to_dict() == config.to_dict()


def test_editing_models_are_the_editing_recipes():
  editing = {name for name, cls in recipes.RECIPES.items() if issubclass(cls, EditingRecipe)}
  assert editing == set(config_upgrade.EDITING_MODELS)


def test_a_bundled_models_saved_config_loads_upgraded():
  saved = json.loads((REPO / "fxs_jax/pretrained/synthfaces/ganimation/config.json").read_text())
  upgraded = config_upgrade.upgrade(saved).to_dict()
  for section, values in saved.items():  # nothing it holds changes
    assert upgraded[section] == values or {**upgraded[section], **values} == upgraded[section]
  assert upgraded["eval"]["pairs_seed"] == saved["seed"] == 0


@pytest.mark.parametrize("name", config_upgrade.SHIPPED)
def test_shipped_configs_are_configs_defaults(name):
  """A failure: run python experiments/export_configs.py."""
  shipped = config_upgrade.shipped_config(name)
  assert shipped.to_dict() == importlib.import_module(f"configs.{name}").get_config().to_dict()
