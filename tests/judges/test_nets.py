"""The evaluator networks: output shapes, the AU range, the image-size check."""

import jax
import numpy as np
import pytest
from flax import nnx

from fxs_jax.judges import nets


def test_output_shapes_and_au_range():
  rngs = jax.random.key(0)
  images = np.asarray(jax.random.uniform(rngs, (3, 32, 32, 3), minval=-1, maxval=1))
  aus = nets.AURegressor(32, nnx.Rngs(0), base_channels=8)(images)
  logits = nets.ExpressionClassifier(32, nnx.Rngs(0), base_channels=8)(images)
  assert aus.shape == (3, 17) and logits.shape == (3, 8)
  assert np.all((np.asarray(aus) >= 0) & (np.asarray(aus) <= 5))
  with pytest.raises(ValueError, match="image size"):
    nets.AURegressor(32, nnx.Rngs(0), base_channels=8)(images[:, :16, :16])
