"""Gradient accumulation: the mean over microbatches equals the whole batch's gradient, and an SR3
step in microbatches runs sharded over 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.families import registry
from posergen_jax.io import errors
from posergen_jax.training import microbatches
from tests import helpers


def _regression(params, batch, rng):
  """Mean squared error of a linear map (rng unused): its mean over equal microbatches is the
  whole batch's."""
  del rng

  def loss(p):
    return jnp.mean((batch["x"] @ p["w"] + p["b"] - batch["y"]) ** 2)

  value, grads = jax.value_and_grad(loss)(params)
  return {"loss": value}, grads


def test_the_mean_over_microbatches_is_the_whole_batchs_gradient():
  rng = np.random.default_rng(0)
  batch = {"x": rng.normal(size=(12, 3)), "y": rng.normal(size=(12, 2))}
  params = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
  whole = _regression(params, batch, None)
  for count in (2, 3, 4):
    split = microbatches.mean_over_microbatches(
        _regression, params, batch, jax.random.key(0), count
    )
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), split, whole)


def test_microbatch_i_takes_every_count_th_row():
  batch = {"x": np.arange(8)}
  assert microbatches.split(batch, 2)["x"].tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]


def test_each_microbatch_gets_its_own_key():
  def record(params, batch, rng):
    del batch
    return {"v": jax.random.uniform(rng)}, params

  aux, _ = microbatches.mean_over_microbatches(
      record, jnp.zeros(()), {"x": jnp.zeros((4,))}, jax.random.key(0), 2
  )
  expected = np.mean([jax.random.uniform(jax.random.fold_in(jax.random.key(0), i)) for i in (0, 1)])
  np.testing.assert_allclose(aux["v"], expected, rtol=1e-6)


def test_sr3_trains_in_microbatches_over_eight_devices(quick_config):
  quick_config.train.microbatches = 2
  family = registry.get_family(quick_config)
  batch = helpers.first_train_batch(family, quick_config, batch_size=16)
  states, history = helpers.train_steps(family, batch, jax.devices(), num_steps=3)
  assert all(np.isfinite(m["loss"]) for m in history)
  before, after = states[0].params, states[-1].params
  assert any(
      not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after))
  )


def test_microbatches_must_leave_whole_device_batches(quick_config):
  quick_config.train.batch_size = 16
  quick_config.train.microbatches = 4
  with pytest.raises(errors.ConfigError, match=r"config.train.microbatches=4: must be a divisor"):
    registry.check_config(quick_config, 8)  # 4 examples per microbatch over 8 devices.
  registry.check_config(quick_config, 4)
