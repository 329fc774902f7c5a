"""SR3 training loss (Saharia et al. 2021): noise prediction at a continuous noise level."""
from typing import Callable

import jax
import jax.numpy as jnp

from posergen_jax.diffusion.schedules import Schedule

# (x_noisy [B,H,W,C], cond [B,H,W,Cc], noise_level [B]) -> predicted noise [B,H,W,C].
DenoiseFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

LOSS_TYPES = ('l1', 'l2')


def noise_std(noise_level: jax.Array) -> jax.Array:
  """Std sqrt(1 - gamma) of the noise in x_noisy at noise level sqrt(gamma); any shape.

  Training and sampling both use this float32 map, so a level means the same noise scale to the
  network in both. (Near gamma = 1, sqrt(1 - gamma) from the float64 schedule differs from this
  float32 value by a few percent.)
  """
  return jnp.sqrt(1.0 - jnp.square(noise_level))


def sample_noise_level(rng: jax.Array, schedule: Schedule,
                       batch_size: int) -> tuple[jax.Array, jax.Array]:
  """SR3's piecewise-continuous noise levels.

  Draws t ~ U{0..T-1}, then sqrt_gamma ~ U(sqrt(gammas[t]), sqrt(gammas_prev[t])).
  Returns (t int32 [B], sqrt_gamma float32 [B]).
  """
  step_rng, level_rng = jax.random.split(rng)
  t = jax.random.randint(step_rng, (batch_size,), 0, schedule.num_steps)
  low = jnp.sqrt(schedule.gammas[t])
  high = jnp.sqrt(schedule.gammas_prev[t])
  # Written out rather than uniform(minval, maxval): that clamps the result to be >= minval.
  u = jax.random.uniform(level_rng, (batch_size,), jnp.float32)
  return t, low + (high - low) * u


def sr3_loss(denoise_fn: DenoiseFn, x0: jax.Array, cond: jax.Array, rng: jax.Array,
             schedule: Schedule, *, loss_type: str = 'l2') -> tuple[jax.Array, dict]:
  """Noise-prediction loss at an SR3 noise level.

  Args:
    denoise_fn: (x_noisy, cond, noise_level [B]) -> eps_pred, shaped like x_noisy.
    x0: clean targets [B,H,W,C] in [-1, 1].
    cond: conditioning [B,H,W,Cc] (the bicubic-upsampled low-resolution image).
    rng: PRNG key for the noise level and the noise.
    schedule: discrete schedule the continuous noise levels are drawn from.
    loss_type: 'l1' (mean |eps_pred - eps|) or 'l2' (mean (eps_pred - eps)^2).

  Returns:
    (scalar float32 loss, {'loss': loss, 'noise_level_mean': mean sqrt_gamma}).
  """
  if loss_type not in LOSS_TYPES:
    raise ValueError(f'unknown loss_type {loss_type!r}; valid: {", ".join(LOSS_TYPES)}')
  level_rng, noise_rng = jax.random.split(rng)
  x0 = x0.astype(jnp.float32)
  _, sqrt_gamma = sample_noise_level(level_rng, schedule, x0.shape[0])
  eps = jax.random.normal(noise_rng, x0.shape, jnp.float32)
  level = sqrt_gamma[:, None, None, None]
  x_noisy = level * x0 + noise_std(level) * eps
  error = denoise_fn(x_noisy, cond, sqrt_gamma).astype(jnp.float32) - eps
  loss = jnp.mean(jnp.abs(error)) if loss_type == 'l1' else jnp.mean(error**2)
  return loss, {'loss': loss, 'noise_level_mean': jnp.mean(sqrt_gamma)}
