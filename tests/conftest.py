"""Shared fixtures: every test writes datasets and workdirs under pytest's tmp dirs."""

import pytest


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """A TFDS data_dir shared by the session (tiny datasets are built once)."""
  return tmp_path_factory.mktemp("tensorflow_datasets")


@pytest.fixture(scope="session")
def smoke_stills(tfds_dir):
  """The built ``synth_faces/stills_smoke`` dataset's builder."""
  from fxs_jax.data import builders
  return builders.prepare("synth_faces/stills_smoke", str(tfds_dir))


@pytest.fixture
def smoke_config(tfds_dir):
  """``make(config_module, **overrides)``: the module's ``:smoke`` config on the session's data
  dir, with ``"section.key"`` (or top-level ``key``) overrides."""

  def make(module, **overrides):
    config = module.get_config("smoke")
    config.data.data_dir = str(tfds_dir)
    for key, value in overrides.items():
      section, _, name = key.rpartition(".")
      (config[section] if section else config)[name] = value
    return config

  return make
