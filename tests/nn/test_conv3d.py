"""The folded 3-D conv against ``lax.conv`` (and its gradients) for every stride / padding the
video critics use, and odd sizes a fold must pad."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fxs_jax.nn import conv3d

DIMS = ("NDHWC", "DHWIO", "NDHWC")


def _lax(x, kernel, strides, padding):
  return jax.lax.conv_general_dilated(x, kernel, strides, [(p, p) for p in padding],
                                      dimension_numbers=DIMS)


@pytest.mark.parametrize("strides,padding,shape", [
    ((2, 2, 2), (1, 1, 1), (8, 8, 8)),     # VGAN's and TGAN's critics
    ((1, 2, 2), (0, 1, 1), (9, 8, 8)),     # MoCoGAN's video critic
    ((1, 1, 1), (0, 0, 0), (4, 4, 4)),     # a head covering its input
    ((2, 1, 2), (1, 0, 2), (7, 5, 9)),     # odd sizes: the fold pads to the stride
])
def test_folded_conv_is_lax_conv(strides, padding, shape):
  x = jax.random.normal(jax.random.key(0), (2, *shape, 3))
  kernel = jax.random.normal(jax.random.key(1), (4, 4, 4, 3, 5))
  np.testing.assert_allclose(conv3d.conv3d_folded(x, kernel, strides, padding),
                             _lax(x, kernel, strides, padding), atol=1e-4)
  grads = [jax.grad(lambda a, b, f=f: jnp.sum(jnp.sin(f(a, b, strides, padding))),
                    argnums=(0, 1))(x, kernel) for f in (conv3d.conv3d_folded, _lax)]
  for fast, plain in itertools.zip_longest(*grads):
    np.testing.assert_allclose(fast, plain, atol=1e-3)


def test_bad_folds_are_explained():
  x, kernel = jnp.zeros((1, 2, 8, 8, 3)), jnp.zeros((4, 4, 4, 3, 5))
  with pytest.raises(ValueError, match="does not fit"):
    conv3d.conv3d_folded(x, kernel, (1, 2, 2), (0, 1, 1))
  with pytest.raises(ValueError, match="strides of 1 or 2"):
    conv3d.conv3d_folded(jnp.zeros((1, 8, 8, 8, 3)), kernel, (3, 2, 2), (1, 1, 1))
