"""Wasserstein GAN losses: critic and generator objectives, gradient penalties, weight clipping.

The critic maximises E[D(real)] - E[D(fake)], the Wasserstein-1 estimate, under a Lipschitz
constraint: a gradient penalty (WGAN-GP, Gulrajani et al. 2017) or clipping every weight to
[-c, c] (the original WGAN, Arjovsky et al. 2017). The generator minimises -E[D(fake)].

DF-GAN's matching-aware variant (Tao et al. 2022) is here too: `matching_critic_loss` also
scores real images with mismatched captions as fakes, with the hinge loss or the Wasserstein
terms, and `matching_gradient_penalty` (MA-GP) penalises the critic's gradient with respect to
both the real image and its own caption's vector.
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


OBJECTIVES = ("wasserstein", "hinge")


def matching_critic_loss(
    real_scores: jax.Array,
    fake_scores: jax.Array,
    mismatched_scores: jax.Array,
    *,
    objective: str,
    mismatch_weight: float,
) -> jax.Array:
  """real + (1 - m) fake + m mismatched terms, m = `mismatch_weight` (DF-GAN: 0.5); scalar.

  Args:
    real_scores, fake_scores, mismatched_scores: [B] critic scores of (real, own caption),
      (fake, its caption) and (real, another example's caption).
    objective: 'hinge' (relu(1 - D) for real, relu(1 + D) for the others) or 'wasserstein'
      (-D for real, D for the others; with m = 0, `critic_loss`).
  """
  real, fake, mismatched = (
      x.astype(jnp.float32) for x in (real_scores, fake_scores, mismatched_scores)
  )
  if objective == "hinge":
    real, fake, mismatched = (
        jax.nn.relu(1.0 - real),
        jax.nn.relu(1.0 + fake),
        jax.nn.relu(1.0 + mismatched),
    )
  elif objective == "wasserstein":
    real = -real
  else:
    raise ValueError(f"objective {objective!r} is not one of {OBJECTIVES}.")
  return (
      jnp.mean(real)
      + (1.0 - mismatch_weight) * jnp.mean(fake)
      + mismatch_weight * jnp.mean(mismatched)
  )


def matching_gradient_penalty(
    critic: Callable[[jax.Array, jax.Array], jax.Array],
    real: jax.Array,
    sentence: jax.Array,
    power: float,
) -> jax.Array:
  """DF-GAN's MA-GP before its weight: E[‖(∇_x D, ∇_s D)‖^power] at the real, matching pairs.

  Args:
    critic: (images [B,...], sentence [B,E]) -> scores [B], each example's score its own.
    real: [B,...] real images; sentence: [B,E] their captions' vectors.
    power: p of the norm (DF-GAN: 6).

  Returns:
    float32 scalar.
  """
  grad_x, grad_s = jax.grad(lambda x, s: jnp.sum(critic(x, s)), argnums=(0, 1))(real, sentence)
  squares = sum(
      jnp.sum(jnp.square(g.astype(jnp.float32)), axis=tuple(range(1, g.ndim)))
      for g in (grad_x, grad_s)
  )
  return jnp.mean(jnp.power(squares + NORM_EPSILON, power / 2.0))


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
