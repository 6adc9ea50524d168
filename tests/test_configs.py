"""Configs: variants, locking, command-line style overrides."""

import importlib
from pathlib import Path

import ml_collections
import pytest

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
# Every model config, found on disk so that a new one is checked without being listed here.
CONFIG_MODULES = sorted(f"configs.{path.stem}" for path in CONFIGS_DIR.glob("*.py")
                        if path.name not in ("common.py", "__init__.py"))


def test_discovery_finds_the_model_configs():
  # An empty list would parametrize nothing and pass silently.
  assert {"configs.ganimation", "configs.lgpgan", "configs.au_regressor",
          "configs.expression_classifier"} <= set(CONFIG_MODULES)


@pytest.mark.parametrize("module", CONFIG_MODULES)
def test_every_variant_builds_and_is_locked(module):
  mod = importlib.import_module(module)
  assert "smoke" in mod.VARIANTS
  for arg in [None, "", *mod.VARIANTS]:
    _check_config(mod.get_config(arg))


def _check_config(config):
  assert isinstance(config, ml_collections.ConfigDict)
  assert config.is_locked
  for section in ("data", "optim", "checkpoint", "logging", "model"):
    assert section in config


def test_paper_default_is_the_official_setting():
  config = importlib.import_module("configs.ganimation").get_config()
  assert (config.model.image_size, config.data.batch_size) == (128, 25)
  assert (config.optim.lr, config.optim.b1, config.optim.b2) == (1e-4, 0.5, 0.999)
  assert config.optim.critic_steps == 5


def test_variants_override_the_default():
  mod = importlib.import_module("configs.ganimation")
  assert mod.get_config("smoke").data.name == "synth_faces/stills_smoke"
  assert mod.get_config("demo").model.image_size == 64
  # Variants are applied in order.
  assert mod.get_config("demo,smoke").model.image_size == 32


def test_unknown_variant_names_the_choices():
  mod = importlib.import_module("configs.ganimation")
  with pytest.raises(ValueError, match=r"Unknown variant 'demoo'.*demo, demo_long, smoke"):
    mod.get_config("demoo")


def test_locked_config_rejects_unknown_key_with_suggestion():
  config = importlib.import_module("configs.ganimation").get_config("smoke")
  with pytest.raises(AttributeError, match='Did you mean "batch_size"'):
    config.data.batchsize = 4
  with pytest.raises(TypeError):
    config.data.batch_size = "four"
  config.data.batch_size = 4  # existing keys stay writable
  assert config.data.batch_size == 4
