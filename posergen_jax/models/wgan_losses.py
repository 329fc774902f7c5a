"""Wasserstein GAN losses: critic and generator objectives, gradient penalty, weight clipping.

The critic maximises E[D(real)] - E[D(fake)], the Wasserstein-1 estimate, under a Lipschitz
constraint: a gradient penalty (WGAN-GP, Gulrajani et al. 2017) or clipping every weight to
[-c, c] (the original WGAN, Arjovsky et al. 2017). The generator minimises -E[D(fake)].
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

NORM_EPSILON = 1e-12


def wasserstein_estimate(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """E[D(real)] - E[D(fake)]: scores [B] each -> float32 scalar."""
  return jnp.mean(real_scores.astype(jnp.float32)) - jnp.mean(fake_scores.astype(jnp.float32))


def critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """What the critic minimises before any penalty: -wasserstein_estimate; scalar."""
  return -wasserstein_estimate(real_scores, fake_scores)


def generator_loss(fake_scores: jax.Array) -> jax.Array:
  """-E[D(fake)]: scores [B] -> scalar."""
  return -jnp.mean(fake_scores.astype(jnp.float32))


def interpolate(real: jax.Array, fake: jax.Array, alpha: jax.Array) -> jax.Array:
  """alpha * real + (1 - alpha) * fake per example: images [B,...], alpha [B] -> [B,...]."""
  alpha = alpha.reshape((-1,) + (1,) * (real.ndim - 1)).astype(real.dtype)
  return alpha * real + (1.0 - alpha) * fake


def gradient_penalty(
    critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, alpha: jax.Array
) -> jax.Array:
  """WGAN-GP's E[(||∇_x D(x)||_2 - 1)^2] at x = interpolate(real, fake, alpha).

  Args:
    critic: images [B,...] -> scores [B], each score depending on its own example only (no
      BatchNorm), so the gradient of their sum is each example's own gradient.
    real, fake: [B,...]; alpha: [B] in [0, 1].

  Returns:
    float32 scalar, the mean over the batch.
  """
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(interpolate(real, fake, alpha))
  squares = jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=tuple(range(1, grads.ndim)))
  norms = jnp.sqrt(squares + NORM_EPSILON)  # Finite gradient where D's gradient is 0.
  return jnp.mean(jnp.square(norms - 1.0))


def clip_weights(params, clip_value: float):
  """Every leaf of `params` clipped to [-clip_value, clip_value] (the original WGAN)."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip_value, clip_value), params)
