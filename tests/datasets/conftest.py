"""Fixtures of the manual-dataset tests."""

import shutil

import pytest

from tests.datasets.helpers import DATASETS


@pytest.fixture
def dummy_copy(tmp_path):
  """``copy(name)``: a writable copy of ``datasets/<name>/dummy_data`` (the repo's is read only)."""

  def copy(name):
    target = tmp_path / f"{name}_manual"
    shutil.copytree(DATASETS / name / "dummy_data", target)
    return target

  return copy
