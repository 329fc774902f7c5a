"""Discrete noise schedules for DDPM/SR3.

Notation follows SR3: `alphas = 1 - betas`, `gammas = cumprod(alphas)` (DDPM's alpha_bar), so
`x_t = sqrt(gamma_t) x_0 + sqrt(1 - gamma_t) eps`. SR3 conditions on the noise level `sqrt(gamma)`.
"""

import math

import flax
import jax
import jax.numpy as jnp
import numpy as np

SCHEDULE_NAMES = ("linear", "cosine")

# Nichol & Dhariwal (2021): offset s of the cosine schedule and the cap on betas near t = T.
_COSINE_OFFSET = 0.008
_COSINE_MAX_BETA = 0.999


def beta_schedule(
    name: str, num_steps: int, *, start: float = 1e-6, end: float = 1e-2
) -> np.ndarray:
  """Returns the betas of a named schedule as float64 [num_steps].

  'linear': evenly spaced from `start` to `end` (SR3 trains with 1e-6 -> 1e-2, T = 2000).
  'cosine': the improved-DDPM cosine schedule; `start` and `end` do not apply to it.
  """
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}")
  if name == "linear":
    if not 0.0 < start <= end < 1.0:
      raise ValueError(f"linear schedule needs 0 < start <= end < 1, got start={start}, end={end}")
    return np.linspace(start, end, num_steps, dtype=np.float64)
  if name == "cosine":
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


def make_schedule(name: str, num_steps: int, *, start: float = 1e-6, end: float = 1e-2) -> Schedule:
  """Builds a `Schedule` from `beta_schedule(name, num_steps, start=start, end=end)`."""
  betas = beta_schedule(name, num_steps, start=start, end=end)
  gammas = np.cumprod(1.0 - betas)
  return _schedule(betas, 1.0 - betas, gammas, np.append(1.0, gammas[:-1]))


def respaced_timesteps(num_train_steps: int, num_steps: int) -> np.ndarray:
  """`num_steps` evenly spaced, increasing steps of 0..num_train_steps-1, as int [num_steps].

  Both ends are kept when num_steps >= 2 (the last step, so sampling starts from the training
  schedule's noisiest level); a single step keeps the last one.
  """
  if not 1 <= num_steps <= num_train_steps:
    raise ValueError(
        f"num_steps must be in [1, {num_train_steps}] to respace a schedule of "
        f"{num_train_steps} steps, got {num_steps}"
    )
  return np.round(np.linspace(num_train_steps - 1, 0, num_steps))[::-1].astype(np.int32)


def respace(schedule: Schedule, num_steps: int) -> Schedule:
  """The `Schedule` [num_steps] that keeps `schedule`'s gammas at `respaced_timesteps`.

  Nichol & Dhariwal (2021): betas are recomputed from the kept gammas, beta_i = 1 - g_i / g_{i-1},
  so ancestral sampling over the kept steps is exact for the longer schedule's marginals. SR3
  conditions on the noise level, not on t, so the network needs no map back to the old steps.
  Jit-able (plain gathers and arithmetic on `schedule`'s arrays). The new terms are exact for the
  float32 gammas kept, which sit within 6e-8 of the float64 ones: a relative error of about
  6e-8 / (1 - gamma) near gamma = 1.
  """
  gammas = schedule.gammas[respaced_timesteps(schedule.num_steps, num_steps)]
  gammas_prev = jnp.concatenate([jnp.ones((1,), gammas.dtype), gammas[:-1]])
  # g_prev - g is exact in float32 when g >= g_prev / 2 (Sterbenz): small betas keep their digits.
  return _schedule((gammas_prev - gammas) / gammas_prev, gammas / gammas_prev, gammas, gammas_prev)


def _schedule(betas, alphas, gammas, gammas_prev) -> Schedule:
  """The float32 `Schedule` of these [T] arrays and their posterior terms.

  Operators only, so the terms are computed in the precision given: float64 numpy arrays from
  `make_schedule`, float32 jax arrays (possibly traced) from `respace`.
  """
  arrays = dict(
      betas=betas,
      alphas=alphas,
      gammas=gammas,
      gammas_prev=gammas_prev,
      posterior_mean_coef_x0=betas * gammas_prev**0.5 / (1.0 - gammas),
      posterior_mean_coef_xt=(1.0 - gammas_prev) * alphas**0.5 / (1.0 - gammas),
      posterior_variance=betas * (1.0 - gammas_prev) / (1.0 - gammas),
  )
  return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in arrays.items()})
