"""Ancestral DDPM and DDIM samplers, conditioned on whatever the denoiser reads.

Both run t = T-1 .. 0 as one `lax.fori_loop` (jit-able) and share one key layout: x_T is drawn
from fold_in(rng, T) and step t's noise from fold_in(rng, t), T being the number of sampling steps.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from posergen_jax.diffusion import parameterization
from posergen_jax.diffusion.losses import DenoiseFn
from posergen_jax.diffusion.schedules import Schedule, respace

_IMAGE_CHANNELS = 3
# Names of the samplers (config.diffusion.sampler): ancestral DDPM and DDIM.
SAMPLERS = ("ddpm", "ddim")

# (t, x_t, x0_hat, eps_hat, noise) -> x_{t-1}; the images are all [B,H,W,C].
_Update = Callable[[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def ddpm_sample(
    denoise_fn: DenoiseFn,
    cond: jax.Array,
    rng: jax.Array,
    schedule: Schedule,
    *,
    shape: Sequence[int] | None = None,
    clip_denoised: bool = True,
    x0_range: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (-1.0, 1.0),
    prediction: str = "eps",
) -> jax.Array:
  """Ancestral DDPM sampling over every step of `schedule` (`schedules.respace` it for fewer).

  At each step the network sees the noise level l = sqrt(gammas[t]); its output gives x0_hat
  (clipped to `x0_range` if `clip_denoised`), and x_{t-1} is drawn from q(x_{t-1} | x_t, x0_hat),
  whose variance is 0 at t = 0.

  Args:
    denoise_fn: (x_t, cond, noise_level [B]) -> prediction, shaped like x_t.
    cond: conditioning with a leading batch axis: a low-res image [B,H,W,Cc] (SR3) or a
      sentence vector [B,E] (the text DDPM, which then passes `shape=`).
    rng: PRNG key; x_T uses fold_in(rng, T) and step t uses fold_in(rng, t).
    schedule: the discrete schedule to sample with.
    shape: output shape [B,H,W,C]; defaults to cond.shape[:-1] + (3,).
    clip_denoised: clip x0_hat to `x0_range` at every step.
    x0_range: (low, high), scalars or arrays broadcasting against x_t (e.g. the per-pixel range
      of a residual over an upsampled image).
    prediction: what `denoise_fn` predicts, 'eps', 'v' or 'x0' (see `parameterization`).

  Returns:
    float32 samples of `shape` (within `x0_range` when `clip_denoised`).
  """

  def update(t, x_t, x0_hat, eps_hat, noise):
    del eps_hat  # The posterior mean is written with x0_hat and x_t.
    mean = schedule.posterior_mean_coef_x0[t] * x0_hat + schedule.posterior_mean_coef_xt[t] * x_t
    return mean + jnp.sqrt(schedule.posterior_variance[t]) * noise

  x_init = _initial_noise(rng, schedule.num_steps, _output_shape(cond, shape))
  return _sample_loop(
      denoise_fn,
      cond,
      rng,
      schedule,
      x_init,
      update,
      x0_range if clip_denoised else None,
      prediction=prediction,
  )


def ddim_sample(
    denoise_fn: DenoiseFn,
    cond: jax.Array,
    rng: jax.Array,
    schedule: Schedule,
    *,
    num_steps: int | None = None,
    eta: float = 0.0,
    shape: Sequence[int] | None = None,
    clip_denoised: bool = True,
    x0_range: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (-1.0, 1.0),
    prediction: str = "eps",
    x_init: jax.Array | None = None,
) -> jax.Array:
  """DDIM sampling (Song et al. 2021) over `num_steps` evenly spaced steps of `schedule`.

  From step t to the previous kept step s, with x0_hat, eps_hat from the network at level
  sqrt(g_t):  x_s = sqrt(g_s) x0_hat + sqrt(1 - g_s - sigma^2) eps_hat + sigma z,  where
  sigma = eta * sqrt(posterior variance of the respaced schedule). eta = 0 is deterministic given
  x_T; eta = 1 is the DDPM posterior. With `clip_denoised`, x0_hat is clipped to `x0_range` and
  eps_hat recomputed from it so that the two stay consistent with x_t.

  Args:
    denoise_fn: (x_t, cond, noise_level [B]) -> prediction, shaped like x_t.
    cond: conditioning with a leading batch axis: a low-res image [B,H,W,Cc] (SR3) or a
      sentence vector [B,E] (the text DDPM, which then passes `shape=`).
    rng: PRNG key; x_T uses fold_in(rng, T) and step t uses fold_in(rng, t), T the steps taken.
    schedule: the (training) schedule whose steps are sampled from.
    num_steps: how many steps to take (`schedules.respaced_timesteps`); None takes all of them.
    eta: >= 0, the scale of the fresh noise at each step (0: DDIM, 1: DDPM).
    shape: output shape [B,H,W,C] when `x_init` is None; defaults to cond.shape[:-1] + (3,).
    clip_denoised: clip x0_hat to `x0_range` at every step.
    x0_range: (low, high), scalars or arrays broadcasting against x_t.
    prediction: what `denoise_fn` predicts, 'eps', 'v' or 'x0' (see `parameterization`).
    x_init: x_T [B,H,W,C] to start from instead of drawing it from `rng`.

  Returns:
    float32 samples shaped like x_T (within `x0_range` when `clip_denoised`).
  """
  if isinstance(eta, (int, float)) and eta < 0:
    raise ValueError(f"eta must be >= 0, got {eta}")
  if num_steps is not None:
    schedule = respace(schedule, num_steps)

  def update(t, x_t, x0_hat, eps_hat, noise):
    del x_t  # Enters through eps_hat.
    gamma_prev = schedule.gammas_prev[t]
    sigma = eta * jnp.sqrt(schedule.posterior_variance[t])
    direction = jnp.sqrt(jnp.maximum(1.0 - gamma_prev - sigma**2, 0.0))
    return jnp.sqrt(gamma_prev) * x0_hat + direction * eps_hat + sigma * noise

  if x_init is None:
    x_init = _initial_noise(rng, schedule.num_steps, _output_shape(cond, shape))
  return _sample_loop(
      denoise_fn,
      cond,
      rng,
      schedule,
      x_init.astype(jnp.float32),
      update,
      x0_range if clip_denoised else None,
      prediction=prediction,
  )


def _output_shape(cond: jax.Array, shape: Sequence[int] | None) -> tuple[int, ...]:
  return tuple(shape) if shape is not None else tuple(cond.shape[:-1]) + (_IMAGE_CHANNELS,)


def _initial_noise(rng: jax.Array, num_steps: int, shape: tuple[int, ...]) -> jax.Array:
  return jax.random.normal(jax.random.fold_in(rng, num_steps), shape, jnp.float32)


def _sample_loop(
    denoise_fn: DenoiseFn,
    cond: jax.Array,
    rng: jax.Array,
    schedule: Schedule,
    x_init: jax.Array,
    update: _Update,
    x0_range: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] | None,
    *,
    prediction: str,
) -> jax.Array:
  """Runs `update` for t = T-1 .. 0 from x_T = `x_init` [B,H,W,C]; returns x_0 [B,H,W,C].

  x0_hat is clipped to `x0_range` (low, high) at every step unless it is None.
  """
  parameterization.check_prediction(prediction)
  num_steps = schedule.num_steps

  def step(i, x_t):
    t = num_steps - 1 - i
    sqrt_gamma = jnp.sqrt(schedule.gammas[t])
    output = denoise_fn(x_t, cond, jnp.full((x_t.shape[0],), sqrt_gamma)).astype(jnp.float32)
    x0_hat, eps_hat = parameterization.to_x0_eps(prediction, output, x_t, sqrt_gamma)
    if x0_range is not None:
      x0_hat = jnp.clip(x0_hat, *x0_range)
      eps_hat = parameterization.eps_from_x0(x_t, x0_hat, sqrt_gamma)
    noise = jax.random.normal(jax.random.fold_in(rng, t), x_t.shape, jnp.float32)
    return update(t, x_t, x0_hat, eps_hat, noise)

  return jax.lax.fori_loop(0, num_steps, step, x_init)
