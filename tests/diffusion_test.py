"""Tests for posergen_jax/diffusion: schedules, the SR3 loss and the DDPM sampler."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.diffusion import samplers, schedules, sr3
from posergen_jax.models.sr3_unet import UNet


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


# Schedules.

def test_linear_betas_hit_endpoints_and_gammas_decrease():
  betas = schedules.beta_schedule('linear', 2000)
  assert betas.dtype == np.float64 and betas.shape == (2000,)
  assert betas[0] == 1e-6 and betas[-1] == 1e-2
  s = schedules.make_schedule('linear', 2000)
  assert s.num_steps == 2000
  np.testing.assert_allclose(s.gammas, np.cumprod(1.0 - betas), rtol=1e-6)
  assert np.all(np.diff(s.gammas) < 0)
  assert s.gammas_prev[0] == 1.0
  np.testing.assert_array_equal(s.gammas_prev[1:], s.gammas[:-1])


def test_cosine_gammas_in_unit_interval_and_decreasing():
  s = schedules.make_schedule('cosine', 1000)
  assert np.all((s.gammas > 0) & (s.gammas < 1))
  assert np.all(np.diff(s.gammas) < 0)


def test_unknown_schedule_name_lists_valid_ones():
  with pytest.raises(ValueError, match="'sigmoid'.*linear, cosine"):
    schedules.beta_schedule('sigmoid', 10)


@pytest.mark.parametrize('name', schedules.SCHEDULE_NAMES)
def test_posterior_marginalises_to_the_previous_step(name):
  # If x_t ~ q(x_t | x_0) then x_{t-1} ~ q(x_{t-1} | x_t, x_0) has the marginal q(x_{t-1} | x_0):
  # mean sqrt(gamma_prev) x_0 and variance 1 - gamma_prev.
  s = schedules.make_schedule(name, 50)
  gammas = np.cumprod(1.0 - schedules.beta_schedule(name, 50))  # float64
  gammas_prev = np.append(1.0, gammas[:-1])
  mean_coef = s.posterior_mean_coef_x0 + s.posterior_mean_coef_xt * np.sqrt(gammas)
  variance = s.posterior_mean_coef_xt**2 * (1.0 - gammas) + s.posterior_variance
  np.testing.assert_allclose(mean_coef, np.sqrt(gammas_prev), atol=1e-6)
  np.testing.assert_allclose(variance, 1.0 - gammas_prev, atol=1e-6)
  assert s.posterior_variance[0] == 0.0 and s.posterior_mean_coef_x0[0] == 1.0


# SR3 loss.

def test_sampled_noise_levels_lie_between_adjacent_schedule_values():
  s = schedules.make_schedule('linear', 5, start=0.05, end=0.3)
  t, sqrt_gamma = sr3.sample_noise_level(jax.random.key(0), s, 1000)
  low, high = np.sqrt(s.gammas)[t], np.sqrt(s.gammas_prev)[t]
  assert set(np.asarray(t)) == set(range(5))
  assert np.all((low <= sqrt_gamma) & (sqrt_gamma <= high))
  # Continuous within each interval, not stuck on the schedule's values.
  position = (sqrt_gamma - low) / (high - low)
  assert 0.4 < np.mean(position) < 0.6 and np.std(position) > 0.25


@pytest.mark.parametrize('loss_type', sr3.LOSS_TYPES)
def test_loss_of_the_true_noise_is_zero(loss_type):
  s = schedules.make_schedule('linear', 100, start=1e-4, end=0.02)
  x0, cond = _images((8, 8, 8, 3)), _images((8, 8, 8, 3), seed=1)

  def oracle(x_noisy, _, noise_level):  # recovers eps from x_noisy and the known x0
    level = noise_level[:, None, None, None]
    return (x_noisy - level * x0) / sr3.noise_std(level)

  loss, aux = sr3.sr3_loss(oracle, x0, cond, jax.random.key(2), s, loss_type=loss_type)
  assert loss < (1e-8 if loss_type == 'l2' else 1e-4)
  assert aux['loss'] == loss and aux['noise_level_mean'].shape == ()


@pytest.mark.parametrize('loss_type, expected', [('l2', 1.0), ('l1', np.sqrt(2 / np.pi))])
def test_loss_of_a_zero_prediction_is_the_noise_moment(loss_type, expected):
  # E[eps^2] = 1, E[|eps|] = sqrt(2/pi); 64*8*8*3 = 12288 draws: std error < 0.013, tolerance 0.05.
  x0 = _images((64, 8, 8, 3))
  loss, _ = sr3.sr3_loss(lambda x, c, nl: jnp.zeros_like(x), x0, x0, jax.random.key(3),
                         schedules.make_schedule('linear', 2000), loss_type=loss_type)
  assert abs(float(loss) - expected) < 0.05


def test_loss_conditions_the_network_on_the_sampled_levels():
  s = schedules.make_schedule('linear', 2000)
  seen = []

  def recording_fn(x_noisy, cond, noise_level):
    assert x_noisy.shape == (16, 4, 4, 3) and cond.shape == (16, 4, 4, 1)
    seen.append(noise_level)
    return jnp.zeros_like(x_noisy)

  x0 = _images((16, 4, 4, 3))
  _, aux = sr3.sr3_loss(recording_fn, x0, x0[..., :1], jax.random.key(4), s)
  (levels,) = seen
  assert levels.shape == (16,)
  assert np.all((np.sqrt(s.gammas[-1]) <= levels) & (levels <= 1.0))
  np.testing.assert_allclose(aux['noise_level_mean'], np.mean(levels), rtol=1e-6)


def test_unknown_loss_type_raises():
  x0 = _images((2, 4, 4, 3))
  with pytest.raises(ValueError, match="'huber'"):
    sr3.sr3_loss(lambda x, c, nl: x, x0, x0, jax.random.key(0),
                 schedules.make_schedule('linear', 10), loss_type='huber')


# DDPM sampler.

@functools.cache
def _jit_unet_sampler():
  """A jitted 10-step sampler around a tiny U-Net with random (all non-zero) parameters."""
  model = UNet(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4)
  cond = _images((2, 8, 8, 3), seed=5)
  shapes = jax.eval_shape(functools.partial(model.init, train=False),
                          jax.random.key(0), cond, cond, jnp.ones((2,)))
  noise = np.random.default_rng(0)  # host RNG: no init compile
  params = jax.tree.map(lambda p: 0.2 * noise.standard_normal(p.shape, np.float32),
                        shapes['params'])
  denoise_fn = lambda x, c, nl: model.apply({'params': params}, x, c, nl, train=False)
  sample = jax.jit(functools.partial(samplers.ddpm_sample, denoise_fn, cond,
                                     schedule=schedules.make_schedule('linear', 10)))
  return sample


def test_unet_sampler_under_jit_shape_range_and_keys():
  sample = _jit_unet_sampler()
  a, a_again, b = sample(jax.random.key(1)), sample(jax.random.key(1)), sample(jax.random.key(2))
  assert a.shape == (2, 8, 8, 3) and a.dtype == jnp.float32
  assert np.all(np.abs(a) <= 1.0)
  np.testing.assert_array_equal(a, a_again)
  assert np.mean(np.abs(a - b)) > 1e-2


@pytest.mark.parametrize('clip_denoised', [True, False])
@pytest.mark.parametrize('num_steps', [10, 2000])
def test_exact_oracle_for_one_image_recovers_it(num_steps, clip_denoised):
  # Data concentrated on x_star: the optimal noise prediction is (x_t - sqrt(g) x_star)/sqrt(1-g).
  x_star = 0.9 * _images((2, 8, 8, 3), seed=6)

  def oracle(x_t, _, noise_level):
    level = noise_level[:, None, None, None]
    return (x_t - level * x_star) / sr3.noise_std(level)

  s = schedules.make_schedule('linear', num_steps)
  out = jax.jit(functools.partial(samplers.ddpm_sample, oracle, clip_denoised=clip_denoised))(
      jnp.zeros((2, 8, 8, 3)), jax.random.key(0), s)
  np.testing.assert_allclose(out, x_star, atol=1e-5)


def test_exact_oracle_for_gaussian_data_reproduces_its_moments():
  # Data ~ N(mu, sigma^2) per pixel: E[eps | x_t] = sqrt(1-g) (x_t - sqrt(g) mu) / (g sigma^2 + 1-g)
  # Ancestral sampling with this oracle should return samples with the data's mean and std,
  # which checks the posterior mean and variance used between steps, not only the last step.
  mu, sigma = 0.3, 0.5

  def oracle(x_t, _, noise_level):
    gamma = (noise_level**2)[:, None, None, None]
    return jnp.sqrt(1.0 - gamma) * (x_t - jnp.sqrt(gamma) * mu) / (gamma * sigma**2 + 1.0 - gamma)

  s = schedules.make_schedule('linear', 200, start=1e-4, end=0.05)  # gamma_T ~ 0.006
  cond = jnp.zeros((64, 8, 8, 1))
  out = jax.jit(functools.partial(samplers.ddpm_sample, oracle, shape=(64, 8, 8, 4),
                                  clip_denoised=False))(cond, jax.random.key(0), s)
  assert out.shape == (64, 8, 8, 4)
  # 16384 draws: std errors ~0.004 (mean) and ~0.003 (std); discretisation lowers the std by ~0.01.
  assert abs(float(jnp.mean(out)) - mu) < 0.02
  assert abs(float(jnp.std(out)) - sigma) < 0.03
