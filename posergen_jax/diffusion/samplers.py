"""Samplers for SR3: ancestral DDPM sampling conditioned on a low-resolution image."""
from typing import Sequence

import jax
import jax.numpy as jnp

from posergen_jax.diffusion.schedules import Schedule
from posergen_jax.diffusion.sr3 import DenoiseFn, noise_std

_IMAGE_CHANNELS = 3


def ddpm_sample(denoise_fn: DenoiseFn, cond: jax.Array, rng: jax.Array, schedule: Schedule, *,
                shape: Sequence[int] | None = None, clip_denoised: bool = True) -> jax.Array:
  """Ancestral DDPM sampling, t = T-1 .. 0, as one `lax.fori_loop` (jit-able).

  At each step the network sees the noise level l = sqrt(gammas[t]); its noise estimate gives
  x0_hat = (x_t - noise_std(l) eps) / l (clipped to [-1, 1] if `clip_denoised`), and x_{t-1} is
  drawn from q(x_{t-1} | x_t, x0_hat), whose variance is 0 at t = 0.

  Args:
    denoise_fn: (x_t, cond, noise_level [B]) -> eps_pred, shaped like x_t.
    cond: conditioning [B,H,W,Cc].
    rng: PRNG key; x_T uses fold_in(rng, T) and step t uses fold_in(rng, t).
    schedule: the discrete schedule to sample with.
    shape: output shape [B,H,W,C]; defaults to cond.shape[:-1] + (3,).
    clip_denoised: clip x0_hat to [-1, 1] at every step.

  Returns:
    float32 samples of `shape` (within [-1, 1] when `clip_denoised`).
  """
  shape = tuple(shape) if shape is not None else tuple(cond.shape[:-1]) + (_IMAGE_CHANNELS,)
  num_steps = schedule.num_steps

  def step(i, x_t):
    t = num_steps - 1 - i
    sqrt_gamma = jnp.sqrt(schedule.gammas[t])
    eps = denoise_fn(x_t, cond, jnp.full((shape[0],), sqrt_gamma)).astype(jnp.float32)
    x0_hat = (x_t - noise_std(sqrt_gamma) * eps) / sqrt_gamma
    if clip_denoised:
      x0_hat = jnp.clip(x0_hat, -1.0, 1.0)
    mean = schedule.posterior_mean_coef_x0[t] * x0_hat + schedule.posterior_mean_coef_xt[t] * x_t
    noise = jax.random.normal(jax.random.fold_in(rng, t), shape, jnp.float32)
    return mean + jnp.sqrt(schedule.posterior_variance[t]) * noise

  x_init = jax.random.normal(jax.random.fold_in(rng, num_steps), shape, jnp.float32)
  return jax.lax.fori_loop(0, num_steps, step, x_init)
