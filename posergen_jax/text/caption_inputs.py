"""One caption per example, as a text tower's inputs, inside tf.data.

Datasets hold several captions per image (`captions` [N] strings). Training picks one at random
in the configured language, evaluation the language's first; the pick becomes either BERT word
pieces or Reed's character ids. For datasets with 5 Chinese then 5 English captions
(synthetic_posters), `language` ('zh' | 'en' | 'any') restricts the choice to one language;
monolingual datasets use 'any'.
"""

from collections.abc import Callable
import threading

import numpy as np
import tensorflow as tf

from posergen_jax.data import input_pipeline
from posergen_jax.io import errors
from posergen_jax.text import char_cnn_rnn
from posergen_jax.text import tokenizer as tokenizer_lib

# Which captions a language may pick, as (part, parts): captions[k*n/parts : (k+1)*n/parts].
LANGUAGES = {"any": (0, 1), "zh": (0, 2), "en": (1, 2)}
# Feature names of the tokenized caption (BertTextTower's keyword arguments).
TOKEN_KEYS = ("input_ids", "attention_mask")
# Feature name of Reed's character ids (CharCnnRnn's argument).
CHAR_IDS_KEY = "ids"

Example = dict[str, tf.Tensor]
CaptionOp = Callable[[tf.Tensor], Example]


def check_language(language: str) -> None:
  """Raises ValueError naming `config.text.language` unless it is one of LANGUAGES."""
  if language not in LANGUAGES:
    raise errors.ConfigError(
        f"config.text.language={language!r} is not one of {sorted(LANGUAGES)}."
    )


def pick_caption(
    num_captions: int,
    language: str,
    seed: tf.Tensor,
    train: bool,
    slot: tf.Tensor | None = None,
) -> tf.Tensor:
  """The index (int32 scalar) of the caption to use among `num_captions`.

  Training picks uniformly in the language's range (stateless, from `seed` [2]); evaluation
  takes the range's caption `slot` (modulo the range's size; its first without a slot).
  """
  part, parts = LANGUAGES[language]
  if num_captions % parts:
    raise ValueError(
        f"language {language!r} needs captions in {parts} equal halves; the "
        f"dataset has {num_captions}."
    )
  size = num_captions // parts
  offset = (
      tf.zeros((), tf.int32) if slot is None else tf.math.floormod(tf.cast(slot, tf.int32), size)
  )
  if train:
    offset = tf.random.stateless_uniform(
        (), tf.random.experimental.stateless_fold_in(seed, 1), minval=0, maxval=size, dtype=tf.int32
    )
  return part * size + offset


def text_feature(example: Example, key: str, option: str) -> tf.Tensor:
  """`example[key]`, or a KeyError naming `config.text.<option>` and the dataset's features."""
  if key not in example:
    raise KeyError(
        f"config.text.{option}={key!r} is not a feature of this dataset; it has "
        f"{sorted(example)}."
    )
  return example[key]


def caption_slot(example: Example) -> tf.Tensor | None:
  """The evaluation copy's caption slot (input_pipeline.CAPTION_SLOT), or None."""
  return example.get(input_pipeline.CAPTION_SLOT)


def one_caption(captions_key: str, language: str, caption_op: CaptionOp):
  """train (bool) -> tf.data function (example, seed[2]) -> `caption_op` of one caption of
  `example[captions_key]` (a random one of `language` when training; otherwise its caption
  slot's, or its first)."""

  def preprocess_fn(train: bool):
    def preprocess(example: Example, seed: tf.Tensor) -> Example:
      captions = text_feature(example, captions_key, "captions_key")
      index = pick_caption(captions.shape[0], language, seed, train, caption_slot(example))
      return caption_op(tf.gather(captions, index))

    return preprocess

  return preprocess_fn


def _decode(caption) -> str:
  """A tf.numpy_function's string argument (bytes in tf.data, a 0-d array eagerly) as str."""
  return np.asarray(caption).item().decode("utf-8")


def tokenize_op(tokenizer: tokenizer_lib.PromptTokenizer, max_length: int) -> CaptionOp:
  """A tf function: caption (string scalar) -> {'input_ids', 'attention_mask'}, int32 [L]."""
  lock = threading.Lock()  # tf.data maps in parallel; the Rust tokenizer is not re-entrant.

  def tokenize(caption) -> tuple[np.ndarray, np.ndarray]:
    with lock:
      tokens = tokenizer.encode([_decode(caption)], max_length)
    return tokens["input_ids"][0], tokens["attention_mask"][0]

  def op(caption: tf.Tensor) -> Example:
    ids, mask = tf.numpy_function(tokenize, [caption], (tf.int32, tf.int32), stateful=False)
    ids.set_shape([max_length])
    mask.set_shape([max_length])
    return dict(zip(TOKEN_KEYS, (ids, mask)))

  return op


def char_ids_op(max_length: int) -> CaptionOp:
  """A tf function: caption (string scalar) -> {'ids': int32 [max_length]}, Reed's character
  ids (`char_cnn_rnn.encode_chars`)."""

  def encode(caption) -> np.ndarray:
    return char_cnn_rnn.encode_chars([_decode(caption)], max_length)[0]

  def op(caption: tf.Tensor) -> Example:
    ids = tf.numpy_function(encode, [caption], tf.int32, stateful=False)
    ids.set_shape([max_length])
    return {CHAR_IDS_KEY: ids}

  return op
