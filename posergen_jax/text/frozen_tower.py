"""A frozen text tower: tokenizer, BERT tower and constant params, loaded from the `text` config.

The tower's params are held here, not in a train state: they are never trained or
checkpointed, and jit sees them as constants, replicated on every device.

With `config.text.zh_student` (a Chinese student distilled onto the tower's space,
zh_student.py), prompts are routed by their script: one holding CJK characters goes through the
student, any other through the tower, into the same vector space.
"""

from collections.abc import Sequence
import dataclasses
import functools
import logging

import jax
import jax.numpy as jnp
import ml_collections

from posergen_jax.io import errors, weights
from posergen_jax.text import bert, bert_weights, zh_student
from posergen_jax.text import tokenizer as tokenizer_lib

# `config.text.weights` = "random:<bert preset>": a randomly initialised tower (tests and quick
# CPU runs only; its vectors carry no meaning).
RANDOM_PREFIX = "random:"


def load_text_encoder(
    config: ml_collections.ConfigDict, vocab_size: int
) -> tuple[bert.BertTextTower, dict]:
  """The frozen tower and its params: 'random:<preset>' or a weights spec for `load_weights`.

  A random tower is the preset with the tokenizer's `vocab_size` and enough positions for
  `max_length`, initialised from a fixed key, so every process builds the same one.
  """
  if config.weights.startswith(RANDOM_PREFIX):
    preset = config.weights[len(RANDOM_PREFIX) :]
    if preset not in bert.PRESETS:
      raise errors.ConfigError(
          f"config.text.weights={config.weights!r}: no BERT preset {preset!r}; "
          f"use one of {sorted(bert.PRESETS)}."
      )
    bert_config = bert.PRESETS[preset]
    bert_config = dataclasses.replace(
        bert_config,
        vocab_size=vocab_size,
        max_position_embeddings=max(config.max_length, bert_config.max_position_embeddings),
    )
    tower = bert.BertTextTower(bert_config)
    ids = jnp.zeros((1, config.max_length), jnp.int32)
    return tower, tower.init(jax.random.key(0), ids, jnp.ones_like(ids))["params"]
  return bert_weights.load_text_tower(config.weights)


@functools.cache
def _warn_unseen(prompt: str, characters: str) -> None:
  """One warning line per prompt and process: `characters` mean nothing to the student."""
  logging.warning(
      "Prompt %r: the Chinese text student never saw %s in training; they carry no meaning "
      "for this model.",
      prompt,
      characters,
  )


@dataclasses.dataclass(frozen=True)
class FrozenTower:
  """A loaded tokenizer and BERT tower with its (constant) params, and the optional Chinese
  student that reads CJK prompts into the tower's space."""

  tokenizer: tokenizer_lib.PromptTokenizer
  tower: bert.BertTextTower
  params: dict
  max_length: int
  student: zh_student.CharNgramStudent | None = None

  @classmethod
  def load(cls, config: ml_collections.ConfigDict) -> "FrozenTower":
    """The tokenizer, weights, max_length and zh_student (if any) of the `text` section."""
    tokenizer = tokenizer_lib.PromptTokenizer.from_file(config.tokenizer)
    tower, params = load_text_encoder(config, tokenizer.vocab_size)
    student = None
    if spec := config.get("zh_student"):
      # Read where it is (a remote file too): unlike the tower's readers, it needs no local copy.
      path = weights.resolve(spec) if spec.startswith(weights.PACKAGE_PREFIX) else spec
      student = zh_student.CharNgramStudent.load(path)
    return cls(tokenizer, tower, jax.tree.map(jnp.asarray, params), config.max_length, student)

  def encode_tokens(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """int32 [B, L] word pieces and mask -> float32 [B, E] pooled vectors, no gradient."""
    pooled = self.tower.apply({"params": self.params}, input_ids, attention_mask)["pooled"]
    return jax.lax.stop_gradient(pooled.astype(jnp.float32))

  def encode_prompts(self, prompts: Sequence[str]) -> jax.Array:
    """B strings -> float32 [B, E]; with a student, CJK prompts are read by it.

    Every prompt is tokenized first, so an empty or over-long one raises InputError naming it.
    A CJK prompt with characters the student never saw gets one warning line naming them.
    """
    prompts = list(prompts)
    tokens = self.tokenizer.encode(prompts, self.max_length)
    vectors = self.encode_tokens(tokens["input_ids"], tokens["attention_mask"])
    chinese = [i for i, p in enumerate(prompts) if self.student and zh_student.has_cjk(p)]
    if not chinese:
      return vectors
    for i in chinese:
      unseen = self.student.unseen_characters(prompts[i])
      if unseen:
        _warn_unseen(prompts[i], " ".join(unseen))
    read = self.student.encode([prompts[i] for i in chinese])
    return vectors.at[jnp.asarray(chinese)].set(jnp.asarray(read))
