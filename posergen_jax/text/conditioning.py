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

For datasets with 5 Chinese then 5 English captions (synthetic_posters), `config.text.language`
('zh' | 'en' | 'any') restricts the choice to one language; monolingual datasets use 'any'.
"""
from collections.abc import Callable, Sequence
import dataclasses
import threading

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow as tf

from posergen_jax.text import bert, load_weights, tokenizer as tokenizer_lib

SOURCES = ("dataset", "encoder")
# Which captions a language may pick, as (part, parts): captions[k*n/parts : (k+1)*n/parts].
LANGUAGES = {"any": (0, 1), "zh": (0, 2), "en": (1, 2)}
# `config.text.weights` = "random:<bert preset>": a randomly initialised tower (tests and quick
# CPU runs only; its vectors carry no meaning).
RANDOM_PREFIX = "random:"
# Feature names the preprocess adds to each example.
EMBEDDING_KEY = "embedding"
TOKEN_KEYS = ("input_ids", "attention_mask")

Example = dict[str, tf.Tensor]


@dataclasses.dataclass(frozen=True)
class TextConditioning:
  """Where a batch's sentence vectors come from.

  Attributes:
    preprocess_fn: train (bool) -> tf.data function (example, seed[2]) -> text features of one
      example: {'embedding': float32 [E]} ('dataset') or {'input_ids', 'attention_mask': int32
      [max_length]} ('encoder'). A random caption when training, the first one otherwise.
    encode: batch -> float32 [B,E] sentence vectors, without gradient; runs inside jit.
    encode_prompts: prompts (B strings) -> float32 [B,E], for the 'encoder' source (e.g. to
      generate from a user's prompt); None for 'dataset', whose vectors are precomputed.
  """
  preprocess_fn: Callable[[bool], Callable[[Example, tf.Tensor], Example]]
  encode: Callable[[dict[str, jax.Array]], jax.Array]
  encode_prompts: Callable[[Sequence[str]], jax.Array] | None


def make_text_conditioning(config: ml_collections.ConfigDict) -> TextConditioning:
  """The conditioning `config` (the `text` section) describes.

  Args:
    config: source ('dataset' | 'encoder'), language ('any' | 'zh' | 'en'); for 'dataset'
      embedding_key; for 'encoder' captions_key, weights (a weights spec or 'random:tiny'),
      tokenizer (a tokenizer.json / vocab.txt spec) and max_length.

  Raises:
    ValueError: an unknown source or language.
  """
  if config.language not in LANGUAGES:
    raise ValueError(f"config.text.language={config.language!r} is not one of "
                     f"{sorted(LANGUAGES)}.")
  if config.source == "dataset":
    return _dataset_conditioning(config)
  if config.source == "encoder":
    return _encoder_conditioning(config)
  raise ValueError(f"config.text.source={config.source!r} is not one of {SOURCES}.")


def pick_caption(num_captions: int, language: str, seed: tf.Tensor, train: bool) -> tf.Tensor:
  """The index (int32 scalar) of the caption to use among `num_captions`.

  Training picks uniformly in the language's range (stateless, from `seed` [2]); evaluation
  takes the range's first caption.
  """
  part, parts = LANGUAGES[language]
  if num_captions % parts:
    raise ValueError(f"language {language!r} needs captions in {parts} equal halves; the "
                     f"dataset has {num_captions}.")
  size = num_captions // parts
  offset = tf.zeros((), tf.int32)
  if train:
    offset = tf.random.stateless_uniform((), tf.random.experimental.stateless_fold_in(seed, 1),
                                         minval=0, maxval=size, dtype=tf.int32)
  return part * size + offset


def _feature(example: Example, key: str, option: str) -> tf.Tensor:
  if key not in example:
    raise KeyError(f"config.text.{option}={key!r} is not a feature of this dataset; it has "
                   f"{sorted(example)}.")
  return example[key]


def _dataset_conditioning(config: ml_collections.ConfigDict) -> TextConditioning:
  """Precomputed caption embeddings `[captions, E]` in the example."""

  def preprocess_fn(train: bool):
    def preprocess(example: Example, seed: tf.Tensor) -> Example:
      embeddings = _feature(example, config.embedding_key, "embedding_key")
      index = pick_caption(embeddings.shape[0], config.language, seed, train)
      return {EMBEDDING_KEY: tf.cast(tf.gather(embeddings, index), tf.float32)}
    return preprocess

  return TextConditioning(preprocess_fn=preprocess_fn,
                          encode=lambda batch: batch[EMBEDDING_KEY].astype(jnp.float32),
                          encode_prompts=None)


def load_text_encoder(config: ml_collections.ConfigDict,
                      vocab_size: int) -> tuple[bert.BertTextTower, dict]:
  """The frozen tower and its params: 'random:<preset>' or a weights spec for `load_weights`.

  A random tower is the preset with the tokenizer's `vocab_size` and enough positions for
  `max_length`, initialised from a fixed key, so every process builds the same one.
  """
  if config.weights.startswith(RANDOM_PREFIX):
    preset = config.weights[len(RANDOM_PREFIX):]
    if preset not in bert.PRESETS:
      raise ValueError(f"config.text.weights={config.weights!r}: no BERT preset {preset!r}; "
                       f"use one of {sorted(bert.PRESETS)}.")
    bert_config = bert.PRESETS[preset]
    bert_config = dataclasses.replace(
        bert_config, vocab_size=vocab_size,
        max_position_embeddings=max(config.max_length, bert_config.max_position_embeddings))
    tower = bert.BertTextTower(bert_config)
    ids = jnp.zeros((1, config.max_length), jnp.int32)
    return tower, tower.init(jax.random.key(0), ids, jnp.ones_like(ids))["params"]
  return load_weights.load_text_tower(config.weights)


def _tokenize_op(tokenizer: tokenizer_lib.PromptTokenizer, max_length: int):
  """A tf function: caption (string scalar) -> {'input_ids', 'attention_mask'}, int32 [L]."""
  lock = threading.Lock()  # tf.data maps in parallel; the Rust tokenizer is not re-entrant.

  def tokenize(caption: bytes) -> tuple[np.ndarray, np.ndarray]:
    with lock:
      tokens = tokenizer.encode([caption.decode("utf-8")], max_length)
    return tokens["input_ids"][0], tokens["attention_mask"][0]

  def op(caption: tf.Tensor) -> Example:
    ids, mask = tf.numpy_function(tokenize, [caption], (tf.int32, tf.int32), stateful=False)
    ids.set_shape([max_length])
    mask.set_shape([max_length])
    return dict(zip(TOKEN_KEYS, (ids, mask)))

  return op


def _encoder_conditioning(config: ml_collections.ConfigDict) -> TextConditioning:
  """A frozen BERT tower over one tokenized caption per example."""
  tokenizer = tokenizer_lib.PromptTokenizer.from_file(config.tokenizer)
  tower, params = load_text_encoder(config, tokenizer.vocab_size)
  params = jax.tree.map(jnp.asarray, params)
  tokenize = _tokenize_op(tokenizer, config.max_length)

  def preprocess_fn(train: bool):
    def preprocess(example: Example, seed: tf.Tensor) -> Example:
      captions = _feature(example, config.captions_key, "captions_key")
      return tokenize(tf.gather(captions, pick_caption(captions.shape[0], config.language,
                                                       seed, train)))
    return preprocess

  def encode_tokens(input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
    pooled = tower.apply({"params": params}, input_ids, attention_mask)["pooled"]
    return jax.lax.stop_gradient(pooled.astype(jnp.float32))

  def encode_prompts(prompts: Sequence[str]) -> jax.Array:
    tokens = tokenizer.encode(prompts, config.max_length)
    return encode_tokens(tokens["input_ids"], tokens["attention_mask"])

  return TextConditioning(
      preprocess_fn=preprocess_fn,
      encode=lambda batch: encode_tokens(*(batch[k] for k in TOKEN_KEYS)),
      encode_prompts=encode_prompts)
