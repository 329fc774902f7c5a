"""Caption embedding cache: sharded computation over 8 devices, reuse, and the 'cache' source."""

import os

import jax
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from posergen_jax.configs import wgan as wgan_config
from posergen_jax.data import input_pipeline
from posergen_jax.text import caption_inputs, conditioning, embedding_cache, frozen_tower
from tests import helpers


@pytest.fixture(scope="module")
def config(tiny_data_dir):
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.text.source = "cache"
  return config


@pytest.fixture(scope="module")
def text(config):
  text = conditioning.make_text_conditioning(config.text, data=config.data)
  text.preprocess_fn(True)  # The first input pipeline reads (here: builds) the cache.
  return text


def test_sampling_from_prompts_needs_no_cache(config, tmp_path):
  elsewhere = config.data.copy_and_resolve_references()
  elsewhere.data_dir = str(tmp_path / "no_dataset_here")
  text = conditioning.make_text_conditioning(config.text, data=elsewhere)
  assert text.encode_prompts(["a poster"]).shape[0] == 1
  assert not (tmp_path / "no_dataset_here").exists()


def _examples(config, split):
  ds = tfds.builder(config.data.name, data_dir=config.data.data_dir).as_dataset(
      split=split, read_config=tfds.ReadConfig(add_tfds_id=True)
  )
  return list(tfds.as_numpy(ds))


def test_cache_holds_the_tower_vector_of_every_caption(config, text):
  assert jax.local_device_count() == 8  # compute() shards the captions over all of them.
  frozen = frozen_tower.FrozenTower.load(config.text)
  for split in ("train", "test"):
    path = embedding_cache.cache_path(config.data, split, config.text)
    with path.open("rb") as f:
      cached = np.load(f)
      ids, embeddings = cached["ids"], cached["embeddings"]
    examples = _examples(config, split)
    assert list(ids) == [ex["tfds_id"] for ex in examples]
    assert embeddings.shape == (len(examples), 10, text.encode_prompts(["x"]).shape[-1])
    assert embeddings.dtype == np.float32
    for ex, row in zip(examples[:3], embeddings):
      direct = frozen.encode_prompts([c.decode() for c in ex["captions"]])
      np.testing.assert_allclose(row, direct, rtol=1e-5, atol=1e-5)


def test_second_build_reads_the_files(config, text, monkeypatch):
  paths = [
      embedding_cache.cache_path(config.data, split, config.text) for split in ("train", "test")
  ]
  mtimes = [os.stat(path).st_mtime_ns for path in paths]

  def fail(*args):
    raise AssertionError("the cache was computed again")

  monkeypatch.setattr(embedding_cache, "compute", fail)
  conditioning.make_text_conditioning(config.text, data=config.data)
  assert [os.stat(path).st_mtime_ns for path in paths] == mtimes


def test_a_different_tower_gets_its_own_file(config):
  other = config.text.copy_and_resolve_references()
  other.max_length = 16
  assert embedding_cache.cache_path(config.data, "train", other) != embedding_cache.cache_path(
      config.data, "train", config.text
  )


def test_train_batches_pick_one_of_the_examples_own_captions(config, text):
  batch = helpers.first_batch(config.data, "test", text.preprocess_fn(True), batch_size=4, seed=3)
  assert set(batch) == {"embedding"} and batch["embedding"].shape[0] == 4
  _, embeddings = embedding_cache.load_or_build(config.data, "test", config.text, None)
  part, parts = caption_inputs.LANGUAGES[config.text.language]
  for vector, captions in zip(batch["embedding"], embeddings):
    allowed = np.split(captions, parts)[part]
    assert np.abs(allowed - vector).max(axis=-1).min() == 0
  np.testing.assert_array_equal(jax.jit(text.encode)(batch), batch["embedding"])


def test_evaluation_takes_the_first_caption_of_the_language(config, text):
  batch = helpers.first_batch(config.data, "test", text.preprocess_fn(False), batch_size=4)
  part, parts = caption_inputs.LANGUAGES[config.text.language]
  captions = [ex["captions"][part * 10 // parts].decode() for ex in _examples(config, "test[:4]")]
  np.testing.assert_allclose(
      batch["embedding"], text.encode_prompts(captions), rtol=1e-5, atol=1e-5
  )


def test_an_example_outside_the_cache_is_an_error(config, text):
  example = {"tfds_id": tf.constant(b"not-in-any-split"), "captions": tf.constant([b"a"] * 10)}
  with pytest.raises(tf.errors.InvalidArgumentError, match="missing from the caption embedding"):
    text.preprocess_fn(False)(example, tf.constant([0, 0], tf.int64))


def test_cache_source_needs_the_data_section(config):
  with pytest.raises(ValueError, match="source='cache'"):
    conditioning.make_text_conditioning(config.text)


def test_evaluation_per_caption_repeats_each_example_once_per_caption(config, text):
  ds = input_pipeline.create_dataset(
      config.data,
      "test",
      global_batch_size=6,
      preprocess=lambda example, seed: {
          **text.preprocess_fn(False)(example, seed),
          "id": example["tfds_id"],
      },
      train=False,
      seed=0,
      num_examples=4,
      captions_per_example=3,
  )
  batches = list(ds.as_numpy_iterator())
  assert [len(b["id"]) for b in batches] == [6, 6]  # 4 examples x 3 captions.
  ids = np.concatenate([b["id"] for b in batches])
  examples = _examples(config, "test[:4]")
  assert list(ids) == [ex["tfds_id"] for ex in examples for _ in range(3)]
  part, parts = caption_inputs.LANGUAGES[config.text.language]
  captions = [
      ex["captions"][part * 10 // parts + slot].decode() for ex in examples for slot in range(3)
  ]
  np.testing.assert_allclose(
      np.concatenate([b["embedding"] for b in batches]),
      text.encode_prompts(captions),
      rtol=1e-5,
      atol=1e-5,
  )
