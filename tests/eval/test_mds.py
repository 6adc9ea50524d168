"""Classical MDS: recovers a 2-D configuration from its distances (the oracle: the distances of
the result equal the given ones), and a hand-computed 1-D case."""

import numpy as np
import pytest

from fxs_jax.errors import UserError
from fxs_jax.eval import mds


def test_recovers_planar_points_up_to_rotation():
  rng = np.random.default_rng(0)
  points = rng.normal(size=(12, 2)) @ np.array([[3.0, 0.0], [0.0, 1.0]])
  # Embedded in 5-D by a random orthonormal map: same distances, 5 coordinates.
  basis, _ = np.linalg.qr(rng.normal(size=(5, 5)))
  lifted = points @ basis.T[:2] + 7.0  # rows of Q^T are orthonormal
  d = mds.pairwise_distances(lifted)
  np.testing.assert_allclose(d, np.linalg.norm(points[:, None] - points[None], axis=-1),
                             atol=1e-7)
  found, values = mds.classical_mds(d, dims=2)
  np.testing.assert_allclose(mds.pairwise_distances(found), d, atol=1e-8)
  assert values[0] >= values[1] > 0
  three, values3 = mds.classical_mds(d, dims=3)
  np.testing.assert_allclose(values3[2], 0.0, atol=1e-8)  # planar: no third dimension
  np.testing.assert_allclose(three[:, 2], 0.0, atol=1e-6)


def test_three_points_on_a_line_by_hand():
  # Points 0, 1, 3: centred at 4/3 -> -4/3, -1/3, 5/3 (up to sign); eigenvalue = sum of squares.
  d = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
  found, values = mds.classical_mds(d, dims=1)
  expected = np.array([-4.0, -1.0, 5.0]) / 3.0
  sign = np.sign(found[0, 0]) * np.sign(expected[0])
  np.testing.assert_allclose(found[:, 0] * sign, expected, atol=1e-12)
  np.testing.assert_allclose(values[0], np.sum(expected ** 2), atol=1e-12)


def test_bad_matrices_are_one_line_errors():
  with pytest.raises(UserError, match="square"):
    mds.classical_mds(np.zeros((2, 3)))
  with pytest.raises(UserError, match="symmetric"):
    mds.classical_mds(np.array([[0.0, 1.0], [2.0, 0.0]]))
  with pytest.raises(UserError, match="dims"):
    mds.classical_mds(np.zeros((2, 2)), dims=3)
