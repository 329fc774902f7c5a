"""Input pipeline: SR pairs, determinism, and sharded global arrays."""

import re

import jax
from jax.sharding import PartitionSpec as P
import numpy as np
import pytest
import tensorflow as tf

from posergen_jax.data import input_pipeline, preprocess
from posergen_jax.training import sharding


def _dataset(config, *, seed=0, train=True, flip=True, batch_size=8):
  pre = preprocess.sr_pairs(image_key="image", hr_size=32, lr_size=16, random_flip=flip)
  return input_pipeline.create_dataset(
      config.data, "train", global_batch_size=batch_size, preprocess=pre, train=train, seed=seed
  )


def test_make_sr_pair_downsamples_then_upsamples():
  hr = tf.random.stateless_uniform((32, 32, 3), seed=(1, 2), minval=-1.0, maxval=1.0)
  pair = preprocess.make_sr_pair(hr, 8)
  assert pair["lowres"].shape == (8, 8, 3)
  assert pair["cond"].shape == (32, 32, 3)
  expected_lowres = tf.image.resize(hr, (8, 8), method="bicubic", antialias=True)
  np.testing.assert_allclose(pair["lowres"], np.clip(expected_lowres, -1, 1), atol=1e-6)
  expected_cond = tf.image.resize(pair["lowres"], (32, 32), method="bicubic")
  np.testing.assert_allclose(pair["cond"], np.clip(expected_cond, -1, 1), atol=1e-6)
  # Antialiasing: a 4x downsample of white noise averages, so variance drops a lot.
  assert np.var(pair["lowres"]) < 0.3 * np.var(hr)


def test_sr_batches_have_features_shapes_and_range(quick_config):
  batch = next(_dataset(quick_config).as_numpy_iterator())
  assert batch["target"].shape == (8, 32, 32, 3) and batch["target"].dtype == np.float32
  assert batch["cond"].shape == (8, 32, 32, 3)
  assert batch["lowres"].shape == (8, 16, 16, 3)
  assert batch["label"].shape == (8,) and batch["label"].dtype == np.int32
  for key in ("target", "cond", "lowres"):
    assert batch[key].min() >= -1.0 and batch[key].max() <= 1.0
  # cond is a blurred copy of target: close, but not equal.
  error = np.abs(batch["cond"] - batch["target"]).mean()
  assert 0.005 < error < 0.3


def test_training_order_is_deterministic_per_seed(quick_config):
  first = [
      b["target"] for b, _ in zip(_dataset(quick_config, seed=3).as_numpy_iterator(), range(3))
  ]
  again = [
      b["target"] for b, _ in zip(_dataset(quick_config, seed=3).as_numpy_iterator(), range(3))
  ]
  other = [
      b["target"] for b, _ in zip(_dataset(quick_config, seed=4).as_numpy_iterator(), range(3))
  ]
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_eval_pass_is_ordered_and_unflipped(quick_config):
  ds = _dataset(quick_config, train=False, flip=False)
  batches = list(ds.as_numpy_iterator())
  assert len(batches) == 64 // 8  # one pass over the tiny train split, no repeat
  again = list(_dataset(quick_config, train=False, flip=False, seed=9).as_numpy_iterator())
  np.testing.assert_array_equal(batches[0]["target"], again[0]["target"])


def test_global_batches_are_sharded_over_the_data_axis(quick_config):
  mesh_shardings = sharding.make_shardings(sharding.make_mesh([("data", -1)]))
  host_batch = next(_dataset(quick_config).as_numpy_iterator())
  batch = next(input_pipeline.GlobalBatches(_dataset(quick_config), mesh_shardings.data))
  assert jax.device_count() == 8
  for key, value in batch.items():
    assert isinstance(value, jax.Array)
    assert value.shape == host_batch[key].shape
    assert value.sharding.spec == P("data")
    assert len(value.addressable_shards) == 8
    assert value.addressable_shards[0].data.shape[0] == 1
    np.testing.assert_array_equal(np.asarray(value), host_batch[key])


def test_unknown_image_key_names_the_feature(quick_config):
  pre = preprocess.sr_pairs(image_key="picture", hr_size=32, lr_size=16, random_flip=False)
  with pytest.raises(KeyError, match="picture"):
    input_pipeline.create_dataset(
        quick_config.data, "train", global_batch_size=8, preprocess=pre, train=False, seed=0
    )


@pytest.mark.parametrize(
    "split, num_examples, batch_size, message",
    [
        (
            "test",
            17,
            8,
            "config.evals.num_examples=17: split 'test' of synthetic_posters/tiny/1.0.0 has 16 "
            "examples; ask for at most that many",
        ),
        (
            "test",
            None,
            32,
            "split 'test' of synthetic_posters/tiny/1.0.0 gives 16 examples to evaluate, less "
            "than one batch of 32; lower config.evals.batch_size",
        ),
        ("validation", None, 8, "synthetic_posters/tiny/1.0.0 has no split 'validation'"),
    ],
)
def test_a_split_too_small_for_the_ask_is_one_line_naming_it(
    quick_config, split, num_examples, batch_size, message
):
  pre = preprocess.sr_pairs(image_key="image", hr_size=32, lr_size=16, random_flip=False)
  with pytest.raises(input_pipeline.errors.ConfigError, match="^" + re.escape(message)):
    input_pipeline.create_dataset(
        quick_config.data,
        split,
        global_batch_size=batch_size,
        preprocess=pre,
        train=False,
        seed=0,
        num_examples=num_examples,
    )
