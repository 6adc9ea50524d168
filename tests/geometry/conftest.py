"""Shared by the geometry tests: every test runs in float64 (geomstats, the oracle, is float64)."""

import jax
import pytest


@pytest.fixture(autouse=True)
def float64():
  with jax.enable_x64(True):
    yield
