"""Losses against hand-computed values and closed-form gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fxs_jax import losses


def _softplus(x):
  return np.log1p(np.exp(x))


def test_gradient_penalty_of_linear_critic_is_exact():
  # f(x) = sum(w * x) per sample: grad = w at every interpolate, so GP = (||w|| - 1)^2.
  w = np.random.default_rng(0).standard_normal((4, 4, 3)).astype(np.float32)
  critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  real = jnp.asarray(np.random.default_rng(1).standard_normal((3, 4, 4, 3)), jnp.float32)
  fake = -2.0 * real
  expected = (np.linalg.norm(w) - 1.0) ** 2
  for seed in range(3):
    gp = losses.gradient_penalty(critic, real, fake, jax.random.key(seed))
    assert float(gp) == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_of_quadratic_critic_matches_hand_gradient():
  # f(x) = sum(x^2): grad = 2x. With real == fake every interpolate is real itself.
  real_np = np.random.default_rng(2).standard_normal((4, 3, 2, 1)).astype(np.float32) * 0.3
  critic = lambda x: jnp.sum(x ** 2, axis=(1, 2, 3))
  gp = losses.gradient_penalty(critic, jnp.asarray(real_np), jnp.asarray(real_np),
                               jax.random.key(0))
  norms = np.linalg.norm(2.0 * real_np.reshape(4, -1), axis=1)
  assert float(gp) == pytest.approx(np.mean((norms - 1.0) ** 2), rel=1e-5)


def test_gradient_penalty_interpolates_with_uniform_per_sample_eps():
  # f(x) = x^2 / 2 on 1-pixel images, real = 0, fake = 2: x_b = 2 (1 - eps_b) = grad, so each
  # sample contributes Y_b = (1 - 2 eps_b)^2 = Z^2 with Z ~ U(-1, 1): E[Y] = 1/3, Var[Y] = 4/45.
  # Averaging two independent samples halves the variance (one shared eps would not).
  critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  real, fake = jnp.zeros((2, 1, 1, 1)), jnp.full((2, 1, 1, 1), 2.0)
  keys = jax.random.split(jax.random.key(0), 4000)
  gps = jax.vmap(lambda k: losses.gradient_penalty(critic, real, fake, k))(keys)
  assert float(jnp.mean(gps)) == pytest.approx(1.0 / 3.0, abs=0.02)
  assert float(jnp.var(gps)) == pytest.approx(2.0 / 45.0, abs=0.01)


def test_gradient_penalty_gradient_w_r_t_critic_weights():
  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: checks the double backprop.
  w = jnp.asarray(np.random.default_rng(3).standard_normal((2, 2, 1)), jnp.float32)
  real = jnp.ones((2, 2, 2, 1))

  def gp_of(w):
    return losses.gradient_penalty(lambda x: jnp.sum(x * w, axis=(1, 2, 3)), real, -real,
                                   jax.random.key(0))

  norm = np.linalg.norm(w)
  np.testing.assert_allclose(jax.jit(jax.grad(gp_of))(w), 2 * (norm - 1) * np.asarray(w) / norm,
                             rtol=1e-5)


REAL = jnp.array([2.0, 0.5, -1.0])
FAKE = jnp.array([-3.0, 0.0, 1.5])


def test_wgan_losses():
  assert float(losses.wgan_critic_loss(REAL, FAKE)) == pytest.approx(-1.5 / 3 - 1.5 / 3)
  assert float(losses.wgan_generator_loss(FAKE)) == pytest.approx(1.5 / 3)


def test_hinge_losses():
  # relu(1 - real) = [0, 0.5, 2]; relu(1 + fake) = [0, 1, 2.5]
  assert float(losses.hinge_critic_loss(REAL, FAKE)) == pytest.approx(2.5 / 3 + 3.5 / 3)
  assert float(losses.hinge_generator_loss(FAKE)) == pytest.approx(1.5 / 3)


def test_lsgan_losses():
  # (real - 1)^2 = [1, 0.25, 4]; fake^2 = [9, 0, 2.25]; (fake - 1)^2 = [16, 1, 0.25]
  assert float(losses.lsgan_critic_loss(REAL, FAKE)) == pytest.approx(
      0.5 * 5.25 / 3 + 0.5 * 11.25 / 3)
  assert float(losses.lsgan_generator_loss(FAKE)) == pytest.approx(0.5 * 17.25 / 3)


def test_nonsaturating_losses_equal_binary_cross_entropy():
  sigmoid = lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))
  bce_real = -np.mean(np.log(sigmoid(REAL)))
  bce_fake = -np.mean(np.log(1.0 - sigmoid(FAKE)))
  assert float(losses.nonsaturating_critic_loss(REAL, FAKE)) == pytest.approx(
      bce_real + bce_fake, rel=1e-5)
  assert float(losses.nonsaturating_generator_loss(FAKE)) == pytest.approx(
      np.mean(_softplus(-np.asarray(FAKE))), rel=1e-5)
  # Stable for huge logits (the softplus form never takes log(0)).
  assert np.isfinite(float(losses.nonsaturating_critic_loss(jnp.array([-200.0]),
                                                            jnp.array([200.0]))))


def test_reconstruction_losses():
  a = jnp.array([[1.0, -2.0], [0.5, 0.0]])
  b = jnp.array([[0.0, 0.0], [0.5, 1.0]])
  assert float(losses.l1_loss(a, b)) == pytest.approx((1 + 2 + 0 + 1) / 4)
  assert float(losses.mse_loss(a, b)) == pytest.approx((1 + 4 + 0 + 1) / 4)
  assert float(losses.cycle_loss(a, b)) == pytest.approx(1.0)


# Two 3x3 masks (B, H, W, 1).
MASK_0 = np.array([[0.0, 1.0, 0.0],
                   [0.0, 0.5, 0.0],
                   [1.0, 1.0, 1.0]])
MASK_1 = np.full((3, 3), 0.25)
MASKS = jnp.asarray(np.stack([MASK_0, MASK_1])[..., None], jnp.float32)


def test_total_variation_official_form_is_a_batch_sum():
  # MASK_0 vertical |diffs|: rows 0->1: 0, .5, 0; rows 1->2: 1, .5, 1  -> 3.0
  #        horizontal:      row 0: 1, 1; row 1: .5, .5; row 2: 0, 0     -> 3.0
  # MASK_1 is constant -> 0.
  assert float(losses.total_variation(MASKS)) == pytest.approx(6.0)
  assert float(losses.total_variation(MASKS, form="official")) == pytest.approx(6.0)


def test_total_variation_mean_and_replicate_forms():
  # 12 vertical and 12 horizontal differences over the batch (2 * 2 * 3 each).
  assert float(losses.total_variation(MASKS, form="mean")) == pytest.approx(3 / 12 + 3 / 12)
  # squared: vertical .25 + 1 + .25 + 1 = 2.5; horizontal 1 + 1 + .25 + .25 = 2.5
  assert float(losses.total_variation(MASKS, form="replicate")) == pytest.approx(
      2 * (2.5 / 12 + 2.5 / 12))
  with pytest.raises(ValueError):
    losses.total_variation(MASKS, form="bogus")


def test_attention_mean_and_l2_penalties():
  expected_mean = (MASK_0.sum() + MASK_1.sum()) / 18
  expected_l2 = ((MASK_0 ** 2).sum() + (MASK_1 ** 2).sum()) / 18
  assert float(losses.attention_mean_penalty(MASKS)) == pytest.approx(expected_mean)
  assert float(losses.attention_l2_penalty(MASKS)) == pytest.approx(expected_l2)
