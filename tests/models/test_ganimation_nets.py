"""GANimation networks: official PyTorch parameter counts, shapes, ranges, a jitted step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fxs_jax import losses
from fxs_jax.models import ganimation
from fxs_jax.nn import blocks
from fxs_jax.nn import compose


def _rngs(seed):
  # The 'rbg' PRNG compiles ~5x faster than threefry on CPU, and every new kernel shape costs a
  # compile: this keeps the suite fast. What is tested does not depend on the generator.
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _abstract_apply(abstract_module, *inputs):
  """Output shapes of an ``nnx.eval_shape``-built module, without allocating its weights."""
  graphdef, state = nnx.split(abstract_module)
  return jax.eval_shape(lambda s, *xs: nnx.merge(graphdef, s)(*xs), state, *inputs)


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _official_generator_params(num_aus=17, c=64, res_blocks=6):
  """networks/generator_wasserstein_gan.py, written out in PyTorch's conventions:
  Conv2d(bias=False) = in*out*k*k, ConvTranspose2d(bias=False) = in*out*k*k,
  InstanceNorm2d(affine=True) = 2*C."""
  total = (3 + num_aus) * c * 7 * 7 + 2 * c            # conv 7x7 + IN
  total += c * 2 * c * 4 * 4 + 2 * 2 * c               # down 1 + IN
  total += 2 * c * 4 * c * 4 * 4 + 2 * 4 * c          # down 2 + IN
  total += res_blocks * 2 * (4 * c * 4 * c * 3 * 3 + 2 * 4 * c)  # 2 x (conv3x3 + IN) each
  total += 4 * c * 2 * c * 4 * 4 + 2 * 2 * c          # up 1 + IN
  total += 2 * c * c * 4 * 4 + 2 * c                   # up 2 + IN
  total += c * 3 * 7 * 7 + c * 1 * 7 * 7               # colour and attention heads
  return total


def _official_critic_params(image_size=128, num_aus=17, c=64, layers=6):
  """networks/discriminator_wasserstein_gan.py: trunk Conv2d(4, 2, 1) WITH bias, heads without."""
  channels = [3] + [c * 2 ** i for i in range(layers)]
  total = sum(cin * cout * 4 * 4 + cout for cin, cout in zip(channels[:-1], channels[1:]))
  k = image_size // 2 ** layers
  return total + channels[-1] * 1 * 3 * 3 + channels[-1] * num_aus * k * k


def test_official_counts_written_out():
  # The formulas above, evaluated by hand once, guard against a typo in them.
  assert _official_generator_params() == 8_471_296
  assert _official_critic_params() == 44_860_352


def test_generator_parameter_count_matches_official():
  gen = nnx.eval_shape(lambda: ganimation.Generator(128, rngs=_rngs(0)))
  assert _num_params(gen) == _official_generator_params()
  small = nnx.eval_shape(lambda: ganimation.Generator(32, 5, 8, 2, rngs=_rngs(0)))
  assert _num_params(small) == _official_generator_params(num_aus=5, c=8, res_blocks=2)


def test_critic_parameter_count_matches_official():
  critic = nnx.eval_shape(lambda: ganimation.Critic(128, 17, rngs=_rngs(0)))
  assert _num_params(critic) == _official_critic_params()
  small = nnx.eval_shape(lambda: ganimation.Critic(64, 17, 64, 5, rngs=_rngs(0)))
  assert _num_params(small) == _official_critic_params(64, 17, 64, 5)


def test_generator_output_shapes_at_128px():
  gen = nnx.eval_shape(lambda: ganimation.Generator(128, rngs=_rngs(0)))
  color, attention = _abstract_apply(gen, jnp.zeros((2, 128, 128, 3)), jnp.zeros((2, 17)))
  assert color.shape == (2, 128, 128, 3) and attention.shape == (2, 128, 128, 1)


def test_generator_output_ranges_and_conditioning():
  gen = ganimation.Generator(32, 17, 16, 2, rngs=_rngs(0))
  # Large weights push the heads into saturation, where a missing tanh/sigmoid would show.
  gen.color_head.conv.kernel.set_value(gen.color_head.conv.kernel[...] * 500.0)
  gen.attention_head.conv.kernel.set_value(gen.attention_head.conv.kernel[...] * 500.0)
  img = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3), minval=-1.0, maxval=1.0)
  aus = jax.random.uniform(jax.random.key(2), (2, 17))
  run = jax.jit(lambda i, a: gen(i, a))
  color, attention = run(img, aus)
  assert float(color.min()) >= -1.0 and float(color.max()) <= 1.0
  assert float(attention.min()) >= 0.0 and float(attention.max()) <= 1.0
  assert float(jnp.abs(color).max()) > 0.99  # saturated: the bound is the activation's
  color_other, _ = run(img, 1.0 - aus)  # the AU condition reaches the output
  assert not np.allclose(color, color_other)


def test_critic_output_shapes_at_128px_and_64px_with_5_layers():
  critic = nnx.eval_shape(lambda: ganimation.Critic(128, 17, rngs=_rngs(0)))
  out_map, out_aus = _abstract_apply(critic, jnp.zeros((2, 128, 128, 3)))
  assert out_map.shape == (2, 2, 2, 1) and out_aus.shape == (2, 17)
  small = nnx.eval_shape(lambda: ganimation.Critic(64, 17, 64, 5, rngs=_rngs(0)))
  out_map, out_aus = _abstract_apply(small, jnp.zeros((2, 64, 64, 3)))
  assert out_map.shape == (2, 2, 2, 1) and out_aus.shape == (2, 17)


def test_critic_values_at_small_size():
  critic = ganimation.Critic(32, 17, 8, 4, rngs=_rngs(0))
  out_map, out_aus = jax.jit(lambda x: critic(x))(jnp.ones((2, 32, 32, 3)))
  assert out_map.shape == (2, 2, 2, 1) and out_aus.shape == (2, 17)
  assert np.isfinite(out_map).all() and np.isfinite(out_aus).all()


def test_critic_rejects_sizes_not_divisible():
  with pytest.raises(ValueError):
    ganimation.Critic(100, 17, rngs=_rngs(0))


def test_jitted_grad_through_split_merge():
  gen = ganimation.Generator(16, 5, 8, 1, rngs=_rngs(0))
  critic = ganimation.Critic(16, 5, 8, 3, rngs=_rngs(1))
  g_def, g_state = nnx.split(gen)
  d_def, d_state = nnx.split(critic)
  real = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3), minval=-1.0, maxval=1.0)
  aus_real = jax.random.uniform(jax.random.key(3), (2, 5))
  aus_target = aus_real[::-1]

  @jax.jit
  def step(g_state, d_state, key):
    g, d = nnx.merge(g_def, g_state), nnx.merge(d_def, d_state)
    color, attention = g(real, aus_target)
    fake = jax.lax.stop_gradient(compose(attention, color, real))

    def critic_loss(d_state):
      d = nnx.merge(d_def, d_state)
      real_map, real_aus = d(real)
      fake_map, _ = d(fake)
      gp = losses.gradient_penalty(lambda x: d(x)[0], real, fake, key)
      return (losses.wgan_critic_loss(real_map, fake_map) + 10.0 * gp
              + losses.mse_loss(real_aus, aus_real))

    def generator_loss(g_state):
      g = nnx.merge(g_def, g_state)
      color, attention = g(real, aus_target)
      fake = compose(attention, color, real)
      color_rec, attention_rec = g(fake, aus_real)
      fake_map, fake_aus = d(fake)
      return (losses.wgan_generator_loss(fake_map) + losses.mse_loss(fake_aus, aus_target)
              + 10.0 * losses.cycle_loss(compose(attention_rec, color_rec, fake), real)
              + 0.1 * losses.attention_mean_penalty(attention)
              + 1e-5 * losses.total_variation(attention))

    return jax.value_and_grad(critic_loss)(d_state), jax.value_and_grad(generator_loss)(g_state)

  (d_loss, d_grads), (g_loss, g_grads) = step(g_state, d_state, jax.random.key(4))
  assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
  for grads in (d_grads, g_grads):
    leaves = jax.tree.leaves(grads)
    assert all(np.isfinite(x).all() for x in leaves)
    assert sum(float(jnp.abs(x).sum()) for x in leaves) > 0.0


def test_residual_colour_mask_by_hand():
  image = jnp.array([[[[0.5, -0.9, 0.2], [0.0, 0.9, -0.2]]]])
  head = jnp.array([[[[0.1, -0.3, 0.4], [0.6, 0.3, -0.45]]]])
  # C = clip(image + 2 * head): 0.5+0.2, -0.9-0.6 -> -1, 0.2+0.8; 0+1.2 -> 1, 0.9+0.6 -> 1, -1.1
  np.testing.assert_allclose(blocks.colour_mask("residual", head, image),
                             [[[[0.7, -1.0, 1.0], [1.0, 1.0, -1.0]]]], atol=1e-6)
  np.testing.assert_array_equal(blocks.colour_mask("absolute", head, image), head)
  with pytest.raises(ValueError, match="colour"):
    blocks.colour_mask("additive", head, image)


def test_residual_colour_generator_starts_as_the_identity_and_learns():
  absolute = ganimation.Generator(16, 17, 8, 1, rngs=_rngs(0))
  gen = ganimation.Generator(16, 17, 8, 1, colour="residual", rngs=_rngs(0))
  assert _num_params(gen) == _num_params(absolute)  # same network, another reading of its head
  img = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3), minval=-1.0, maxval=1.0)
  aus = jax.random.uniform(jax.random.key(2), (2, 17))
  color, attention = gen(img, aus)
  np.testing.assert_array_equal(color, img)  # C = input: any attention gives back the input
  np.testing.assert_allclose(compose(attention, color, img), img, atol=1e-6)
  assert 0.05 < float(attention.mean()) < 0.95
  graphdef, params, rest = nnx.split(gen, nnx.Param, ...)
  target = img + 0.3 * jnp.sign(img[..., :1])  # a change the colour mask must make

  def loss(p):
    c, a = nnx.merge(graphdef, p, rest)(img, aus)
    return jnp.mean(jnp.abs(compose(a, c, img) - target))

  grads = jax.grad(loss)(params)
  head_grad = grads["color_head"]["conv"]["kernel"][...]
  assert float(jnp.abs(head_grad).max()) > 1e-4  # the zero head still receives a gradient
