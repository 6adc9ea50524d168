"""Adversarial losses on critic outputs (any shape: scalars per sample or PatchGAN maps).

Every function averages over all elements of its inputs; critic losses are minimised by the
critic, generator losses by the generator.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def wgan_critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """WGAN critic: ``mean D(fake) - mean D(real)`` (GANimation's ``-mean real + mean fake``)."""
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wgan_generator_loss(fake_scores: jax.Array) -> jax.Array:
  """WGAN generator: ``-mean D(fake)``."""
  return -jnp.mean(fake_scores)


def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array], real_BxHxWxC: jax.Array,
                     fake_BxHxWxC: jax.Array, key: jax.Array) -> jax.Array:
  """WGAN-GP (Gulrajani et al. 2017): ``mean_b (||grad_x D(x_b)||_2 - 1)^2``.

  ``x_b = eps_b * real_b + (1 - eps_b) * fake_b`` with one ``eps_b ~ U(0, 1)`` per sample. The
  gradient is of ``sum D(x)`` (PyTorch's ``grad_outputs=ones``): with a per-sample critic each
  sample's score depends only on its own input, so this is each sample's own gradient. The norm
  runs over all non-batch axes. ``fake`` is treated as a constant (the official code detaches it).
  Gradients flow into the critic's parameters through ``critic_fn`` (double backprop). A critic
  with spectral norm must be passed frozen, ``nnx.view(critic, use_running_average=True)``:
  its power iteration cannot write its state from inside this function's ``jax.grad``.
  """
  # Named, so a profile can tell its work (and the double backward through it) from the rest.
  with jax.named_scope("gradient_penalty"):
    fake_BxHxWxC = jax.lax.stop_gradient(fake_BxHxWxC)
    batch = real_BxHxWxC.shape[0]
    eps_shape = (batch,) + (1,) * (real_BxHxWxC.ndim - 1)
    eps = jax.random.uniform(key, eps_shape, dtype=real_BxHxWxC.dtype)
    interpolates = eps * real_BxHxWxC + (1.0 - eps) * fake_BxHxWxC
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(interpolates)
    # The norm in float32 under bfloat16 compute: (||g|| - 1) near 1 is below bf16's resolution.
    grads = grads.reshape(batch, -1).astype(jnp.float32)
    grad_norm_B = jnp.sqrt(jnp.sum(jnp.square(grads), axis=1))
    return jnp.mean(jnp.square(grad_norm_B - 1.0))


def hinge_critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """Hinge critic (SAGAN / SN-GAN): ``mean relu(1 - D(real)) + mean relu(1 + D(fake))``."""
  return jnp.mean(jax.nn.relu(1.0 - real_scores)) + jnp.mean(jax.nn.relu(1.0 + fake_scores))


def hinge_generator_loss(fake_scores: jax.Array) -> jax.Array:
  """Hinge generator: ``-mean D(fake)``."""
  return -jnp.mean(fake_scores)


def lsgan_critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """LSGAN critic (Mao et al. 2017, a=0, b=1): ``0.5 mean (D(real)-1)^2 + 0.5 mean D(fake)^2``."""
  return 0.5 * jnp.mean(jnp.square(real_scores - 1.0)) + 0.5 * jnp.mean(jnp.square(fake_scores))


def lsgan_generator_loss(fake_scores: jax.Array) -> jax.Array:
  """LSGAN generator (c=1): ``0.5 mean (D(fake) - 1)^2``."""
  return 0.5 * jnp.mean(jnp.square(fake_scores - 1.0))


def nonsaturating_critic_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Standard GAN critic on logits, i.e. BCE(real, 1) + BCE(fake, 0), in the stable form
  ``mean softplus(-real) + mean softplus(fake)``."""
  return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def nonsaturating_generator_loss(fake_logits: jax.Array) -> jax.Array:
  """Non-saturating generator (Goodfellow et al. 2014): ``mean softplus(-D(fake))``."""
  return jnp.mean(jax.nn.softplus(-fake_logits))
