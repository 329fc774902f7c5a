"""Discrete noise schedules for DDPM/SR3.

Notation follows SR3: `alphas = 1 - betas`, `gammas = cumprod(alphas)` (DDPM's alpha_bar), so
`x_t = sqrt(gamma_t) x_0 + sqrt(1 - gamma_t) eps`. SR3 conditions on the noise level `sqrt(gamma)`.
"""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np

SCHEDULE_NAMES = ('linear', 'cosine')

# Nichol & Dhariwal (2021): offset s of the cosine schedule and the cap on betas near t = T.
_COSINE_OFFSET = 0.008
_COSINE_MAX_BETA = 0.999


def beta_schedule(name: str, num_steps: int, *, start: float = 1e-6,
                  end: float = 1e-2) -> np.ndarray:
  """Returns the betas of a named schedule as float64 [num_steps].

  'linear': evenly spaced from `start` to `end` (SR3 trains with 1e-6 -> 1e-2, T = 2000).
  'cosine': the improved-DDPM cosine schedule; `start` and `end` do not apply to it.
  """
  if num_steps < 1:
    raise ValueError(f'num_steps must be >= 1, got {num_steps}')
  if name == 'linear':
    if not 0.0 < start <= end < 1.0:
      raise ValueError(f'linear schedule needs 0 < start <= end < 1, got start={start}, end={end}')
    return np.linspace(start, end, num_steps, dtype=np.float64)
  if name == 'cosine':
    steps = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos((steps + _COSINE_OFFSET) / (1 + _COSINE_OFFSET) * math.pi / 2) ** 2
    return np.minimum(1.0 - f[1:] / f[:-1], _COSINE_MAX_BETA)
  raise ValueError(f'unknown beta schedule {name!r}; valid names: {", ".join(SCHEDULE_NAMES)}')


@flax.struct.dataclass
class Schedule:
  """A discrete schedule as float32 arrays, all [T], indexed by step t = 0..T-1.

  The posterior terms divide by `1 - gamma`, so they are derived in float64 before the cast: near
  t = 0, gamma is within 1e-6 of 1 and float32 `1 - gamma` would be off by several percent.
  """
  betas: jax.Array
  alphas: jax.Array
  gammas: jax.Array  # cumprod(alphas), DDPM's alpha_bar
  gammas_prev: jax.Array  # gammas shifted right by one, 1.0 at index 0
  # q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, posterior_variance); variance 0 at t = 0.
  posterior_mean_coef_x0: jax.Array
  posterior_mean_coef_xt: jax.Array
  posterior_variance: jax.Array

  @property
  def num_steps(self) -> int:
    return self.betas.shape[0]


def make_schedule(name: str, num_steps: int, *, start: float = 1e-6,
                  end: float = 1e-2) -> Schedule:
  """Builds a `Schedule` from `beta_schedule(name, num_steps, start=start, end=end)`."""
  betas = beta_schedule(name, num_steps, start=start, end=end)
  alphas = 1.0 - betas
  gammas = np.cumprod(alphas)
  gammas_prev = np.append(1.0, gammas[:-1])
  arrays = dict(
      betas=betas,
      alphas=alphas,
      gammas=gammas,
      gammas_prev=gammas_prev,
      posterior_mean_coef_x0=betas * np.sqrt(gammas_prev) / (1.0 - gammas),
      posterior_mean_coef_xt=(1.0 - gammas_prev) * np.sqrt(alphas) / (1.0 - gammas),
      posterior_variance=betas * (1.0 - gammas_prev) / (1.0 - gammas),
  )
  return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in arrays.items()})
