"""The SR3 family's config options: samplers, v-prediction, Min-SNR and noise-conditioning
augmentation, each run through the family's own init/train/sample functions on a fixed batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.configs import sr3 as sr3_config
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


def _init_perturbed(config):
  """The family, its initial state with noised EMA params (so the zero-init output conv passes a
  signal; no train step to compile), and the batch."""
  family = sr3.make_family(config)
  batch = _batch()
  state = jax.jit(family.init_state)(jax.random.key(0), batch)
  noise = np.random.default_rng(0)
  ema = jax.tree.map(
      lambda p: p + 0.05 * noise.standard_normal(p.shape, np.float32), state.ema_params
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
