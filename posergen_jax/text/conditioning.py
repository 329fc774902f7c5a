"""The sentence vector a text-to-image GAN is conditioned on: from the dataset or a frozen encoder.

`config.text.source` picks where it comes from:
- 'dataset': the example's precomputed caption embeddings `[captions, E]` (e.g. StackGAN's
  char-CNN-RNN vectors in cub_birds `*_emb`). The preprocess keeps one row: a random caption's
  at train time (StackGAN's sampling), the first at evaluation.
- 'encoder': a frozen BERT text tower. The preprocess picks one caption the same way and
  tokenizes it inside tf.data (`input_ids`, `attention_mask` `[max_length]`); `encode` runs the
  tower inside the jitted step and returns its pooled vector under `stop_gradient`. The tower's
  parameters are held here, not in the train state, so they are never trained or checkpointed;
  jit sees them as constants, replicated on every device.
- 'cache': the same tower, run once over every caption of the dataset's splits
  (embedding_cache.py) and read back by each example's TFDS id; the step reads the vector from
  the batch like 'dataset' and never runs the tower. Prompts still go through the tower.

`config.text.language` restricts the choice of caption to one language (caption_inputs.py).
"""

from collections.abc import Callable, Sequence
import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import tensorflow as tf

from posergen_jax.config import schema
from posergen_jax.io import errors
from posergen_jax.text import caption_inputs, embedding_cache, frozen_tower

SOURCES = ("dataset", "encoder", "cache")
# Feature name of the sentence vector the 'dataset' preprocess adds to each example.
EMBEDDING_KEY = "embedding"
# The `text` fields of the families conditioned on a caption (config/schema.py); the text-image
# encoder adds its tower's.
FIELD_RULES = {
    "text.source": schema.one_of(SOURCES),
    "text.language": schema.one_of(caption_inputs.LANGUAGES),
    "text.embedding_key": schema.TEXT,
    "text.captions_key": schema.TEXT,
    "text.weights": schema.TEXT,
    "text.tokenizer": schema.TEXT,
    "text.zh_student": schema.optional(schema.TEXT),
    "text.max_length": schema.integer(2),  # [CLS] and [SEP] at least.
}

Example = dict[str, tf.Tensor]


@dataclasses.dataclass(frozen=True)
class TextConditioning:
  """Where a batch's sentence vectors come from.

  Attributes:
    preprocess_fn: train (bool) -> tf.data function (example, seed[2]) -> text features of one
      example: {'embedding': float32 [E]} ('dataset') or {'input_ids', 'attention_mask': int32
      [max_length]} ('encoder'). A random caption when training, the first one otherwise.
    encode: batch -> float32 [B,E] sentence vectors, without gradient; runs inside jit.
    encode_prompts: prompts (B strings) -> float32 [B,E], for the 'encoder' and 'cache'
      sources (e.g. to generate from a user's prompt); None for 'dataset', which has no tower.
  """

  preprocess_fn: Callable[[bool], Callable[[Example, tf.Tensor], Example]]
  encode: Callable[[dict[str, jax.Array]], jax.Array]
  encode_prompts: Callable[[Sequence[str]], jax.Array] | None


def make_text_conditioning(
    config: ml_collections.ConfigDict, data: ml_collections.ConfigDict | None = None
) -> TextConditioning:
  """The conditioning `config` (the `text` section) describes.

  Args:
    config: source ('dataset' | 'encoder' | 'cache'), language ('any' | 'zh' | 'en'); for
      'dataset' embedding_key; for 'encoder' and 'cache' captions_key, weights (a weights spec
      or 'random:tiny'), tokenizer (a tokenizer.json / vocab.txt spec) and max_length.
    data: the `data` section of the dataset whose captions 'cache' embeds (unused otherwise).

  Raises:
    ValueError: an unknown source or language, or 'cache' without `data`.
  """
  caption_inputs.check_language(config.language)
  if config.get("zh_student") and config.source == "encoder" and config.language != "en":
    raise errors.ConfigError(
        f"config.text.zh_student reads Chinese captions only with text.source='cache' (the "
        f"tower runs in the step with 'encoder'); set it, or text.language='en' (now "
        f"{config.language!r})."
    )
  if config.source == "dataset":
    return _dataset_conditioning(config)
  if config.source == "encoder":
    return _encoder_conditioning(config)
  if config.source == "cache":
    if data is None:
      raise errors.ConfigError(
          "config.text.source='cache' embeds a dataset's captions; pass its `data` section."
      )
    return _cache_conditioning(config, data)
  raise errors.ConfigError(f"config.text.source={config.source!r} is not one of {SOURCES}.")


def _one_embedding(
    language: str, make_caption_embeddings: Callable[[], Callable[[Example], tf.Tensor]]
):
  """train -> tf.data function (example, seed[2]) -> {'embedding': float32 [E]}: one row of
  `caption_embeddings(example)` [captions, E], picked as `caption_inputs.pick_caption` does;
  `make_caption_embeddings()` gives `caption_embeddings` when the first input pipeline is built."""

  def preprocess_fn(train: bool):
    caption_embeddings = make_caption_embeddings()

    def preprocess(example: Example, seed: tf.Tensor) -> Example:
      embeddings = caption_embeddings(example)
      index = caption_inputs.pick_caption(
          embeddings.shape[0], language, seed, train, caption_inputs.caption_slot(example)
      )
      return {EMBEDDING_KEY: tf.cast(tf.gather(embeddings, index), tf.float32)}

    return preprocess

  return preprocess_fn


def _read_embedding(batch: dict[str, jax.Array]) -> jax.Array:
  return batch[EMBEDDING_KEY].astype(jnp.float32)


def _dataset_conditioning(config: ml_collections.ConfigDict) -> TextConditioning:
  """Precomputed caption embeddings `[captions, E]` in the example."""
  return TextConditioning(
      preprocess_fn=_one_embedding(
          config.language,
          lambda: lambda example: caption_inputs.text_feature(
              example, config.embedding_key, "embedding_key"
          ),
      ),
      encode=_read_embedding,
      encode_prompts=None,
  )


def _encoder_conditioning(config: ml_collections.ConfigDict) -> TextConditioning:
  """A frozen BERT tower over one tokenized caption per example."""
  frozen = frozen_tower.FrozenTower.load(config)
  return TextConditioning(
      preprocess_fn=caption_inputs.one_caption(
          config.captions_key,
          config.language,
          caption_inputs.tokenize_op(frozen.tokenizer, config.max_length),
      ),
      encode=lambda batch: frozen.encode_tokens(*(batch[k] for k in caption_inputs.TOKEN_KEYS)),
      encode_prompts=frozen.encode_prompts,
  )


def _cache_conditioning(
    config: ml_collections.ConfigDict, data: ml_collections.ConfigDict
) -> TextConditioning:
  """The tower's caption embeddings of every split, computed once, looked up by TFDS id.

  The cache is read (or built) when the first input pipeline is, so a model that only samples
  from prompts (an exported pipeline) needs no dataset.
  """
  frozen = frozen_tower.FrozenTower.load(config)

  @functools.cache
  def make_caption_embeddings():
    ids, embeddings = embedding_cache.load_all_splits(data, config, frozen)
    rows = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids), tf.range(len(ids), dtype=tf.int64)),
        default_value=-1,
    )
    table = tf.constant(embeddings)

    def caption_embeddings(example: Example) -> tf.Tensor:
      row = rows.lookup(example[embedding_cache.TFDS_ID])  # input_pipeline adds the id.
      with tf.control_dependencies(
          [
              tf.debugging.assert_non_negative(
                  row,
                  message="An example is missing from the caption embedding cache; delete "
                  f"{embedding_cache.cache_dir(data)} to rebuild it.",
              )
          ]
      ):
        return tf.gather(table, row)

    return caption_embeddings

  return TextConditioning(
      preprocess_fn=_one_embedding(config.language, make_caption_embeddings),
      encode=_read_embedding,
      encode_prompts=frozen.encode_prompts,
  )
