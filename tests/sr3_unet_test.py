"""Tests for the SR3 U-Net (posergen_jax/models/sr3_unet.py) and its training on the SR3 loss."""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from posergen_jax.diffusion import schedules
from posergen_jax.diffusion.losses import sr3_loss
from posergen_jax.models import sr3_unet
from posergen_jax.models.sr3_unet import GroupNorm, ResBlock, UNet
from tests.helpers import param_count

TINY = dict(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), num_groups=8)


def _inputs(size=16, batch=2):
  k1, k2 = jax.random.split(jax.random.key(1))
  x_noisy = jax.random.normal(k1, (batch, size, size, 3))
  cond = jax.random.uniform(k2, (batch, size, size, 3), minval=-1.0, maxval=1.0)
  return x_noisy, cond, jnp.linspace(0.3, 0.9, batch)


def _perturbed(params, scale=0.1):
  """Adds noise to every parameter, so the zero-initialised output conv passes a signal."""
  noise = np.random.default_rng(7)  # host RNG: no per-shape compiles
  return jax.tree.map(lambda p: p + scale * noise.standard_normal(p.shape, np.float32), params)


@functools.cache
def _tiny_params():
  """Parameters of UNet(**TINY); dropout and dtype do not change them."""
  x_noisy, cond, noise_level = _inputs()
  init = jax.jit(UNet(**TINY).init, static_argnames="train")
  return init(jax.random.key(0), x_noisy, cond, noise_level, train=False)["params"]


@functools.cache
def _jit_apply(**overrides):
  """Jitted UNet(**TINY, **overrides).apply, compiled once per variant."""
  return jax.jit(
      UNet(**TINY, **overrides).apply, static_argnames=("train", "capture_intermediates", "mutable")
  )


# Parameter counts from the layer formulas, independent of the module code.
def _conv(k, c_in, c_out):
  return k * k * c_in * c_out + c_out


def _dense(d_in, d_out):
  return d_in * d_out + d_out


def _norm(c):
  return 2 * c


def _res(c_in, c_out, emb):
  skip = _conv(1, c_in, c_out) if c_in != c_out else 0
  return (
      _norm(c_in)
      + _conv(3, c_in, c_out)
      + _dense(emb, 2 * c_out)
      + _norm(c_out)
      + _conv(3, c_out, c_out)
      + skip
  )


def _attn(c):
  return _norm(c) + _dense(c, 3 * c) + _dense(c, c)


def test_output_shape_and_dtype():
  x_noisy, cond, noise_level = _inputs()
  out = _jit_apply()({"params": _tiny_params()}, x_noisy, cond, noise_level, train=False)
  assert out.shape == (2, 16, 16, 3)
  assert out.dtype == jnp.float32


def test_param_count_matches_layer_formulas():
  emb = 64  # 4 * ch
  expected = (
      _dense(16, emb)
      + _dense(emb, emb)  # noise-level MLP on a 16-wide sinusoid
      + _conv(3, 6, 16)  # conv_in on x_noisy ⊕ cond
      + _res(16, 16, emb)
      + _conv(3, 16, 16)  # level 0 (16 px), downsample
      + _res(16, 32, emb)
      + _attn(32)  # level 1 (8 px, attention)
      + _res(32, 32, emb)
      + _attn(32)
      + _res(32, 32, emb)  # middle
      + _res(64, 32, emb)
      + _attn(32)
      + _res(48, 32, emb)
      + _attn(32)  # decoder level 1
      + _conv(3, 32, 32)  # upsample
      + _res(48, 16, emb)
      + _res(32, 16, emb)  # decoder level 0
      + _norm(16)
      + _conv(3, 16, 3)
  )  # output head
  assert expected == 191_379
  assert param_count(_tiny_params()) == expected


def test_biggan_updown_and_augmentation_param_count_matches_layer_formulas():
  """resblock_updown swaps the resampling convs for residual blocks; augmentation widens the MLP."""
  emb = 64
  expected = (
      _dense(32, emb)
      + _dense(emb, emb)  # MLP on noise-level ⊕ aug-level sinusoids (16 + 16)
      + _conv(3, 6, 16)
      + _res(16, 16, emb)
      + _res(16, 16, emb)  # level 0, then a down residual block
      + _res(16, 32, emb)
      + _attn(32)
      + _res(32, 32, emb)
      + _attn(32)
      + _res(32, 32, emb)
      + _res(64, 32, emb)
      + _attn(32)
      + _res(48, 32, emb)
      + _attn(32)
      + _res(32, 32, emb)  # up residual block
      + _res(48, 16, emb)
      + _res(32, 16, emb)
      + _norm(16)
      + _conv(3, 16, 3)
  )
  x_noisy, cond, noise_level = _inputs()
  model = UNet(**TINY, resblock_updown=True, cond_augmentation=True)
  params = jax.eval_shape(
      functools.partial(model.init, train=False),
      jax.random.key(0),
      x_noisy,
      cond,
      noise_level,
      noise_level,
  )["params"]
  assert param_count(params) == expected


def test_resblock_resamples_both_paths():
  """A 'down' block of a zero-output residual branch is the 2x2 average pool of its input."""
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 4))
  emb = jnp.ones((1, 8))
  for resample, side in (("down", 4), ("up", 16)):
    block = ResBlock(4, num_groups=2, dropout=0.0, resample=resample)
    params = block.init(jax.random.key(1), x, emb, train=False)["params"]
    params = {**params, "conv2": jax.tree.map(jnp.zeros_like, params["conv2"])}
    out = block.apply({"params": params}, x, emb, train=False)
    assert out.shape == (1, side, side, 4)
    expected = (
        x.reshape(1, 4, 2, 4, 2, 4).mean(axis=(2, 4))
        if resample == "down"
        else jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_skip_rescale_divides_the_residual_sum_by_sqrt2():
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 4))
  emb = jnp.ones((1, 8))
  params = ResBlock(4, 2, 0.0).init(jax.random.key(1), x, emb, train=False)
  plain = ResBlock(4, 2, 0.0).apply(params, x, emb, train=False)
  rescaled = ResBlock(4, 2, 0.0, skip_rescale=True).apply(params, x, emb, train=False)
  np.testing.assert_allclose(rescaled, plain / np.sqrt(2.0), rtol=1e-5, atol=1e-6)


def test_augmentation_level_is_conditioning_and_required_exactly_when_enabled():
  x_noisy, cond, noise_level = _inputs()
  model = UNet(**TINY, cond_augmentation=True)
  params = _perturbed(
      jax.jit(model.init, static_argnames="train")(
          jax.random.key(0), x_noisy, cond, noise_level, noise_level, train=False
      )["params"]
  )
  apply = jax.jit(functools.partial(model.apply, {"params": params}, train=False))
  clean = apply(x_noisy, cond, noise_level, jnp.zeros(2))
  augmented = apply(x_noisy, cond, noise_level, jnp.full((2,), 0.5))
  assert jnp.mean(jnp.abs(clean - augmented)) > 1e-2 * jnp.mean(jnp.abs(clean))
  with pytest.raises(ValueError, match="aug_level must be given exactly when"):
    model.apply({"params": params}, x_noisy, cond, noise_level, train=False)
  with pytest.raises(ValueError, match="aug_level must be given exactly when"):
    UNet(**TINY).init(jax.random.key(0), x_noisy, cond, noise_level, noise_level, train=False)


def test_bfloat16_computes_in_bf16_with_f32_params_and_output():
  x_noisy, cond, noise_level = _inputs()
  params = _perturbed(_tiny_params())
  bf16_init = functools.partial(UNet(**TINY, dtype=jnp.bfloat16).init, train=False)
  bf16_params = jax.eval_shape(bf16_init, jax.random.key(0), x_noisy, cond, noise_level)
  assert {p.dtype for p in jax.tree.leaves(bf16_params)} == {jnp.dtype(jnp.float32)}
  out, state = _jit_apply(dtype=jnp.bfloat16)(
      {"params": params},
      x_noisy,
      cond,
      noise_level,
      train=False,
      capture_intermediates=True,
      mutable=("intermediates",),
  )
  assert state["intermediates"]["ResBlock_0"]["__call__"][0].dtype == jnp.bfloat16
  assert out.dtype == jnp.float32
  reference = _jit_apply()({"params": params}, x_noisy, cond, noise_level, train=False)
  relative_error = jnp.linalg.norm(out - reference) / jnp.linalg.norm(reference)
  assert relative_error < 0.1


@pytest.mark.parametrize("shape", [(2, 15, 16, 3), (2, 16, 9, 3), (16, 16, 3)])
def test_bad_spatial_shape_raises_naming_it(shape):
  x_noisy = jnp.zeros(shape)
  with pytest.raises(ValueError, match=re.escape(str(shape))):
    UNet(**TINY).init(jax.random.key(0), x_noisy, x_noisy, jnp.ones((2,)), train=False)


def test_groups_not_dividing_width_raises():
  x_noisy, cond, noise_level = _inputs()
  with pytest.raises(ValueError, match="num_groups=5"):
    UNet(**{**TINY, "num_groups": 5}).init(
        jax.random.key(0), x_noisy, cond, noise_level, train=False
    )


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_group_norm_matches_flax_with_film_folded_in(groups):
  """Same parameters and outputs as nn.GroupNorm, then * (1 + scale) + shift, to 1e-5."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(3.0 + 2.0 * rng.standard_normal((2, 8, 8, 16)), jnp.float32)
  scale, shift = (jnp.asarray(rng.standard_normal((2, 16)), jnp.float32) for _ in range(2))
  ours, reference = GroupNorm(groups), nn.GroupNorm(groups)
  params = ours.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, reference.init(jax.random.key(0), x)
  )
  params = jax.tree.map(lambda p: p + jnp.asarray(rng.standard_normal(p.shape), p.dtype), params)
  expected = reference.apply(params, x)
  np.testing.assert_allclose(ours.apply(params, x), expected, rtol=1e-5, atol=1e-5)
  film = ours.apply(params, x, (scale, shift))
  expected_film = expected * (1 + scale[:, None, None]) + shift[:, None, None]
  np.testing.assert_allclose(film, expected_film, rtol=1e-5, atol=1e-5)


def test_output_depends_on_noise_level():
  x_noisy, cond, _ = _inputs()
  apply = functools.partial(
      _jit_apply(), {"params": _perturbed(_tiny_params())}, x_noisy, cond, train=False
  )
  low, high = apply(jnp.full((2,), 0.1, jnp.float32)), apply(jnp.full((2,), 0.9, jnp.float32))
  assert jnp.mean(jnp.abs(low - high)) > 1e-2 * jnp.mean(jnp.abs(low))


def test_log_snr_embedding_tells_apart_the_low_noise_levels():
  levels = jnp.array([0.3, 0.9, 1 - 5e-7, 1 - 5e-6, 0.0, 1.0], jnp.float32)
  by_level = sr3_unet.noise_level_embedding(levels, 16, "level")
  by_log_snr = sr3_unet.noise_level_embedding(levels, 16, "log_snr")
  assert by_log_snr.shape == by_level.shape == (6, 16)
  assert jnp.all(jnp.isfinite(by_log_snr))  # Level 0 and 1: infinite log-SNRs, clipped.
  # Log-SNR 13.8 and 11.5 (noise std 1e-3 and 3e-3): 0.005 radians apart as levels.
  assert jnp.max(jnp.abs(by_level[2] - by_level[3])) < 0.01
  assert jnp.max(jnp.abs(by_log_snr[2] - by_log_snr[3])) > 0.5
  gamma = np.square(np.array([0.3, 0.9]))
  angles = sr3_unet.LOG_SNR_SCALE * np.log(gamma / (1 - gamma))[:, None]
  frequencies = np.exp(-np.log(10000.0) * np.arange(8) / 8)
  expected = np.concatenate([np.sin(angles * frequencies), np.cos(angles * frequencies)], -1)
  np.testing.assert_allclose(by_log_snr[:2], expected, atol=1e-4)


def test_noise_embedding_option_reaches_the_network():
  x_noisy, cond, noise_level = _inputs()
  variables = {"params": _perturbed(_tiny_params())}  # The same parameters for both.
  by_level = _jit_apply()(variables, x_noisy, cond, noise_level, train=False)
  by_log_snr = _jit_apply(noise_embedding="log_snr")(
      variables, x_noisy, cond, noise_level, train=False
  )
  assert jnp.mean(jnp.abs(by_level - by_log_snr)) > 1e-2 * jnp.mean(jnp.abs(by_level))


def test_dropout_only_in_training():
  x_noisy, cond, noise_level = _inputs()
  params = _perturbed(_tiny_params())
  apply = functools.partial(_jit_apply(dropout=0.5), {"params": params}, x_noisy, cond, noise_level)
  eval_out = apply(train=False)
  np.testing.assert_array_equal(eval_out, apply(train=False))
  train_a = apply(train=True, rngs={"dropout": jax.random.key(1)})
  train_b = apply(train=True, rngs={"dropout": jax.random.key(2)})
  assert not jnp.allclose(train_a, eval_out, atol=1e-3)
  assert not jnp.allclose(train_a, train_b, atol=1e-3)


def test_sr3_loss_falls_on_a_fixed_batch():
  x_noisy, cond, _ = _inputs()
  x0 = jnp.tanh(x_noisy)  # a fixed batch of 2 target images in [-1, 1]
  model = UNet(**TINY)
  schedule = schedules.make_schedule("linear", 100)
  optimizer = optax.adam(3e-3)
  rng = jax.random.key(3)

  @jax.jit
  def train_step(params, opt_state):
    def loss_fn(p):
      denoise_fn = lambda x, c, nl: model.apply({"params": p}, x, c, nl, train=True)
      return sr3_loss(denoise_fn, x0, cond, rng, schedule)[0]

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  params = _tiny_params()
  opt_state = optimizer.init(params)
  losses = []
  for _ in range(30):
    params, opt_state, loss = train_step(params, opt_state)
    losses.append(float(loss))
  first, last = np.mean(losses[:5]), np.mean(losses[-5:])
  assert last < 0.25 * first, losses


def _gradients(model, params):
  """(loss, gradients) of the mean squared output of `model` in training mode, on _inputs()."""
  x_noisy, cond, noise_level = _inputs()

  def loss(p):
    out = model.apply(
        {"params": p}, x_noisy, cond, noise_level, train=True, rngs={"dropout": jax.random.key(3)}
    )
    return jnp.mean(out**2)

  return jax.jit(jax.value_and_grad(loss))(params)


@pytest.fixture(scope="module")
def perturbed_gradients():
  """(params, (loss, gradients)) of the tiny U-Net without rematerialisation."""
  params = _perturbed(_tiny_params())
  return params, _gradients(UNet(**{**TINY, "dropout": 0.1}), params)


@pytest.mark.parametrize("remat", ["block", "block_save_dots"])
def test_remat_keeps_the_parameters_and_gives_the_same_gradients(remat, perturbed_gradients):
  x_noisy, cond, noise_level = _inputs()
  params, (want_value, want_grad) = perturbed_gradients
  rematerialised = UNet(**{**TINY, "dropout": 0.1}, remat=remat)
  init = rematerialised.init(jax.random.key(0), x_noisy, cond, noise_level, train=False)
  assert jax.tree.map(jnp.shape, init["params"]) == jax.tree.map(jnp.shape, params)
  value, grad = _gradients(rematerialised, params)
  np.testing.assert_allclose(value, want_value, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grad, want_grad)
  forward = lambda p: rematerialised.apply({"params": p}, x_noisy, cond, noise_level, train=False)
  assert str(jax.make_jaxpr(forward)(params)).count("remat2[") == len(
      [name for name in params if name.startswith("ResBlock_")]
  )
