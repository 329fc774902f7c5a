"""Tests for posergen_jax/diffusion: schedules, parameterizations, the SR3 loss and the samplers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.diffusion import losses, parameterization, samplers, schedules
from posergen_jax.models.sr3_unet import UNet


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


def _one_image_oracle(x_star, prediction="eps"):
  """The exact network for data concentrated on x_star, written out apart from the library."""

  def oracle(x_t, _, noise_level):
    level = noise_level[:, None, None, None]
    std = jnp.sqrt(1.0 - level**2)
    eps = (x_t - level * x_star) / std
    return {"eps": eps, "v": level * eps - std * x_star, "x0": x_star + 0 * x_t}[prediction]

  return oracle


def _gaussian_oracle(mu, sigma):
  """Exact E[eps | x_t] for data ~ N(mu, sigma^2) per pixel (eps-prediction)."""

  def oracle(x_t, _, noise_level):
    gamma = (noise_level**2)[:, None, None, None]
    return jnp.sqrt(1.0 - gamma) * (x_t - jnp.sqrt(gamma) * mu) / (gamma * sigma**2 + 1.0 - gamma)

  return oracle


def _wiggly_fn(x_t, cond, noise_level):
  """A cheap non-linear stand-in for a network: its output depends on x_t, cond and the level."""
  return jnp.tanh(2.0 * x_t + cond[..., :1]) * (1.5 - noise_level[:, None, None, None])


# Schedules.


def test_linear_betas_hit_endpoints_and_gammas_decrease():
  betas = schedules.beta_schedule("linear", 2000)
  assert betas.dtype == np.float64 and betas.shape == (2000,)
  assert betas[0] == 1e-6 and betas[-1] == 1e-2
  s = schedules.make_schedule("linear", 2000)
  assert s.num_steps == 2000
  np.testing.assert_allclose(s.gammas, np.cumprod(1.0 - betas), rtol=1e-6)
  assert np.all(np.diff(s.gammas) < 0)
  assert s.gammas_prev[0] == 1.0
  np.testing.assert_array_equal(s.gammas_prev[1:], s.gammas[:-1])


def test_cosine_gammas_in_unit_interval_and_decreasing():
  s = schedules.make_schedule("cosine", 1000)
  assert np.all((s.gammas > 0) & (s.gammas < 1))
  assert np.all(np.diff(s.gammas) < 0)


def test_unknown_schedule_name_lists_valid_ones():
  with pytest.raises(ValueError, match="'sigmoid'.*linear, cosine"):
    schedules.beta_schedule("sigmoid", 10)


@pytest.mark.parametrize(
    "name, num_steps, respaced_to",
    [("linear", 50, None), ("cosine", 50, None), ("linear", 2000, 25), ("cosine", 1000, 7)],
)
def test_posterior_marginalises_to_the_previous_step(name, num_steps, respaced_to):
  # If x_t ~ q(x_t | x_0) then x_{t-1} ~ q(x_{t-1} | x_t, x_0) has the marginal q(x_{t-1} | x_0):
  # mean sqrt(gamma_prev) x_0 and variance 1 - gamma_prev. A respaced schedule's previous step is
  # the previous kept one.
  s = schedules.make_schedule(name, num_steps)
  gammas = np.cumprod(1.0 - schedules.beta_schedule(name, num_steps))  # float64
  if respaced_to:
    s = schedules.respace(s, respaced_to)
    gammas = gammas[schedules.respaced_timesteps(num_steps, respaced_to)]
  gammas_prev = np.append(1.0, gammas[:-1])
  mean_coef = s.posterior_mean_coef_x0 + s.posterior_mean_coef_xt * np.sqrt(gammas)
  variance = s.posterior_mean_coef_xt**2 * (1.0 - gammas) + s.posterior_variance
  np.testing.assert_allclose(mean_coef, np.sqrt(gammas_prev), atol=1e-6)
  np.testing.assert_allclose(variance, 1.0 - gammas_prev, atol=1e-6)
  assert s.posterior_variance[0] == 0.0 and s.posterior_mean_coef_x0[0] == 1.0


@pytest.mark.parametrize("num_steps", [1, 2, 10, 1999, 2000])
def test_respaced_timesteps_are_evenly_spaced_and_end_at_the_last_step(num_steps):
  t = schedules.respaced_timesteps(2000, num_steps)
  assert t.shape == (num_steps,) and t[-1] == 1999
  if num_steps > 1:
    gaps = np.diff(t)
    assert t[0] == 0 and gaps.min() >= 1 and gaps.max() - gaps.min() <= 1


@pytest.mark.parametrize("num_steps", [0, 11])
def test_respacing_to_an_impossible_step_count_raises(num_steps):
  with pytest.raises(ValueError, match=rf"\[1, 10\].*got {num_steps}"):
    schedules.respace(schedules.make_schedule("linear", 10), num_steps)


def test_respace_keeps_the_chosen_gammas_and_recomputes_betas_from_them():
  s = schedules.make_schedule("linear", 2000)
  kept = schedules.respaced_timesteps(2000, 10)
  r = jax.jit(schedules.respace, static_argnums=1)(s, 10)
  assert r.num_steps == 10
  assert all(a.shape == (10,) and a.dtype == jnp.float32 for a in jax.tree.leaves(r))
  np.testing.assert_array_equal(r.gammas, s.gammas[kept])
  assert r.gammas_prev[0] == 1.0
  np.testing.assert_array_equal(r.gammas_prev[1:], r.gammas[:-1])
  np.testing.assert_allclose(np.cumprod(1.0 - np.float64(r.betas)), r.gammas, rtol=1e-6)
  np.testing.assert_allclose(r.alphas, 1.0 - r.betas, atol=1e-7)


# Parameterizations.


def test_eps_and_v_round_trip_and_v_has_its_closed_form():
  x0, eps = _images((4, 8, 8, 3)), jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  level = jnp.array([0.05, 0.5, 0.9, 0.999])[:, None, None, None]
  std = np.sqrt(1.0 - np.float64(level) ** 2)
  x_t = parameterization.add_noise(x0, eps, level)
  np.testing.assert_allclose(x_t, level * x0 + std * eps, atol=1e-6)
  v = parameterization.target("v", x0, eps, level)
  np.testing.assert_allclose(v, level * eps - std * x0, atol=1e-6)
  assert parameterization.target("eps", x0, eps, level) is eps
  for prediction, output in [("v", v), ("eps", eps)]:
    x0_hat, eps_hat = parameterization.to_x0_eps(prediction, output, x_t, level)
    np.testing.assert_allclose(x0_hat, x0, atol=2e-5)
    np.testing.assert_allclose(eps_hat, eps, atol=2e-5)
  np.testing.assert_allclose(parameterization.eps_from_x0(x_t, x0, level), eps, atol=2e-5)


# SR3 loss.


def test_sampled_noise_levels_lie_between_adjacent_schedule_values():
  s = schedules.make_schedule("linear", 5, start=0.05, end=0.3)
  t, sqrt_gamma = losses.sample_noise_level(jax.random.key(0), s, 1000)
  low, high = np.sqrt(s.gammas)[t], np.sqrt(s.gammas_prev)[t]
  assert set(np.asarray(t)) == set(range(5))
  assert np.all((low <= sqrt_gamma) & (sqrt_gamma <= high))
  # Continuous within each interval, not stuck on the schedule's values.
  position = (sqrt_gamma - low) / (high - low)
  assert 0.4 < np.mean(position) < 0.6 and np.std(position) > 0.25


@pytest.mark.parametrize("prediction", parameterization.PREDICTIONS)
@pytest.mark.parametrize("loss_type", losses.LOSS_TYPES)
def test_loss_of_the_true_target_is_zero(loss_type, prediction):
  s = schedules.make_schedule("linear", 100, start=1e-4, end=0.02)
  x0, cond = _images((8, 8, 8, 3)), _images((8, 8, 8, 3), seed=1)
  loss, aux = losses.sr3_loss(
      _one_image_oracle(x0, prediction),
      x0,
      cond,
      jax.random.key(2),
      s,
      loss_type=loss_type,
      prediction=prediction,
  )
  assert loss < (1e-8 if loss_type == "l2" else 1e-4)
  assert aux["loss"] == loss and aux["noise_level_mean"].shape == ()


@pytest.mark.parametrize("loss_type, expected", [("l2", 1.0), ("l1", np.sqrt(2 / np.pi))])
def test_loss_of_a_zero_prediction_is_the_noise_moment(loss_type, expected):
  # E[eps^2] = 1, E[|eps|] = sqrt(2/pi); 64*8*8*3 = 12288 draws: std error < 0.013, tolerance 0.05.
  x0 = _images((64, 8, 8, 3))
  loss, _ = losses.sr3_loss(
      lambda x, c, nl: jnp.zeros_like(x),
      x0,
      x0,
      jax.random.key(3),
      schedules.make_schedule("linear", 2000),
      loss_type=loss_type,
  )
  assert abs(float(loss) - expected) < 0.05


def test_loss_conditions_the_network_on_the_sampled_levels():
  s = schedules.make_schedule("linear", 2000)
  seen = []

  def recording_fn(x_noisy, cond, noise_level):
    assert x_noisy.shape == (16, 4, 4, 3) and cond.shape == (16, 4, 4, 1)
    seen.append(noise_level)
    return jnp.zeros_like(x_noisy)

  x0 = _images((16, 4, 4, 3))
  _, aux = losses.sr3_loss(recording_fn, x0, x0[..., :1], jax.random.key(4), s)
  (levels,) = seen
  assert levels.shape == (16,)
  assert np.all((np.sqrt(s.gammas[-1]) <= levels) & (levels <= 1.0))
  np.testing.assert_allclose(aux["noise_level_mean"], np.mean(levels), rtol=1e-6)


def test_min_snr_weight_matches_its_closed_form():
  gamma = np.array([0.01, 0.5, 5.0 / 6.0, 0.9, 0.999])  # SNR 0.0101, 1, 5, 9, 999
  snr = gamma / (1.0 - gamma)
  level = jnp.asarray(np.sqrt(gamma), jnp.float32)
  expected = {
      "eps": np.minimum(snr, 5.0) / snr,
      "v": np.minimum(snr, 5.0) / (snr + 1.0),
      "x0": np.minimum(snr, 5.0),
  }
  for prediction, weight in expected.items():
    np.testing.assert_allclose(losses.loss_weight("min_snr", prediction, level), weight, rtol=2e-4)
    np.testing.assert_array_equal(losses.loss_weight("none", prediction, level), np.ones(5))


@pytest.mark.parametrize("prediction", parameterization.PREDICTIONS)
def test_weighted_loss_of_a_unit_error_is_the_mean_weight(prediction):
  x0 = _images((16, 4, 4, 3))
  seen = []

  def off_by_one(x_noisy, cond, noise_level):  # error = 1 everywhere; records the levels
    seen.append(noise_level)
    return _one_image_oracle(x0, prediction)(x_noisy, cond, noise_level) + 1.0

  s = schedules.make_schedule("linear", 20, start=1e-3, end=0.3)
  loss, _ = losses.sr3_loss(
      off_by_one, x0, x0, jax.random.key(5), s, prediction=prediction, weighting="min_snr"
  )
  snr = np.float64(seen[0]) ** 2 / (1.0 - np.float64(seen[0]) ** 2)
  divisor = {"eps": snr, "v": snr + 1.0, "x0": 1.0}[prediction]
  expected = np.mean(np.minimum(snr, 5.0) / divisor)
  assert np.any(snr > 5.0) and np.any(snr < 5.0)  # both clipped and unclipped levels were drawn
  np.testing.assert_allclose(loss, expected, rtol=1e-3)


@pytest.mark.parametrize(
    "option, value", [("loss_type", "huber"), ("prediction", "score"), ("weighting", "p2")]
)
def test_unknown_loss_option_raises_naming_it(option, value):
  x0 = _images((2, 4, 4, 3))
  with pytest.raises(ValueError, match=f"'{value}'"):
    losses.sr3_loss(
        lambda x, c, nl: x,
        x0,
        x0,
        jax.random.key(0),
        schedules.make_schedule("linear", 10),
        **{option: value},
    )


def test_log_snr_uniform_levels_fill_the_range_uniformly():
  levels = losses.log_snr_uniform_levels(jax.random.key(0), (-4.0, 6.0), 20_000)
  gamma = np.float64(levels) ** 2
  log_snr = np.log(gamma / (1.0 - gamma))
  assert levels.dtype == jnp.float32 and levels.shape == (20_000,)
  assert -4.0 - 1e-3 <= log_snr.min() < -3.9 and 5.9 < log_snr.max() <= 6.0 + 1e-3
  # Uniform: each tenth of the range holds ~2,000 draws (std ~42).
  counts, _ = np.histogram(log_snr, bins=10, range=(-4.0, 6.0))
  assert np.all(np.abs(counts - 2000) < 200), counts


def test_loss_draws_levels_in_the_log_snr_range_it_is_given():
  seen = []

  def recording_fn(x_noisy, cond, noise_level):
    seen.append(noise_level)
    return jnp.zeros_like(x_noisy)

  x0 = _images((64, 4, 4, 3))
  losses.sr3_loss(
      recording_fn,
      x0,
      x0,
      jax.random.key(4),
      schedules.make_schedule("linear", 10),
      log_snr_range=(-1.0, 2.0),
  )
  gamma = np.float64(seen[0]) ** 2
  log_snr = np.log(gamma / (1.0 - gamma))
  assert np.all((-1.0 - 1e-4 <= log_snr) & (log_snr <= 2.0 + 1e-4))


# DDPM sampler.


@functools.cache
def _jit_unet_sampler():
  """A jitted 10-step sampler around a tiny U-Net with random (all non-zero) parameters."""
  model = UNet(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4)
  cond = _images((2, 8, 8, 3), seed=5)
  shapes = jax.eval_shape(
      functools.partial(model.init, train=False), jax.random.key(0), cond, cond, jnp.ones((2,))
  )
  noise = np.random.default_rng(0)  # host RNG: no init compile
  params = jax.tree.map(
      lambda p: 0.2 * noise.standard_normal(p.shape, np.float32), shapes["params"]
  )
  denoise_fn = lambda x, c, nl: model.apply({"params": params}, x, c, nl, train=False)
  sample = jax.jit(
      functools.partial(
          samplers.ddpm_sample, denoise_fn, cond, schedule=schedules.make_schedule("linear", 10)
      )
  )
  return sample


def test_unet_sampler_under_jit_shape_range_and_keys():
  sample = _jit_unet_sampler()
  a, a_again, b = sample(jax.random.key(1)), sample(jax.random.key(1)), sample(jax.random.key(2))
  assert a.shape == (2, 8, 8, 3) and a.dtype == jnp.float32
  assert np.all(np.abs(a) <= 1.0)
  np.testing.assert_array_equal(a, a_again)
  assert np.mean(np.abs(a - b)) > 1e-2


def _ddpm_respaced(denoise_fn, cond, rng, schedule, *, num_steps, **kwargs):
  return samplers.ddpm_sample(
      denoise_fn, cond, rng, schedules.respace(schedule, num_steps), **kwargs
  )


# Each takes `num_steps` steps of a longer schedule: (denoise_fn, cond, rng, schedule, **kw).
_SAMPLERS = {
    "ddpm": _ddpm_respaced,
    "ddim eta=0": functools.partial(samplers.ddim_sample, eta=0.0),
    "ddim eta=1": functools.partial(samplers.ddim_sample, eta=1.0),
}


@pytest.mark.parametrize("prediction", parameterization.PREDICTIONS)
@pytest.mark.parametrize(
    "sampler, num_steps", [("ddpm", 10), ("ddpm", 2000), ("ddim eta=0", 10), ("ddim eta=1", 10)]
)
def test_exact_oracle_for_one_image_recovers_it(sampler, num_steps, prediction):
  # Unclipped, so that only the sampler brings x_T back to x_star.
  x_star = 0.9 * _images((2, 8, 8, 3), seed=6)
  sample = functools.partial(
      _SAMPLERS[sampler],
      _one_image_oracle(x_star, prediction),
      num_steps=num_steps,
      clip_denoised=False,
      prediction=prediction,
  )
  out = jax.jit(sample)(
      jnp.zeros((2, 8, 8, 3)), jax.random.key(0), schedules.make_schedule("linear", 2000)
  )
  np.testing.assert_allclose(out, x_star, atol=1e-5)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.make_schedule("linear", 200, start=1e-4, end=0.05),  # gamma_T ~ 0.006
        schedules.respace(schedules.make_schedule("linear", 2000, start=1e-5, end=0.005), 200),
    ],
    ids=["T=200", "T=2000 respaced to 200"],
)
def test_exact_oracle_for_gaussian_data_reproduces_its_moments(schedule):
  # Data ~ N(mu, sigma^2) per pixel. Ancestral sampling with the exact oracle should return
  # samples with the data's mean and std, which checks the posterior mean and variance used
  # between steps, not only the last step.
  mu, sigma = 0.3, 0.5
  cond = jnp.zeros((64, 8, 8, 1))
  out = jax.jit(
      functools.partial(
          samplers.ddpm_sample,
          _gaussian_oracle(mu, sigma),
          shape=(64, 8, 8, 4),
          clip_denoised=False,
      )
  )(cond, jax.random.key(0), schedule)
  assert out.shape == (64, 8, 8, 4)
  # 16384 draws: std errors ~0.004 (mean) and ~0.003 (std); discretisation lowers the std by ~0.01.
  assert abs(float(jnp.mean(out)) - mu) < 0.02
  assert abs(float(jnp.std(out)) - sigma) < 0.03


# DDIM sampler.


def test_ddim_eta_0_follows_the_probability_flow_of_gaussian_data():
  # For data ~ N(mu, sigma^2) the probability-flow ODE is the monotone linear map from
  # N(sqrt(g_T) mu, g_T sigma^2 + 1 - g_T) onto N(mu, sigma^2); DDIM (eta = 0) is a first-order
  # solver of it, off by ~3.4 / num_steps here (0.34 at 10 steps).
  mu, sigma = 0.3, 0.5
  s = schedules.make_schedule("linear", 2000, start=1e-5, end=0.005)
  gamma_T = float(s.gammas[-1])
  x_T = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  out = jax.jit(
      functools.partial(
          samplers.ddim_sample, _gaussian_oracle(mu, sigma), num_steps=500, clip_denoised=False
      )
  )(jnp.zeros((2, 8, 8, 1)), jax.random.key(1), s, x_init=x_T)
  flow = mu + sigma * (x_T - np.sqrt(gamma_T) * mu) / np.sqrt(gamma_T * sigma**2 + 1 - gamma_T)
  np.testing.assert_allclose(out, flow, atol=0.01)


def test_ddim_eta_0_depends_on_the_key_only_through_x_T():
  sample = jax.jit(
      functools.partial(
          samplers.ddim_sample,
          _wiggly_fn,
          _images((2, 8, 8, 3), 7),
          schedule=schedules.make_schedule("linear", 2000),
          num_steps=10,
      )
  )
  key_a, key_b = jax.random.key(1), jax.random.key(2)
  x_T_of_a = jax.random.normal(jax.random.fold_in(key_a, 10), (2, 8, 8, 3))  # the documented key
  a = sample(key_a, eta=0.0)
  assert a.shape == (2, 8, 8, 3) and np.all(np.abs(a) <= 1.0)
  np.testing.assert_array_equal(a, sample(key_a, eta=0.0))
  np.testing.assert_array_equal(a, sample(key_b, eta=0.0, x_init=x_T_of_a))
  assert np.mean(np.abs(a - sample(key_b, eta=0.0))) > 1e-2  # another x_T
  # With eta > 0 the key also draws the noise of every step.
  stochastic = sample(key_a, eta=0.5)
  assert np.mean(np.abs(stochastic - sample(key_b, eta=0.5, x_init=x_T_of_a))) > 1e-2


@pytest.mark.parametrize("clip_denoised, prediction", [(True, "eps"), (False, "v")])
def test_ddim_with_eta_1_is_ddpm_on_the_respaced_schedule(clip_denoised, prediction):
  # Same key, same x_T and step noise: the DDIM update with sigma^2 = posterior variance is the
  # DDPM posterior, so the two agree sample by sample, not only in distribution.
  outputs = [
      jax.jit(
          functools.partial(
              _SAMPLERS[name],
              _wiggly_fn,
              num_steps=10,
              clip_denoised=clip_denoised,
              prediction=prediction,
          )
      )(_images((2, 8, 8, 3), 8), jax.random.key(3), schedules.make_schedule("linear", 2000))
      for name in ("ddpm", "ddim eta=1", "ddim eta=0")
  ]
  ddpm, ddim_eta_1, ddim_eta_0 = outputs
  np.testing.assert_allclose(ddim_eta_1, ddpm, atol=1e-4)
  assert np.mean(np.abs(ddim_eta_0 - ddpm)) > 1e-2


def test_ddim_calls_the_network_at_the_kept_levels_noisiest_first():
  s = schedules.make_schedule("cosine", 1000)
  seen = []

  def recording_fn(x_t, cond, noise_level):
    jax.debug.callback(lambda level: seen.append(np.asarray(level)), noise_level, ordered=True)
    return jnp.zeros_like(x_t)

  samplers.ddim_sample(recording_fn, jnp.zeros((2, 4, 4, 1)), jax.random.key(0), s, num_steps=7)
  jax.effects_barrier()
  kept = schedules.respaced_timesteps(1000, 7)
  assert np.all([level.shape == (2,) for level in seen])
  np.testing.assert_array_equal([level[0] for level in seen], jnp.sqrt(s.gammas[kept])[::-1])


@pytest.mark.parametrize("sampler", [samplers.ddpm_sample, samplers.ddim_sample])
def test_samplers_clip_to_a_per_pixel_x0_range(sampler):
  # The x0 oracle's estimate is clipped at every step; the last step returns it as is.
  x_star = 0.9 * _images((2, 8, 8, 3), seed=6)
  low, high = -0.5 * jnp.abs(_images((2, 8, 8, 3), seed=7)), 0.3 * jnp.ones((1, 8, 8, 3))
  out = sampler(
      _one_image_oracle(x_star, "x0"),
      jnp.zeros((2, 8, 8, 3)),
      jax.random.key(0),
      schedules.make_schedule("linear", 10),
      x0_range=(low, high),
      prediction="x0",
  )
  np.testing.assert_allclose(out, jnp.clip(x_star, low, high), atol=1e-6)


@pytest.mark.parametrize("sampler", [samplers.ddpm_sample, samplers.ddim_sample])
def test_samplers_reject_an_unknown_prediction(sampler):
  with pytest.raises(ValueError, match="'score'.*eps, v, x0"):
    sampler(
        _wiggly_fn,
        jnp.zeros((1, 4, 4, 1)),
        jax.random.key(0),
        schedules.make_schedule("linear", 10),
        prediction="score",
    )


def test_ddim_rejects_a_negative_eta():
  with pytest.raises(ValueError, match="eta.*-0.5"):
    samplers.ddim_sample(
        _wiggly_fn,
        jnp.zeros((1, 4, 4, 1)),
        jax.random.key(0),
        schedules.make_schedule("linear", 10),
        eta=-0.5,
    )
