"""cGAN transfer networks: pix2pix's U-Net parameter count, ranges, the fusion module at init."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fxs_jax.models import cgan_transfer as nets


def _rngs(seed):
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _pix2pix_unet_params(in_nc, out_nc, num_downs, ngf):
  """pix2pix's UnetGenerator (models/networks.py) with its default BatchNorm, written out:
  convs without bias (BatchNorm follows, or the innermost), the outermost up conv with bias, 2C
  affine parameters per norm."""
  c = [min(ngf * 2 ** i, 8 * ngf) for i in range(num_downs)]
  total = in_nc * c[0] * 16  # outermost down (no norm)
  total += sum(c[i - 1] * c[i] * 16 + 2 * c[i] for i in range(1, num_downs - 1))  # with norm
  total += c[-2] * c[-1] * 16  # innermost down (no norm)
  total += c[-1] * c[-2] * 16 + 2 * c[-2]  # innermost up (+ norm)
  total += sum(2 * c[i] * c[i - 1] * 16 + 2 * c[i - 1] for i in range(1, num_downs - 1))
  total += 2 * c[0] * out_nc * 16 + out_nc  # outermost up, bias, tanh
  return total


@pytest.mark.parametrize("num_downs", [5, 6])
def test_transposed_unet_has_pix2pix_parameter_count(num_downs):
  unet = nnx.eval_shape(lambda: nets.UNet(6, 64, base_channels=16, num_down=num_downs,
                                          upsample="transpose", rngs=_rngs(0)))
  assert _num_params(unet) == _pix2pix_unet_params(6, 3, num_downs, 16)


def test_unet_output_shape_range_and_skips():
  unet = nets.UNet(4, 32, base_channels=8, rngs=_rngs(0))  # 5 downs: 32 -> 1 px
  x = jax.random.uniform(jax.random.key(1), (2, 32, 32, 4), minval=-1.0, maxval=1.0)
  kernel = unet.out.conv.conv.kernel
  kernel.set_value(kernel[...] * 500.0)  # saturate: the bound must be tanh's
  y = jax.jit(lambda v: unet(v))(x)
  assert y.shape == (2, 32, 32, 3)
  assert float(y.min()) >= -1.0 and float(y.max()) <= 1.0 and float(jnp.abs(y).max()) > 0.99
  # The top skip carries full-resolution detail: one input pixel changes the output near it.
  bumped = x.at[:, 10, 10, :].add(0.5)
  diff = np.abs(np.asarray(jax.jit(lambda v: unet(v))(bumped) - y)).max(-1)
  assert diff[:, 9:12, 9:12].max() > 0
  with pytest.raises(ValueError, match="divisible"):
    nets.UNet(3, 48, num_down=5, rngs=_rngs(0))


@pytest.mark.parametrize("encoder", ["image", "coords"])
def test_fusion_returns_the_target_landmarks_at_init_and_learns_through_keypoints(encoder):
  fusion = nets.LandmarkFusion(32, encoder=encoder, base_channels=4, code_dim=16, hidden=32,
                               rngs=_rngs(0))
  rng = np.random.default_rng(0)
  source = jnp.asarray(rng.uniform(4, 28, (2, 68, 2)), jnp.float32)
  target = jnp.asarray(rng.uniform(4, 28, (2, 68, 2)), jnp.float32)
  np.testing.assert_allclose(fusion(source, target), target, atol=1e-4)  # deviation head = 0
  graphdef, params = nnx.split(fusion, nnx.Param)
  gen = nets.TransferGenerator(32, base_channels=4, num_down=3, rngs=_rngs(1))
  goal = jax.random.uniform(jax.random.key(2), (2, 32, 32, 5))

  def loss(p):  # an image loss on the keypoint image of the fused landmarks
    return jnp.mean((gen.keypoint_image(nnx.merge(graphdef, p)(source, target)) - goal) ** 2)

  grads = jax.grad(loss)(params)
  assert float(jnp.abs(grads["deviation"]["kernel"][...]).max()) > 0


def test_transfer_generator_variants_and_critic_shapes():
  x = jnp.zeros((2, 32, 32, 3))
  lms = jnp.full((2, 68, 2), 16.0)
  cgan = nets.TransferGenerator(32, base_channels=4, num_down=3, fusion_channels=4,
                                rngs=_rngs(0))
  out = cgan(x, lms, x, lms)
  assert out.image_BxHxWx3.shape == (2, 32, 32, 3)
  assert out.condition_BxHxWxC.shape == (2, 32, 32, 5) and out.landmarks_Bx68x2.shape == (2, 68, 2)
  assert float(out.condition_BxHxWxC.min()) >= -1.0 and float(out.condition_BxHxWxC.max()) <= 1.0
  pix2pix = nets.TransferGenerator(32, variant="pix2pix", base_channels=4, num_down=3,
                                   rngs=_rngs(0))
  out = pix2pix(x, None, x + 0.5, None)
  assert out.landmarks_Bx68x2 is None and np.allclose(out.condition_BxHxWxC, 0.0)  # the source
  critic = nets.TransferCritic(3 + 5, 32, num_layers=2, base_channels=4, rngs=_rngs(0))
  assert critic(x, jnp.zeros((2, 32, 32, 5))).shape == (2, 8, 8, 1)
  with pytest.raises(ValueError, match="variant"):
    nets.TransferGenerator(32, variant="stargan", rngs=_rngs(0))


@pytest.mark.parametrize("variant, upsample", [("cgan", "resize"), ("pix2pix", "transpose")])
def test_residual_output_starts_as_copy_the_target_and_can_leave_it(variant, upsample):
  rng = np.random.default_rng(3)
  source, target = (jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32) for _ in "st")
  lms = jnp.asarray(rng.uniform(8, 24, (2, 68, 2)), jnp.float32)
  gen = nets.TransferGenerator(32, variant=variant, base_channels=4, num_down=3,
                               fusion_channels=4, upsample=upsample, output="residual",
                               rngs=_rngs(0))
  np.testing.assert_array_equal(gen(source, lms, target, lms).image_BxHxWx3, target)
  kernel = gen.unet.out_kernel()
  kernel.set_value(jnp.full_like(kernel[...], 0.01))
  moved = gen(source, lms, target, lms).image_BxHxWx3
  assert float(jnp.abs(moved - target).max()) > 1e-3  # a non-zero head changes the output
  assert float(moved.min()) >= -1.0 and float(moved.max()) <= 1.0
  with pytest.raises(ValueError, match="output"):
    nets.TransferGenerator(32, output="additive", rngs=_rngs(0))
