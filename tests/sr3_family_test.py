"""The SR3 family's config options: residual or image targets, samplers, v- and x0-prediction,
Min-SNR, training noise levels and noise-conditioning augmentation, each run through the family's
own init/train/sample functions on a fixed batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.configs import sr3 as sr3_config
from posergen_jax.evaluation import lpips
from posergen_jax.families import sr3


def _batch(size=16, batch=2):
  """A fixed SR batch: smooth targets, their 2x-downsampled/upsampled condition."""
  ramp = jnp.linspace(-0.8, 0.8, size)
  target = jnp.broadcast_to(
      ramp[None, :, None, None] * ramp[None, None, :, None], (batch, size, size, 3)
  ).astype(jnp.float32)
  lowres = jax.image.resize(target, (batch, size // 2, size // 2, 3), "linear")
  cond = jax.image.resize(lowres, target.shape, "cubic")
  return {"target": target, "lowres": lowres, "cond": cond}


def _config(**diffusion):
  config = sr3_config.get_config("quick")
  config.model.update(ch=8, num_groups=4, attn_resolutions=())
  config.diffusion.sample_schedule.num_steps = 4
  config.optimizer.warmup_steps = 1  # Step 0 has learning rate 0; step 1 the full rate.
  config.diffusion.update(diffusion)
  return config


def _init_perturbed(config, noise_std=0.05):
  """The family, its initial state with EMA params noised by `noise_std` (so the zero-init output
  conv passes a signal; no train step to compile), and the batch."""
  family = sr3.make_family(config)
  batch = _batch()
  state = jax.jit(family.init_state)(jax.random.key(0), batch)
  noise = np.random.default_rng(0)
  ema = jax.tree.map(
      lambda p: p + noise_std * noise.standard_normal(p.shape, np.float32), state.ema_params
  )
  return family, state.replace(ema_params=ema), batch


def _init_and_step(config):
  """The family, its state after one train step on `_batch()` (learning rate 0), the batch."""
  family = sr3.make_family(config)
  batch = _batch()
  state = jax.jit(family.init_state)(jax.random.key(0), batch)
  state, _ = jax.jit(family.train_step)(state, batch, jax.random.key(1))
  return family, state, batch


@pytest.mark.parametrize(
    "options",
    [
        dict(prediction="v", weighting="min_snr"),
        dict(cond_aug=dict(max_level=0.5, sample_level=0.1)),
    ],
)
def test_train_step_with_option_gives_finite_loss_and_moves_params(options):
  family, state, batch = _init_and_step(_config(**options))
  new_state, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(1))
  assert np.isfinite(metrics["loss"]) and metrics["loss"] > 0
  moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state.params, new_state.params)
  assert any(jax.tree.leaves(moved))


def test_ddim_with_eta_zero_is_deterministic_given_the_key_and_differs_from_ddpm():
  ddim = _config(sampler="ddim", sample_steps=3, ddim_eta=0.0)
  family, state, batch = _init_perturbed(ddim)
  sample = jax.jit(family.sample_columns)
  first = sample(state.ema_params, batch, jax.random.key(2))[1]
  np.testing.assert_array_equal(first, sample(state.ema_params, batch, jax.random.key(2))[1])
  assert first.shape == batch["target"].shape
  ddpm_family = sr3.make_family(_config(sampler="ddpm", sample_steps=3))
  ddpm = jax.jit(ddpm_family.sample_columns)(state.ema_params, batch, jax.random.key(2))[1]
  assert not np.allclose(first, ddpm)


def test_respaced_ddpm_runs_the_requested_number_of_network_calls():
  calls = []
  config = _config(sampler="ddpm", sample_steps=3)
  sampler = sr3.make_sampler(config)
  denoise = lambda x, cond, level: (calls.append(level) or jnp.zeros_like(x))
  jax.eval_shape(lambda c: sampler(denoise, c, jax.random.key(0)), _batch()["cond"])
  assert len(calls) == 1  # one traced body of the fori_loop ...
  schedule = sampler.keywords["schedule"]
  assert schedule.num_steps == 3  # ... run over the 3 respaced steps.


def test_augmentation_sample_level_is_what_the_sampler_conditions_on():
  config = _config(cond_aug=dict(max_level=0.5, sample_level=0.0))
  family, state, batch = _init_perturbed(config)
  clean = jax.jit(family.sample_columns)(state.ema_params, batch, jax.random.key(3))[1]
  config.diffusion.cond_aug.sample_level = 0.4
  noisy_family = sr3.make_family(config)
  noisy = jax.jit(noisy_family.sample_columns)(state.ema_params, batch, jax.random.key(3))[1]
  assert not np.allclose(clean, noisy)


def test_unknown_sampler_is_named():
  with pytest.raises(ValueError, match="config.diffusion.sampler='euler'"):
    sr3.make_sampler(_config(sampler="euler"))


def test_untrained_residual_model_returns_the_bicubic_input_exactly():
  # Residual x0-prediction with a zero-initialised output: x0_hat = 0 at every step, so every
  # sampler ends at the bicubic condition (the default); an image model does not.
  for options in (dict(sampler="ddim", ddim_eta=0.0), dict(sampler="ddim", ddim_eta=1.0)):
    config = _config(target="residual", prediction="x0", **options)
    family = sr3.make_family(config)
    batch = _batch()
    params = jax.jit(family.init_state)(jax.random.key(0), batch).ema_params
    sample = jax.jit(family.sample)(params, batch, jax.random.key(2))
    np.testing.assert_allclose(sample, jnp.clip(batch["cond"], -1, 1), atol=1e-6)
  image_family = sr3.make_family(_config(target="image", prediction="x0", colour_fix="none"))
  params = jax.jit(image_family.init_state)(jax.random.key(0), batch).ema_params
  image_sample = jax.jit(image_family.sample)(params, batch, jax.random.key(2))
  np.testing.assert_allclose(image_sample, 0.0, atol=1e-6)  # x0_hat = 0 is the image itself


def test_colour_fix_gives_each_sample_the_bicubic_mean_colour():
  """With (perturbed) weights that tint the residual and push some pixels past [-1, 1],
  colour_fix 'mean' puts each sample's mean colour per image and channel, as clipped, on the
  clipped bicubic condition's; 'none' leaves the tint."""
  means = {}
  for fix in sr3.COLOUR_FIXES:
    family, state, batch = _init_perturbed(_config(colour_fix=fix), 0.02)
    sample = jax.jit(family.sample)(state.ema_params, batch, jax.random.key(2))
    assert np.abs(sample).max() <= 1 and np.mean(np.abs(sample) == 1) > 0.01  # 3.5% clipped
    means[fix] = np.mean(sample, axis=(1, 2))
  cond_mean = np.mean(np.clip(batch["cond"], -1, 1), axis=(1, 2))
  np.testing.assert_allclose(means["mean"], cond_mean, atol=1e-5)
  assert np.abs(means["none"] - cond_mean).max() > 0.1  # 0.17 measured


def test_colour_fix_takes_the_colour_reference_when_the_batch_gives_one():
  """A cascade passes its own input upsampled as `colour_reference`: the sample's mean colour
  is the reference's, not the condition's."""
  family, state, batch = _init_perturbed(_config(colour_fix="mean"), 0.02)
  reference = jnp.clip(batch["cond"] * 0.5 + 0.2, -1, 1)
  sample = jax.jit(family.sample)(
      state.ema_params, {**batch, "colour_reference": reference}, jax.random.key(2)
  )
  np.testing.assert_allclose(
      np.mean(sample, axis=(1, 2)), np.mean(reference, axis=(1, 2)), atol=1e-5
  )
  assert np.abs(np.mean(sample - batch["cond"], axis=(1, 2))).max() > 0.05


@pytest.mark.parametrize("scale", [0.5, 0.25])
def test_residual_loss_at_init_is_the_scaled_residual_energy(scale):
  # Zero output, x0-prediction, L2: the loss is mean(((target - cond) / scale)^2) whatever the
  # noise, which pins both what is diffused and its scale.
  config = _config(target="residual", residual_scale=scale, prediction="x0", loss_type="l2")
  family, batch = sr3.make_family(config), _batch()
  state = jax.jit(family.init_state)(jax.random.key(0), batch)
  _, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(1))
  expected = np.mean(((batch["target"] - batch["cond"]) / scale) ** 2)
  np.testing.assert_allclose(metrics["loss"], expected, rtol=1e-5)


def test_sampler_train_levels_span_the_log_snr_the_sampler_visits():
  config = _config(sampler="ddim", sample_steps=5, train_levels="sampler")
  low, high = sr3.training_log_snr_range(config)
  gammas = np.asarray(sr3.sampling_schedule(config.diffusion).gammas, np.float64)
  np.testing.assert_allclose([low, high], np.log(gammas / (1 - gammas))[[-1, 0]], rtol=1e-9)
  assert sr3.training_log_snr_range(_config(train_levels="schedule")) is None


def test_eval_step_scores_the_deterministic_sampler_beside_the_configured_one():
  family, state, batch = _init_perturbed(_config(sampler="ddim", sample_steps=3, ddim_eta=1.0))
  outputs = jax.jit(family.eval_step)(state.ema_params, batch, jax.random.key(4))
  for key in (
      "sr3_psnr",
      "sr3_deterministic_psnr",
      "bicubic_psnr",
      "sr3_deterministic_ssim",
      "sr3_colour_error",
      "bicubic_colour_error",
  ):
    assert outputs[key].shape == (2,) and np.all(np.isfinite(outputs[key])), key
  assert not np.allclose(outputs["sr3_psnr"], outputs["sr3_deterministic_psnr"])


def test_lpips_scorer_reports_sr3_and_bicubic_against_the_targets():
  config = _config()
  assert sr3.make_family(config).make_scorers(None) == ()  # off at the quick size
  config.evals.lpips = True
  (scorer,) = sr3.make_family(config).make_scorers(None)
  assert scorer.preprocess({}, None) == {}  # reads only the family's own features
  batch = _batch()
  generated = jnp.clip(batch["target"] + 0.1, -1.0, 1.0)
  scorer.metrics.add(generated, batch)
  scorer.metrics.add(batch["target"], batch)  # a perfect sample: LPIPS 0
  result = scorer.metrics.result()
  distance = lpips.make_distance()
  np.testing.assert_allclose(
      result["sr3_lpips"], np.mean(distance(generated, batch["target"])) / 2, rtol=1e-5
  )
  np.testing.assert_allclose(
      result["bicubic_lpips"], np.mean(distance(batch["cond"], batch["target"])), rtol=1e-5
  )
