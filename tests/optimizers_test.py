"""Optimizer: warm-up, decay, clipping and skipped non-finite updates."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from posergen_jax.training import optimizers, train_state

NUM_STEPS = 10


def _config(**overrides):
  config = ml_collections.ConfigDict(
      dict(
          name="adam",
          learning_rate=0.1,
          warmup_steps=2,
          decay="none",
          b1=0.9,
          b2=0.999,
          weight_decay=0.0,
          grad_clip_norm=1.0,
      )
  )
  config.update(overrides)
  return config


def test_learning_rate_warms_up_linearly():
  _, learning_rate_fn = optimizers.make_optimizer(_config(warmup_steps=4), NUM_STEPS)
  np.testing.assert_allclose(
      [learning_rate_fn(s) for s in range(6)], [0.0, 0.025, 0.05, 0.075, 0.1, 0.1], rtol=1e-6
  )


def test_no_warmup_means_the_full_rate_from_step_zero():
  _, learning_rate_fn = optimizers.make_optimizer(_config(warmup_steps=0), NUM_STEPS)
  np.testing.assert_allclose([learning_rate_fn(s) for s in range(3)], [0.1] * 3, rtol=1e-6)


def test_cosine_decay_follows_the_warmup_down_to_zero_at_num_steps():
  _, learning_rate_fn = optimizers.make_optimizer(_config(warmup_steps=2, decay="cosine"), 10)
  # Steps 2..10: 0.1 * (1 + cos(pi * (s - 2) / 8)) / 2.
  expected = [0.0, 0.05] + [0.05 * (1 + np.cos(np.pi * (s - 2) / 8)) for s in range(2, 11)]
  np.testing.assert_allclose([learning_rate_fn(s) for s in range(11)], expected, atol=1e-7)
  _, no_warmup = optimizers.make_optimizer(_config(warmup_steps=0, decay="cosine"), 4)
  np.testing.assert_allclose(
      [no_warmup(s) for s in range(5)], [0.1, 0.0854, 0.05, 0.0146, 0.0], atol=1e-4
  )


def test_a_config_without_decay_keeps_a_constant_rate_and_an_unknown_decay_is_named():
  config = _config(warmup_steps=0)
  del config["decay"]  # An exported pipeline's config from before `decay` existed.
  _, learning_rate_fn = optimizers.make_optimizer(config, NUM_STEPS)
  np.testing.assert_allclose([learning_rate_fn(s) for s in (0, 9, 50)], [0.1] * 3, rtol=1e-6)
  with pytest.raises(ValueError, match=r"config.optimizer.decay='linear' is not one of"):
    optimizers.make_optimizer(_config(decay="linear"), NUM_STEPS)


def test_nonfinite_gradients_are_skipped_and_counted():
  tx, _ = optimizers.make_optimizer(_config(), NUM_STEPS)
  state = train_state.TrainState.create(params={"w": jnp.ones(3)}, tx=tx)
  state = state.apply_gradients({"w": jnp.ones(3)}, ema_decay=0.9)
  state = state.apply_gradients({"w": jnp.ones(3)}, ema_decay=0.9)
  finite_params = state.params["w"]
  assert not np.allclose(finite_params, 1.0)
  for expected_streak in (1, 2):
    state = state.apply_gradients({"w": jnp.array([1.0, jnp.nan, 1.0])}, ema_decay=0.9)
    np.testing.assert_array_equal(state.params["w"], finite_params)
    assert int(optimizers.nonfinite_streak(state.opt_state)) == expected_streak
  state = state.apply_gradients({"w": jnp.ones(3)}, ema_decay=0.9)
  assert int(optimizers.nonfinite_streak(state.opt_state)) == 0
  assert int(optimizers.nonfinite_total(state.opt_state)) == 2
  assert np.all(np.isfinite(state.params["w"])) and np.all(np.isfinite(state.ema_params["w"]))
  assert int(state.step) == 5


def test_ema_follows_params_with_warmed_up_decay():
  tx, _ = optimizers.make_optimizer(_config(grad_clip_norm=0.0), NUM_STEPS)
  state = train_state.TrainState.create(params={"w": jnp.zeros(())}, tx=tx)
  state = state.replace(params={"w": jnp.ones(())})  # pretend an update moved w to 1
  new = state.apply_gradients({"w": jnp.zeros(())}, ema_decay=0.999)
  decay = min(0.999, 2.0 / 11.0)  # step 1: (1 + 1) / (10 + 1)
  np.testing.assert_allclose(new.ema_params["w"], (1 - decay) * new.params["w"], rtol=1e-6)


def test_rmsprop_matches_its_update_rule():
  tx, _ = optimizers.make_optimizer(
      _config(name="rmsprop", warmup_steps=0, b2=0.99, grad_clip_norm=0.0), NUM_STEPS
  )
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([0.5, 3.0])}
  updates, _ = tx.update(grads, tx.init(params), params)
  nu = 0.01 * grads["w"] ** 2  # (1 - decay) * g^2 from nu = 0
  np.testing.assert_allclose(updates["w"], -0.1 * grads["w"] / (jnp.sqrt(nu) + 1e-8), rtol=1e-5)


def test_unknown_optimizer_name_is_a_clear_error():
  with pytest.raises(ValueError, match="'sgd' is not one of"):
    optimizers.make_optimizer(_config(name="sgd"), NUM_STEPS)


def test_an_update_made_nonfinite_by_the_optimizer_is_skipped_and_counted():
  # Finite gradients, but the optimizer itself makes the update NaN (e.g. a NaN learning rate).
  tx = optimizers.skip_nonfinite(optax.scale(float("nan")))
  state = train_state.TrainState.create(params={"w": jnp.ones(3)}, tx=tx)
  state = state.apply_gradients({"w": jnp.ones(3)}, ema_decay=0.9)
  np.testing.assert_array_equal(state.params["w"], np.ones(3))
  np.testing.assert_array_equal(state.ema_params["w"], np.ones(3))
  assert int(optimizers.nonfinite_streak(state.opt_state)) == 1
  assert int(optimizers.nonfinite_total(state.opt_state)) == 1


def test_the_optimizer_state_keeps_the_layout_of_optax_apply_if_finite():
  # Checkpoints written before skip_nonfinite (with optax.apply_if_finite) still restore.
  params = {"w": jnp.ones(3)}
  inner = optax.adam(0.1)
  ours = optimizers.skip_nonfinite(inner).init(params)
  theirs = optax.apply_if_finite(inner, max_consecutive_errors=2**30).init(params)
  assert jax.tree.structure(ours) == jax.tree.structure(theirs)
  assert jax.tree.map(lambda x: x.dtype, ours) == jax.tree.map(lambda x: x.dtype, theirs)
