"""Each fast convolution formulation is the same function as plain lax.conv: outputs, gradients
w.r.t. input and kernel, and second order through a gradient-penalty-like loss."""

import threading

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from fxs_jax import nn as fnn
from fxs_jax.errors import UserError
from fxs_jax.models import ganimation
from fxs_jax.nn import fastconv

_DIMS = ("NHWC", "HWIO", "NHWC")
_TOL = 1e-5  # max abs error relative to the largest reference value, float32


def _rand(shape, seed):
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _oracle_conv(x, k, stride, p):
  """torch.nn.Conv2d: lax with explicit symmetric zero padding."""
  return jax.lax.conv_general_dilated(x, k, (stride, stride), ((p, p), (p, p)),
                                      dimension_numbers=_DIMS)


def _oracle_conv_transpose(x, k, stride, p, output_padding):
  """torch.nn.ConvTranspose2d as a correlation of the stride-dilated input, flipped kernel."""
  lo = k.shape[0] - 1 - p
  return jax.lax.conv_general_dilated(x, k[::-1, ::-1], (1, 1),
                                      ((lo, lo + output_padding),) * 2,
                                      lhs_dilation=(stride, stride), dimension_numbers=_DIMS)


def _derivatives(fn, x, k):
  """(y, dL/dx, dL/dk, dGP/dk): L = sum(y r), GP = mean((||d sum(lrelu(y) r) / dx|| - 1)^2)."""
  r = _rand(jax.eval_shape(fn, x, k).shape, seed=99)

  def penalty(k):
    grad_x = jax.grad(lambda x: jnp.sum(jax.nn.leaky_relu(fn(x, k), 0.2) * r))(x)
    norms = jnp.sqrt(jnp.sum(jnp.square(grad_x), axis=(1, 2, 3)))
    return jnp.mean(jnp.square(norms - 1.0))

  @jax.jit
  def all_orders(x, k):
    grad_x, grad_k = jax.grad(lambda x, k: jnp.sum(fn(x, k) * r), argnums=(0, 1))(x, k)
    return fn(x, k), grad_x, grad_k, jax.grad(penalty)(k)

  return all_orders(x, k)


def _assert_same_function(fast, oracle, x, k):
  names = ("output", "grad x", "grad kernel", "grad of gradient penalty")
  for name, got, want in zip(names, _derivatives(fast, x, k), _derivatives(oracle, x, k)):
    assert got.shape == want.shape, name
    scale = float(jnp.max(jnp.abs(want)))
    assert scale > 0, name
    err = float(jnp.max(jnp.abs(got - want)))
    assert err <= _TOL * scale, f"{name}: max error {err:.2e} vs scale {scale:.2e}"


@pytest.mark.parametrize("h, w, k, p", [(8, 8, 4, 1), (7, 9, 4, 1), (5, 6, 3, 1), (9, 7, 4, 0)])
def test_space_to_depth_is_stride_2_conv(h, w, k, p):
  x, kernel = _rand((2, h, w, 3), 0), _rand((k, k, 3, 5), 1)
  _assert_same_function(lambda x, kk: fastconv.conv2d_space_to_depth(x, kk, p),
                        lambda x, kk: _oracle_conv(x, kk, 2, p), x, kernel)


@pytest.mark.parametrize("h, w, k, p", [(5, 6, 3, 1), (2, 2, 2, 0), (6, 5, 5, 2)])
def test_im2col_is_stride_1_conv(h, w, k, p):
  x, kernel = _rand((2, h, w, 3), 2), _rand((k, k, 3, 5), 3)
  _assert_same_function(lambda x, kk: fastconv.conv2d_im2col(x, kk, p),
                        lambda x, kk: _oracle_conv(x, kk, 1, p), x, kernel)


@pytest.mark.parametrize("h, w, p", [(7, 5, 1), (3, 2, 1), (6, 9, 0)])
def test_winograd_is_3x3_conv(h, w, p):
  x, kernel = _rand((2, h, w, 3), 4), _rand((3, 3, 3, 5), 5)
  _assert_same_function(lambda x, kk: fastconv.conv2d_winograd(x, kk, p),
                        lambda x, kk: _oracle_conv(x, kk, 1, p), x, kernel)


@pytest.mark.parametrize("h, w, p", [(7, 5, 1), (3, 2, 1), (9, 10, 0), (12, 12, 1)])
def test_winograd4_is_3x3_conv(h, w, p):
  x, kernel = _rand((2, h, w, 3), 8), _rand((3, 3, 3, 5), 9)
  _assert_same_function(lambda x, kk: fastconv.conv2d_winograd4(x, kk, p),
                        lambda x, kk: _oracle_conv(x, kk, 1, p), x, kernel)


@pytest.mark.parametrize("h, w, k, p, op", [(4, 4, 4, 1, 0), (3, 5, 4, 1, 1), (5, 4, 3, 1, 1),
                                            (4, 3, 5, 2, 0), (3, 3, 4, 0, 1)])
def test_subpixel_is_stride_2_transposed_conv(h, w, k, p, op):
  x, kernel = _rand((2, h, w, 3), 6), _rand((k, k, 3, 5), 7)
  _assert_same_function(lambda x, kk: fastconv.conv_transpose2d_subpixel(x, kk, p, op),
                        lambda x, kk: _oracle_conv_transpose(x, kk, 2, p, op), x, kernel)


@pytest.mark.parametrize("h, w", [(4, 4), (3, 5), (1, 2)])
def test_folded_resize_conv_is_upsample_then_conv(h, w):
  x, kernel = _rand((2, h, w, 3), 11), _rand((3, 3, 3, 5), 12)
  upsampled = lambda x: jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # oracle: numpy-style
  _assert_same_function(fastconv.upsample_conv3x3_subpixel,
                        lambda x, kk: _oracle_conv(upsampled(x), kk, 1, 1), x, kernel)


@pytest.mark.parametrize("h, w, k, stride, p", [(7, 6, 7, 1, 3), (5, 7, 3, 2, 1)])
def test_constant_channels_fold_is_conv_of_tiled_input(h, w, k, stride, p):
  x, const = _rand((2, h, w, 3), 8), _rand((2, 4), 9)
  kernel = _rand((k, k, 7, 5), 10)

  def tiled(x, kk):
    c = jnp.broadcast_to(const[:, None, None, :], (2, h, w, 4))
    return _oracle_conv(jnp.concatenate([x, c], axis=-1), kk, stride, p)

  _assert_same_function(
      lambda x, kk: fastconv.conv2d_with_constant_channels(x, const, kk, stride, p, impl="fast"),
      tiled, x, kernel)
  # Gradient w.r.t. the constant channels too (the generator's conditioning vector).
  grads = [jax.grad(lambda c, impl=impl: jnp.sum(fastconv.conv2d_with_constant_channels(
      x, c, kernel, stride, p, impl=impl) ** 2))(const) for impl in ("fast", "plain")]
  np.testing.assert_allclose(grads[0], grads[1], rtol=_TOL, atol=_TOL * float(
      jnp.max(jnp.abs(grads[1]))))


@pytest.mark.parametrize("h, w, k, stride, p", [(5, 6, 3, 1, 1), (9, 10, 3, 1, 1), (2, 2, 2, 1, 0),
                                                (7, 8, 4, 2, 1), (7, 8, 3, 3, 1), (6, 7, 7, 1, 3)])
def test_dispatch_matches_plain_for_every_shape(h, w, k, stride, p):
  x, kernel = _rand((1, h, w, 3), 11), _rand((k, k, 3, 4), 12)
  want = _oracle_conv(x, kernel, stride, p)
  got = fastconv.conv2d(x, kernel, stride, p, impl="fast")
  np.testing.assert_allclose(got, want, atol=_TOL * float(jnp.max(jnp.abs(want))))


def test_spectral_norm_conv_same_under_both_impls():
  conv = fnn.Conv2d(3, 4, 4, 2, 1, spectral_norm=True, rngs=nnx.Rngs(0))
  graphdef, state = nnx.split(conv)
  x = _rand((2, 6, 6, 3), 13)
  outs = {}
  for impl in ("fast", "plain"):
    with fnn.conv_impl(impl):
      module = nnx.merge(graphdef, state, copy=True)
      outs[impl] = (module(x), module.sn_u[...])
  np.testing.assert_allclose(outs["fast"][0], outs["plain"][0], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(outs["fast"][1], outs["plain"][1])


def test_generator_same_function_and_params_under_both_impls():
  # 8 x 12 input: a 2 x 3 bottleneck (odd, as LGP-GAN's mouth crops give).
  gen = ganimation.Generator(8, num_aus=3, base_channels=4, num_res_blocks=1, rngs=nnx.Rngs(0))
  params = nnx.state(gen, nnx.Param)
  assert params["stem"]["conv"]["kernel"][...].shape == (7, 7, 3 + 3, 4)
  assert set(params["stem"]["conv"].keys()) == {"kernel"}  # one kernel: checkpoints stay valid
  graphdef, state = nnx.split(gen)
  img, aus = _rand((2, 8, 12, 3), 14), jax.nn.sigmoid(_rand((2, 3), 15))

  def loss(state, img, aus):
    color, attention = nnx.merge(graphdef, state)(img, aus)
    return jnp.sum(color * attention), (color, attention)

  results = {}
  for impl in ("fast", "plain"):
    with fnn.conv_impl(impl):
      results[impl] = jax.jit(jax.grad(loss, argnums=(0, 2), has_aux=True))(state, img, aus)
  for got, want in zip(jax.tree.leaves(results["fast"]), jax.tree.leaves(results["plain"])):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(want))))


def test_auto_is_fast_on_cpu_plain_on_accelerators(monkeypatch):
  assert fnn.resolve_conv_impl("fast") == "fast"
  assert fnn.resolve_conv_impl("plain") == "plain"
  for backend, expected in (("cpu", "fast"), ("gpu", "plain"), ("tpu", "plain")):
    monkeypatch.setattr(jax, "default_backend", lambda backend=backend: backend)
    assert fnn.resolve_conv_impl("auto") == expected


def test_setting_is_scoped_and_validated():
  auto = fnn.resolve_conv_impl("auto")
  assert fnn.resolve_conv_impl() == auto  # outside any conv_impl
  with fnn.conv_impl("plain"):
    assert fnn.resolve_conv_impl() == "plain"
    with fnn.conv_impl("fast"):
      assert fnn.resolve_conv_impl() == "fast"
    assert fnn.resolve_conv_impl() == "plain"
    seen = []
    other = threading.Thread(target=lambda: seen.append(fnn.resolve_conv_impl()))
    other.start()
    other.join()
    assert seen == [auto]  # another thread traces with its own setting
  with pytest.raises(RuntimeError), fnn.conv_impl("plain"):
    raise RuntimeError("a failed trace")
  assert fnn.resolve_conv_impl() == auto
  with pytest.raises(ValueError, match="auto, fast, plain"):
    with fnn.conv_impl("winograd"):
      pass
  from fxs_jax import run  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict({"model_name": "ganimation",
                                      "compute": {"conv_impl": "cudnn"}})
  with pytest.raises(UserError, match="conv_impl must be one of auto, fast, plain"):
    run.run(config, "/nonexistent/never_created")
  assert fnn.resolve_conv_impl() == auto
