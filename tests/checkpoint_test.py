"""Orbax saving of replicated arrays over 8 devices: slices per replica only where each slice is
at least `checkpoint.MIN_REPLICA_SLICE_BYTES`, and both kinds restore bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np

from posergen_jax.training import checkpoint, sharding


def test_large_replicated_arrays_are_written_in_slices_and_all_restore_bit_for_bit(tmp_path):
  replicated = sharding.make_shardings(sharding.make_mesh((("data", -1),)), False).replicated
  rows = jax.device_count() * checkpoint.MIN_REPLICA_SLICE_BYTES // (512 * 4)  # 1 MiB per device.
  values = jax.random.normal(jax.random.key(0), (rows, 512))
  state = {
      "large": jax.device_put(values, replicated),
      "small": jax.device_put(jnp.arange(16.0), replicated),
  }
  manager = checkpoint.make_manager(str(tmp_path), max_to_keep=1)
  checkpoint.save(manager, 1, state)
  manager.wait_until_finished()
  manager.close()

  reader = checkpoint.make_manager(str(tmp_path), max_to_keep=1)
  written = reader.item_metadata(1).tree
  assert written["large"].storage.write_shape == (rows // jax.device_count(), 512)
  assert written["small"].storage.write_shape == (16,)  # Not 8 slices of 2.

  blank = jax.tree.map(jnp.zeros_like, state)
  restored = checkpoint.restore_latest(reader, blank)
  assert restored["large"].sharding == replicated
  np.testing.assert_array_equal(restored["large"], values)
  np.testing.assert_array_equal(restored["small"], np.arange(16.0))
  reader.close()
