"""The diffusion training loss of SR3 (Saharia et al. 2021), also the text DDPM's: eps-, v- or
x0-prediction at a continuous noise level."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from posergen_jax.diffusion import parameterization
from posergen_jax.diffusion.schedules import Schedule

# (x_noisy [B,H,W,C], cond [B,H,W,Cc], noise_level [B]) -> prediction [B,H,W,C], eps or v
# (see `parameterization`).
DenoiseFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

LOSS_TYPES = ("l1", "l2")
WEIGHTINGS = ("none", "min_snr")
# Min-SNR-gamma (Hang et al. 2023): the paper's default clip on the signal-to-noise ratio.
MIN_SNR_GAMMA = 5.0


def sample_noise_level(
    rng: jax.Array, schedule: Schedule, batch_size: int
) -> tuple[jax.Array, jax.Array]:
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


def log_snr_uniform_levels(
    rng: jax.Array, log_snr_range: tuple[float, float], batch_size: int
) -> jax.Array:
  """Levels sqrt(gamma) whose log-SNR is uniform over `log_snr_range` (low, high); float32 [B].

  log SNR = log(gamma / (1 - gamma)), so gamma = sigmoid(log SNR).
  """
  low, high = log_snr_range
  log_snr = jax.random.uniform(rng, (batch_size,), jnp.float32, low, high)
  return jnp.sqrt(jax.nn.sigmoid(log_snr))


def augment_condition(cond: jax.Array, aug_level: jax.Array, rng: jax.Array) -> jax.Array:
  """Imagen's noise-conditioning augmentation of the low-res condition.

  cond [B,H,W,Cc], aug_level [B] in [0, 1) (the std of the added noise) ->
  sqrt(1 - a^2) cond + a eps, float32 [B,H,W,Cc]. The network is told `aug_level`, so a cascade
  stage learns to trust a corrupted (e.g. previous-stage) input less.
  """
  eps = jax.random.normal(rng, cond.shape, jnp.float32)
  level = parameterization.noise_std(aug_level)[:, None, None, None]
  return parameterization.add_noise(cond.astype(jnp.float32), eps, level)


def loss_weight(weighting: str, prediction: str, noise_level: jax.Array) -> jax.Array:
  """Per-example loss weight at noise levels `noise_level` [B]; returns float32 [B].

  'none': 1.
  'min_snr': Min-SNR-gamma with gamma = `MIN_SNR_GAMMA`: min(SNR, 5) as a weight on the x0 error,
    written in the units of the predicted quantity: min(SNR, 5) / SNR for 'eps' (whose squared
    error is SNR times the x0 one), min(SNR, 5) / (SNR + 1) for 'v' and min(SNR, 5) for 'x0'.
  """
  if weighting not in WEIGHTINGS:
    raise ValueError(f'unknown weighting {weighting!r}; valid: {", ".join(WEIGHTINGS)}')
  parameterization.check_prediction(prediction)
  if weighting == "none":
    return jnp.ones_like(noise_level, jnp.float32)
  snr = parameterization.snr(noise_level)
  if prediction == "eps":
    return jnp.minimum(1.0, MIN_SNR_GAMMA / snr)  # min(SNR, 5) / SNR, and 1 at SNR = 0.
  if prediction == "x0":
    return jnp.minimum(snr, MIN_SNR_GAMMA)
  return jnp.minimum(snr, MIN_SNR_GAMMA) / (snr + 1.0)


def sr3_loss(
    denoise_fn: DenoiseFn,
    x0: jax.Array,
    cond: jax.Array,
    rng: jax.Array,
    schedule: Schedule,
    *,
    loss_type: str = "l2",
    prediction: str = "eps",
    weighting: str = "none",
    log_snr_range: tuple[float, float] | None = None,
) -> tuple[jax.Array, dict]:
  """Eps-, v- or x0-prediction loss at a random noise level.

  Args:
    denoise_fn: (x_noisy, cond, noise_level [B]) -> prediction, shaped like x_noisy.
    x0: clean targets [B,H,W,C] in [-1, 1].
    cond: conditioning [B,H,W,Cc] (the bicubic-upsampled low-resolution image).
    rng: PRNG key for the noise level and the noise.
    schedule: discrete schedule the continuous noise levels are drawn from (SR3's
      `sample_noise_level`), unless `log_snr_range` is given.
    loss_type: 'l1' (mean |error|) or 'l2' (mean error^2), error = prediction - target.
    prediction: what the network predicts, 'eps' (the noise) or 'v' (see `parameterization`).
    weighting: per-example weight on the error, 'none' or 'min_snr' (see `loss_weight`).
    log_snr_range: (low, high): draw the levels uniform in log-SNR over this range instead
      (`log_snr_uniform_levels`), e.g. the range a few-step sampler visits.

  Returns:
    (scalar float32 loss, {'loss': loss, 'noise_level_mean': mean sqrt_gamma}).
  """
  if loss_type not in LOSS_TYPES:
    raise ValueError(f'unknown loss_type {loss_type!r}; valid: {", ".join(LOSS_TYPES)}')
  level_rng, noise_rng = jax.random.split(rng)
  x0 = x0.astype(jnp.float32)
  if log_snr_range is None:
    _, sqrt_gamma = sample_noise_level(level_rng, schedule, x0.shape[0])
  else:
    sqrt_gamma = log_snr_uniform_levels(level_rng, log_snr_range, x0.shape[0])
  weight = loss_weight(weighting, prediction, sqrt_gamma)[:, None, None, None]
  eps = jax.random.normal(noise_rng, x0.shape, jnp.float32)
  level = sqrt_gamma[:, None, None, None]
  x_noisy = parameterization.add_noise(x0, eps, level)
  error = denoise_fn(x_noisy, cond, sqrt_gamma).astype(jnp.float32) - parameterization.target(
      prediction, x0, eps, level
  )
  loss = jnp.mean(weight * (jnp.abs(error) if loss_type == "l1" else error**2))
  return loss, {"loss": loss, "noise_level_mean": jnp.mean(sqrt_gamma)}
