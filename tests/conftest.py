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
