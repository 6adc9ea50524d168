"""Shared layers and blocks against literal numpy formulas and PyTorch's shape conventions."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fxs_jax import nn as fnn


def _rngs(seed):
  # The 'rbg' PRNG compiles ~5x faster than threefry on CPU, and every new kernel shape costs a
  # compile: this keeps the suite fast. What is tested does not depend on the generator.
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _rand(shape, seed=0):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _numpy_conv(x_BxHxWxI, k_KxKxIxO, stride, pad):
  """Literal cross-correlation with zero padding (what torch.nn.Conv2d computes)."""
  b, h, w, _ = x_BxHxWxI.shape
  k = k_KxKxIxO.shape[0]
  xp = np.pad(x_BxHxWxI, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
  out = np.zeros((b, ho, wo, k_KxKxIxO.shape[-1]), np.float64)
  for i, j in itertools.product(range(ho), range(wo)):
    patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
    out[:, i, j, :] = np.einsum("bhwi,hwio->bo", patch, k_KxKxIxO)
  return out


def _numpy_conv_transpose(x_BxHxWxI, k_KxKxIxO, stride, pad):
  """Literal scatter of torch.nn.ConvTranspose2d: pixel i adds into i * stride - pad + a."""
  b, h, w, _ = x_BxHxWxI.shape
  k = k_KxKxIxO.shape[0]
  full = np.zeros((b, (h - 1) * stride + k, (w - 1) * stride + k, k_KxKxIxO.shape[-1]))
  for i, j, a, c in itertools.product(range(h), range(w), range(k), range(k)):
    full[:, i * stride + a, j * stride + c, :] += x_BxHxWxI[:, i, j, :] @ k_KxKxIxO[a, c]
  return full[:, pad:full.shape[1] - pad, pad:full.shape[2] - pad, :]


def test_instance_norm_matches_literal_formula():
  x = _rand((2, 5, 4, 3)) * 3.0 + 1.0
  norm = fnn.InstanceNorm(3)
  norm.scale.set_value(jnp.array([0.5, 1.0, 2.0]))
  norm.bias.set_value(jnp.array([0.1, -0.2, 0.3]))
  expected = np.empty_like(x)
  for b, c in itertools.product(range(2), range(3)):
    plane = x[b, :, :, c].astype(np.float64)
    var = ((plane - plane.mean()) ** 2).mean()  # biased, as PyTorch normalises
    expected[b, :, :, c] = ((plane - plane.mean()) / np.sqrt(var + 1e-5) *
                            [0.5, 1.0, 2.0][c] + [0.1, -0.2, 0.3][c])
  np.testing.assert_allclose(norm(jnp.asarray(x)), expected, rtol=1e-4, atol=1e-5)


def test_instance_norm_gradients_match_central_differences():
  """The hand-written backward (and its own derivative) against float64 central differences
  of the literal formula: d/dx, d/dscale, d/dbias, and the gradient of a gradient norm."""
  x = _rand((2, 4, 3, 2), 7) * 2.0 + 0.5
  scale, bias = np.array([0.7, 1.3]), np.array([0.2, -0.1])
  weights = _rand((2, 4, 3, 2), 8)

  def literal(x, scale, bias):  # float64 numpy
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * scale + bias

  def numeric_grad(f, args, i, h=1e-5):
    args = [np.asarray(a, np.float64) for a in args]
    grad = np.zeros_like(args[i])
    for idx in np.ndindex(grad.shape):
      up, down = [a.copy() for a in args], [a.copy() for a in args]
      up[i][idx] += h
      down[i][idx] -= h
      grad[idx] = (f(*up) - f(*down)) / (2 * h)
    return grad

  norm = fnn.InstanceNorm(2)
  norm.scale.set_value(jnp.asarray(scale, jnp.float32))
  norm.bias.set_value(jnp.asarray(bias, jnp.float32))
  graph, params = nnx.split(norm)

  def loss(x, params):
    return jnp.sum(nnx.merge(graph, params)(x) * weights)

  gx, gp = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), params)
  f = lambda x, s, b: float(np.sum(literal(x, s, b) * weights))
  np.testing.assert_allclose(gx, numeric_grad(f, (x, scale, bias), 0), rtol=2e-3, atol=2e-4)
  np.testing.assert_allclose(gp["scale"][...], numeric_grad(f, (x, scale, bias), 1), rtol=2e-3)
  np.testing.assert_allclose(gp["bias"][...], numeric_grad(f, (x, scale, bias), 2), rtol=2e-3)

  # Second order (a gradient-penalty-like term): d/dscale of ||d loss / dx||^2.
  penalty = lambda params: jnp.sum(jax.grad(loss)(jnp.asarray(x), params) ** 2)
  g2 = jax.grad(penalty)(params)["scale"][...]

  def literal_penalty(x, s, b):
    dx = numeric_grad(lambda xx, ss, bb: float(np.sum(literal(xx, ss, bb) * weights)),
                      (x, s, b), 0, h=1e-4)
    return float(np.sum(dx ** 2))
  np.testing.assert_allclose(g2, numeric_grad(literal_penalty, (x, scale, bias), 1, h=1e-3),
                             rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("size,k,s,p", [(128, 7, 1, 3), (128, 4, 2, 1), (9, 3, 1, 1),
                                        (8, 2, 1, 0), (7, 4, 2, 1), (4, 4, 1, 0), (2, 3, 1, 1)])
def test_conv_output_shape_matches_pytorch_formula(size, k, s, p):
  conv = fnn.Conv2d(2, 3, k, s, p, rngs=_rngs(0))
  out = conv(jnp.zeros((1, size, size, 2)))
  torch_size = (size + 2 * p - (k - 1) - 1) // s + 1  # torch.nn.Conv2d docs, dilation 1
  assert out.shape == (1, torch_size, torch_size, 3)


@pytest.mark.parametrize("size,k,s,p,op", [(32, 4, 2, 1, 0), (5, 4, 2, 1, 0), (3, 3, 2, 1, 1),
                                           (4, 3, 1, 1, 0)])
def test_conv_transpose_output_shape_matches_pytorch_formula(size, k, s, p, op):
  conv = fnn.ConvTranspose2d(2, 3, k, s, p, op, rngs=_rngs(0))
  out = conv(jnp.zeros((1, size, size, 2)))
  torch_size = (size - 1) * s - 2 * p + (k - 1) + op + 1  # torch.nn.ConvTranspose2d docs
  assert out.shape == (1, torch_size, torch_size, 3)


@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (2, 6, 4, 3)])  # odd and even widths
@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (4, 2, 1), (3, 2, 0)])
def test_conv_values_match_literal_correlation(k, s, p, shape):
  x = _rand(shape)
  conv = fnn.Conv2d(3, 4, k, s, p, rngs=_rngs(1))
  conv.bias.set_value(jnp.arange(4, dtype=jnp.float32))
  expected = _numpy_conv(x, np.asarray(conv.kernel[...]), s, p) + np.arange(4)
  np.testing.assert_allclose(conv(jnp.asarray(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 2, 1), (3, 1, 0)])
def test_conv_input_gradient_is_the_literal_transposed_scatter(k, s, p):
  # d/dx sum(r * conv(x)) scatters r back through the kernel (in/out channels swapped).
  x = _rand((2, 6, 4, 3))
  conv = fnn.Conv2d(3, 4, k, s, p, use_bias=False, rngs=_rngs(3))
  r = _rand(conv(jnp.asarray(x)).shape)
  grad = jax.grad(lambda x_: jnp.sum(conv(x_) * r))(jnp.asarray(x))
  kernel_T = np.asarray(conv.kernel[...]).transpose(0, 1, 3, 2)
  full = _numpy_conv_transpose(r, kernel_T, s, 0)  # uncropped: full[i + p] is input pixel i
  scattered = full[:, p:p + 6, p:p + 4]
  expected = np.zeros_like(x)  # pixels no output window reads get zero gradient
  expected[:, :scattered.shape[1], :scattered.shape[2]] = scattered
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 1), (3, 2, 0)])
def test_conv_transpose_values_match_literal_scatter(k, s, p):
  x = _rand((2, 3, 4, 3))
  conv = fnn.ConvTranspose2d(3, 2, k, s, p, use_bias=False, rngs=_rngs(2))
  expected = _numpy_conv_transpose(x, np.asarray(conv.kernel[...]), s, p)
  np.testing.assert_allclose(conv(jnp.asarray(x)), expected, rtol=1e-4, atol=1e-5)


def test_conv_weights_are_n0_002_and_biases_zero():
  conv = fnn.Conv2d(64, 64, 3, rngs=_rngs(0))
  kernel = np.asarray(conv.kernel[...])
  assert abs(kernel.mean()) < 2e-3 and abs(kernel.std() - 0.02) < 1e-3
  assert not np.any(np.asarray(conv.bias[...]))


def test_residual_block_is_identity_when_last_norm_scale_is_zero():
  block = fnn.ResidualBlock(4, rngs=_rngs(0))
  block.conv_norm.norm.scale.set_value(jnp.zeros(4))
  x = _rand((2, 6, 6, 4))
  np.testing.assert_allclose(block(jnp.asarray(x)), x, atol=1e-6)
  # ... and with the default scale 1 the branch does contribute.
  assert not np.allclose(fnn.ResidualBlock(4, rngs=_rngs(0))(jnp.asarray(x)), x)


def test_down_up_and_resize_blocks_shapes():
  x = jnp.ones((2, 16, 16, 3))
  assert fnn.DownBlock(3, 8, rngs=_rngs(0))(x).shape == (2, 8, 8, 8)
  assert fnn.UpBlock(3, 8, rngs=_rngs(0))(x).shape == (2, 32, 32, 8)
  assert fnn.ResizeConvUpBlock(3, 8, rngs=_rngs(0))(x).shape == (2, 32, 32, 8)


def test_resize_conv_upsamples_by_pixel_repetition():
  # A 1x1 identity conv (no norm/act) exposes the upsampling alone.
  block = fnn.ResizeConvUpBlock(2, 2, 1, norm="none", activation="none", rngs=_rngs(0))
  block.conv.conv.kernel.set_value(jnp.eye(2)[None, None])
  x = _rand((1, 2, 3, 2))
  expected = x[:, [0, 0, 1, 1]][:, :, [0, 0, 1, 1, 2, 2]]
  np.testing.assert_allclose(block(jnp.asarray(x)), expected, atol=1e-6)


def test_compose_on_hand_picked_values():
  image = jnp.array([0.2, -0.4, 0.6]).reshape(1, 1, 1, 3)
  color = jnp.array([-1.0, 1.0, 0.0]).reshape(1, 1, 1, 3)
  keep = fnn.compose(jnp.ones((1, 1, 1, 1)), color, image)
  replace = fnn.compose(jnp.zeros((1, 1, 1, 1)), color, image)
  half = fnn.compose(jnp.full((1, 1, 1, 1), 0.25), color, image)
  np.testing.assert_allclose(keep, image)
  np.testing.assert_allclose(replace, color)
  np.testing.assert_allclose(half.ravel(), [0.25 * 0.2 - 0.75, 0.25 * -0.4 + 0.75, 0.15],
                             rtol=1e-6)


@pytest.mark.parametrize("norm", ["none", "instance", "spectral"])
def test_patch_critic_heads_shapes(norm):
  critic = fnn.PatchCritic(3, 32, num_layers=3, base_channels=4, norm=norm, num_aus=5,
                           num_classes=8, rngs=_rngs(0))
  out = critic(jnp.ones((2, 32, 32, 3)))
  assert out.map_BxhxWx1.shape == (2, 4, 4, 1)
  assert out.aus_BxA.shape == (2, 5)
  assert out.logits_BxK.shape == (2, 8)


def test_patch_critic_without_aux_heads_and_channel_cap():
  critic = fnn.PatchCritic(3, 16, num_layers=4, base_channels=4, max_channels=8,
                           rngs=_rngs(0))
  out = critic(jnp.ones((1, 16, 16, 3)))
  assert out.aus_BxA is None and out.logits_BxK is None
  assert [layer.conv.kernel[...].shape[-1] for layer in critic.trunk] == [4, 8, 8, 8]


def test_spectral_norm_sigma_converges_to_largest_singular_value_under_jit():
  conv = fnn.Conv2d(3, 5, 3, 1, 1, spectral_norm=True, rngs=_rngs(0))
  graphdef, params, vectors = nnx.split(conv, nnx.Param, fnn.SpectralVector)
  x = jnp.ones((1, 4, 4, 3))

  @jax.jit
  def forward(params, vectors):
    model = nnx.merge(graphdef, params, vectors)
    model(x)
    return nnx.state(model, fnn.SpectralVector)

  for _ in range(100):
    vectors = forward(params, vectors)
  w_OxK = np.asarray(params["kernel"][...]).reshape(-1, 5).T  # PyTorch's (out, in*kh*kw)
  u, v = np.asarray(vectors["sn_u"][...]), np.asarray(vectors["sn_v"][...])
  sigma_estimate = u @ w_OxK @ v
  sigma_true = np.linalg.svd(w_OxK, compute_uv=False)[0]
  np.testing.assert_allclose(sigma_estimate, sigma_true, rtol=1e-3)
  # The layer then uses W / sigma, whose largest singular value is 1.
  normalized, *_ = fnn.spectral_normalize(params["kernel"][...], u, v, update=False)
  assert np.linalg.svd(np.asarray(normalized).reshape(-1, 5), compute_uv=False)[0] == (
      pytest.approx(1.0, rel=1e-3))


def test_spectral_norm_eval_mode_freezes_vectors():
  conv = fnn.Conv2d(3, 5, 3, spectral_norm=True, rngs=_rngs(0))
  u_before = np.asarray(conv.sn_u[...])
  conv.eval()
  conv(jnp.ones((1, 4, 4, 3)))
  np.testing.assert_array_equal(conv.sn_u[...], u_before)
  conv.train()
  conv(jnp.ones((1, 4, 4, 3)))
  assert not np.allclose(conv.sn_u[...], u_before)


def test_spectral_critic_jitted_grad_step_returns_updated_vectors():
  critic = fnn.PatchCritic(3, 16, num_layers=2, base_channels=4, norm="spectral",
                           rngs=_rngs(0))
  graphdef, params, vectors = nnx.split(critic, nnx.Param, fnn.SpectralVector)
  x = jnp.asarray(_rand((2, 16, 16, 3)))

  @jax.jit
  def step(params, vectors):
    def loss_fn(params):
      model = nnx.merge(graphdef, params, vectors, copy=True)
      loss = jnp.mean(jax.nn.relu(1.0 - model(x).map_BxhxWx1))
      return loss, nnx.state(model, fnn.SpectralVector)
    return jax.grad(loss_fn, has_aux=True)(params)

  grads, new_vectors = step(params, vectors)
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  assert not np.allclose(new_vectors["trunk"][0]["conv"]["sn_u"][...],
                         vectors["trunk"][0]["conv"]["sn_u"][...])


@pytest.mark.parametrize("impl", ["plain", "fast"])
def test_fused_heads_are_each_head_on_its_own(impl):
  """One conv with the concatenated kernels == each head applied alone (values and gradients
  w.r.t. every head's kernel and bias), against the literal numpy correlation."""
  rngs = _rngs(3)
  heads = [fnn.ConvNormAct(5, 3, 7, 1, 3, norm="none", activation="tanh", use_bias=True,
                           rngs=rngs),
           fnn.ConvNormAct(5, 1, 7, 1, 3, norm="none", activation="sigmoid", use_bias=False,
                           rngs=rngs)]
  heads[0].conv.bias.set_value(jnp.asarray([0.1, -0.2, 0.3]))
  x = _rand((2, 9, 8, 5), 4) * 10.0
  with fnn.conv_impl(impl):
    fused = fnn.fused_heads(jnp.asarray(x), *heads)
  k0, k1 = (np.asarray(h.conv.kernel[...]) for h in heads)
  want = (np.tanh(_numpy_conv(x, k0, 1, 3) + np.asarray([0.1, -0.2, 0.3])),
          1 / (1 + np.exp(-_numpy_conv(x, k1, 1, 3))))
  for got, w in zip(fused, want):
    np.testing.assert_allclose(np.asarray(got), w, rtol=1e-4, atol=1e-5)

  def loss(params, fuse):
    graph, _ = nnx.split(heads)
    hs = nnx.merge(graph, params)
    outs = fnn.fused_heads(jnp.asarray(x), *hs) if fuse else tuple(h(jnp.asarray(x)) for h in hs)
    return sum(jnp.sum(o * jnp.arange(o.size).reshape(o.shape) / o.size) for o in outs)

  params = nnx.state(heads, nnx.Param)
  with fnn.conv_impl(impl):
    g_fused = jax.grad(loss)(params, True)
    g_apart = jax.grad(loss)(params, False)
  for a, b in zip(jax.tree.leaves(g_fused), jax.tree.leaves(g_apart)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_fused_heads_fall_back_for_normalised_heads():
  rngs = _rngs(4)
  heads = [fnn.ConvNormAct(4, 2, 3, 1, 1, norm="instance", activation="relu", rngs=rngs),
           fnn.ConvNormAct(4, 1, 3, 1, 1, norm="none", activation="sigmoid", rngs=rngs)]
  x = jnp.asarray(_rand((2, 6, 6, 4), 5))
  for got, head in zip(fnn.fused_heads(x, *heads), heads):
    np.testing.assert_allclose(np.asarray(got), np.asarray(head(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", fnn.UPSAMPLINGS)
def test_only_transposed_up_sampling_leaves_a_checkerboard_on_a_flat_input(kind):
  """A spatially constant input: a random 4x4 stride-2 transposed conv gives each of the four
  output phases its own kernel sum (a period-2 pattern); nearest x2 + 3x3 conv stays flat away
  from the zero-padded border. Measured by the artefact measure of the evaluators."""
  from fxs_jax.eval import artefacts
  block = fnn.up_block(kind, 3, 3, rngs=_rngs(0))
  block_out = block(jnp.full((1, 8, 8, 3), 0.5))
  core = np.asarray(block_out)[:, 2:-2, 2:-2]
  tanh = np.tanh(core)  # any fixed pointwise map to [-1, 1]
  score = artefacts.checkerboard_rms(tanh, np.zeros_like(tanh))
  if kind == "resize":
    assert score.max() < 1e-6
  else:
    assert score.min() > 1e-3
  with pytest.raises(ValueError, match="up-sampling 'bilinear'"):
    fnn.up_block("bilinear", 3, 3, rngs=_rngs(0))


def test_frozen_critic_takes_input_gradients_without_touching_its_vectors():
  critic = fnn.PatchCritic(3, 16, num_layers=2, base_channels=4, norm="spectral",
                           rngs=_rngs(0))
  before = nnx.state(critic, fnn.SpectralVector)
  x = jnp.asarray(_rand((2, 16, 16, 3)))
  # As the generator step uses it: called inside a gradient trace it did not come from.
  grad = jax.jit(jax.grad(lambda v: jnp.sum(fnn.frozen(critic)(v).map_BxhxWx1)))(x)
  assert np.isfinite(grad).all() and np.abs(grad).max() > 0
  after = nnx.state(critic, fnn.SpectralVector)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
  linear = nnx.Linear(2, 2, rngs=_rngs(0))
  assert fnn.frozen(linear) is linear  # nothing in it to freeze
