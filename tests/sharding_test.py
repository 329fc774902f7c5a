"""Mesh construction and the 8-device vs 1-device equality of a train step."""

import jax
import numpy as np
import pytest

from posergen_jax.training import sharding


def test_make_mesh_fills_the_remaining_axis():
  mesh = sharding.make_mesh([("data", -1)])
  assert dict(mesh.shape) == {"data": 8}
  mesh = sharding.make_mesh([("data", 2), ("model", -1)])
  assert dict(mesh.shape) == {"data": 2, "model": 4}


@pytest.mark.parametrize(
    "axes, message",
    [
        ([("model", -1)], "needs a 'data' axis"),
        ([("data", -1), ("model", -1)], "at most one axis"),
        ([("data", 3), ("model", -1)], "does not divide"),
        ([("data", 4)], "4 devices, but 8"),
    ],
)
def test_make_mesh_rejects_bad_shapes(axes, message):
  with pytest.raises(ValueError, match=message):
    sharding.make_mesh(axes)


def test_data_sharding_splits_the_batch():
  shardings = sharding.make_shardings(sharding.make_mesh([("data", -1)]))
  x = jax.device_put(np.arange(16.0).reshape(8, 2), shardings.data)
  assert [s.data.shape for s in x.addressable_shards] == [(1, 2)] * 8
  y = jax.device_put(np.ones(3), shardings.replicated)
  assert all(s.data.shape == (3,) for s in y.addressable_shards)


def test_a_slices_axis_splits_the_batch_over_slices_and_data():
  mesh = sharding.make_mesh((("slices", 2), ("data", -1)))
  shardings = sharding.make_shardings(mesh)
  assert shardings.data.spec == jax.sharding.PartitionSpec(("slices", "data"))
  assert sharding.data_axis_size(mesh) == 8
