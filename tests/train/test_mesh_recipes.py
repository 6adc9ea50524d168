"""Recipes train to the same losses on one device and on a mesh of 8 (simulated CPU
devices, one process): the batch split over the mesh's 'data' axis must not change what a step
computes (batch statistics, per-example noise, losses are global under jit's sharding). The
losses of each recipe's ``:smoke`` are compared for the same seed and the same host batches
(``tests/train/mesh_driver.py``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DRIVER = Path(__file__).with_name("mesh_driver.py")
# configs/<module>.py[:variant]: the recipes whose steps hold what sharding could change beyond
# GANimation's (tests/train/test_trainer.py): a critic normalised by its batch's statistics and
# 3-D convolutions (VGAN), a projection of the critic after its update (TGAN), a recurrent
# generator of motions on the hypersphere (MotionGAN). Every recipe and variant passes the same
# comparison in ``python tests/train/mesh_driver.py`` (each ~15-70 s: all of them in the suite
# would add ~12 minutes).
RECIPES = ("vgan", "tgan", "motiongan")


@pytest.fixture(scope="module")
def mesh_losses(tfds_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp("mesh") / "losses.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=8")
  proc = subprocess.run([sys.executable, str(DRIVER), str(tfds_dir), str(out), *RECIPES,
                         "--steps=1"], capture_output=True, text=True, env=env, timeout=2400)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(out.read_text())


@pytest.mark.parametrize("name", RECIPES)
def test_same_losses_on_1_and_8_devices(mesh_losses, name):
  one, eight = mesh_losses[name]["1/float32"], mesh_losses[name]["8/float32"]
  assert len(one) == len(eight) >= 1
  assert all(None not in row for row in one[-1:]), "no generator update was compared"
  np.testing.assert_allclose(np.asarray(eight, float), np.asarray(one, float), rtol=2e-4,
                             atol=1e-5)
