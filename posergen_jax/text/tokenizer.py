"""Word-piece tokenization of prompts (Chinese or English) for BERT text towers, with prompt checks.

Wraps transformers' `BertTokenizer` (in transformers 5 the Rust `tokenizers` backed one), loaded
from a `tokenizer.json` or a BERT `vocab.txt` (e.g. Chinese-CLIP's RoBERTa-wwm vocab of 21,128
pieces). Prompts are checked before they reach a model, each failure in one line naming the
prompt by index and repr:
- control characters are stripped (tabs and newlines become spaces);
- an empty or whitespace-only prompt raises ValueError;
- a prompt whose word pieces are all [UNK] (no character the vocabulary knows) raises ValueError;
- a prompt longer than `max_length` tokens is truncated, with a logging warning.
"""

from __future__ import annotations

from collections.abc import Sequence
import logging
import os
import unicodedata

import numpy as np
import transformers

from posergen_jax.io import errors, weights

_SHOWN_CHARS = 60  # How much of a prompt an error message quotes.


def clean_prompt(prompt: str) -> str:
  """The prompt with whitespace controls (\\t, \\n, ...) as spaces and other control/format
  characters removed."""
  kept = []
  for char in prompt:
    if unicodedata.category(char) in ("Cc", "Cf"):
      if char.isspace():
        kept.append(" ")
    else:
      kept.append(char)
  return "".join(kept)


def describe_prompt(index: int, prompt: str) -> str:
  """`prompt 3 'text...'`: how messages name a prompt (its index and a shortened repr)."""
  shown = prompt if len(prompt) <= _SHOWN_CHARS else prompt[:_SHOWN_CHARS] + "..."
  return f"prompt {index} {shown!r}"


class PromptTokenizer:
  """Turns prompts into padded word-piece id arrays for a BERT text tower.

  Attributes:
    tokenizer: the wrapped transformers BERT tokenizer.
  """

  def __init__(self, tokenizer: transformers.PreTrainedTokenizerBase):
    self.tokenizer = tokenizer

  @classmethod
  def from_file(cls, spec: str | os.PathLike, lowercase: bool = True) -> PromptTokenizer:
    """Loads a tokenizer from a `tokenizer.json` or a BERT `vocab.txt` weights spec.

    Args:
      spec: a path or `package:<module>/<path>` (see `weights.resolve`) naming the file.
      lowercase: for a `vocab.txt`, whether prompts are lower-cased (True for uncased English
        BERT and for Chinese RoBERTa-wwm); a `tokenizer.json` carries its own normalizer.

    Raises:
      WeightsNotFoundError: `spec` names no file.
    """
    path = weights.resolve(spec)
    if path.suffix == ".json":
      return cls(transformers.BertTokenizer(tokenizer_file=str(path)))
    return cls(transformers.BertTokenizer(vocab=str(path), do_lower_case=lowercase))

  @property
  def vocab_size(self) -> int:
    """Number of word pieces, special tokens included."""
    return len(self.tokenizer)

  def encode(self, prompts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """Tokenizes, truncates and pads prompts to `max_length` tokens ([CLS] and [SEP] included).

    Args:
      prompts: B strings, Chinese or English.
      max_length: tokens per row L, at least 3.

    Returns:
      {"input_ids": int32 [B,L], "attention_mask": int32 [B,L] (1 on real tokens)}.

    Raises:
      ValueError: a prompt is empty or whitespace-only after control characters are stripped,
        or all of its word pieces are [UNK]; the message names the prompt.
    """
    if isinstance(prompts, str):
      raise TypeError(f"encode takes a sequence of prompts, not one string: {prompts!r}")
    if max_length < 3:
      raise errors.ConfigError(
          f"max_length must leave room for [CLS], a token and [SEP]; got {max_length}"
      )
    cleaned = [clean_prompt(p) for p in prompts]
    for i, (prompt, text) in enumerate(zip(prompts, cleaned)):
      if not text.strip():
        raise errors.InputError(f"{describe_prompt(i, prompt)} is empty or whitespace-only")
    full = self.tokenizer(cleaned, add_special_tokens=False, truncation=False)["input_ids"]
    for i, (prompt, ids) in enumerate(zip(prompts, full)):
      if all(t == self.tokenizer.unk_token_id for t in ids):
        raise errors.InputError(
            f"{describe_prompt(i, prompt)} has only characters the vocabulary "
            f"does not know (every word piece is {self.tokenizer.unk_token})"
        )
      if len(ids) + 2 > max_length:
        logging.warning(
            "%s has %d tokens; truncated to max_length %d",
            describe_prompt(i, prompt),
            len(ids) + 2,
            max_length,
        )
    batch = self.tokenizer(
        cleaned, padding="max_length", truncation=True, max_length=max_length, return_tensors="np"
    )
    return {
        "input_ids": batch["input_ids"].astype(np.int32),
        "attention_mask": batch["attention_mask"].astype(np.int32),
    }
