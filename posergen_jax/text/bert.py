"""BERT-family text tower (BERT, RoBERTa-wwm, MiniLM) in linen, laid out like Hugging Face's
BertModel.

The network is HF `BertModel` without its pooler: word + position + token-type embeddings with
LayerNorm and dropout, then `num_layers` post-LN transformer layers (self-attention over the
unpadded tokens, GELU MLP), then a pooling of the last hidden states: the [CLS] token (Chinese-CLIP,
which skips BERT's tanh pooler) or the mean over real tokens (sentence-transformers), and an
optional bias-free projection (Chinese-CLIP's `text_projection` to the joint image-text space).

Parameters mirror HF names so that `load_weights` maps them one to one:
`embeddings/{word_embeddings,position_embeddings,token_type_embeddings}/embedding`,
`embeddings/LayerNorm`, `layer_<i>/attention/{query,key,value,output,LayerNorm}`,
`layer_<i>/{intermediate,output,output_LayerNorm}` and `projection/kernel`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# HF `hidden_act` -> activation; "gelu" is the exact (erf) GELU, as in HF and the original BERT.
ACTIVATIONS = {
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_new": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "relu": jax.nn.relu,
}
POOLINGS = ("cls", "mean")

# HF config.json key -> BertConfig field. Chinese-CLIP's own text configs spell the same keys
# with a `text_` prefix (e.g. `text_hidden_size`), which `from_hf_json` also accepts.
_HF_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "layer_norm_eps": "layer_norm_eps",
    "hidden_act": "hidden_act",
    "hidden_dropout_prob": "dropout_rate",
    "attention_probs_dropout_prob": "attention_dropout_rate",
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Sizes of a BERT text tower (defaults: BERT-base), its pooling and optional projection.

  Attributes:
    vocab_size: word-piece vocabulary size.
    hidden_size: width H of every layer.
    num_layers: transformer layers.
    num_heads: attention heads; must divide hidden_size.
    intermediate_size: MLP width.
    max_position_embeddings: longest input the position table covers.
    type_vocab_size: token-type (segment) ids.
    layer_norm_eps: LayerNorm epsilon.
    hidden_act: MLP activation, a key of ACTIVATIONS.
    dropout_rate: dropout on embeddings and after each sublayer (train only).
    attention_dropout_rate: dropout on attention probabilities (train only).
    pooling: 'cls' (hidden state of the first token) or 'mean' (mean over real tokens).
    projection_dim: width P of a bias-free projection of the pooled vector; None for none.
  """

  vocab_size: int = 30522
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  intermediate_size: int = 3072
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_act: str = "gelu"
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  pooling: str = "cls"
  projection_dim: int | None = None

  def __post_init__(self):
    if self.hidden_size % self.num_heads:
      raise ValueError(
          f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
          f"num_heads {self.num_heads}"
      )
    if self.hidden_act not in ACTIVATIONS:
      raise ValueError(
          f"BertConfig: hidden_act {self.hidden_act!r} is not one of {sorted(ACTIVATIONS)}"
      )
    if self.pooling not in POOLINGS:
      raise ValueError(f"BertConfig: pooling {self.pooling!r} is not one of {POOLINGS}")

  @classmethod
  def from_hf_json(cls, path: str | os.PathLike, **overrides: Any) -> BertConfig:
    """The config in a Hugging Face BERT `config.json` (or a Chinese-CLIP `text_*` config).

    Args:
      path: the json file.
      **overrides: fields the json does not hold, e.g. pooling='mean', projection_dim=512.

    Returns:
      A BertConfig; keys the json lacks keep BERT-base defaults, unrelated keys are ignored.
    """
    with open(path, encoding="utf-8") as f:
      raw = json.load(f)
    fields = {}
    for hf_key, field in _HF_KEYS.items():
      for key in (hf_key, f"text_{hf_key}"):
        if key in raw:
          fields[field] = raw[key]
    return cls(**{**fields, **overrides})


# all-MiniLM-L6-v2 (sentence-transformers): 6 layers of width 384, mean pooling.
MINILM_L6 = BertConfig(
    vocab_size=30522,
    hidden_size=384,
    num_layers=6,
    num_heads=12,
    intermediate_size=1536,
    pooling="mean",
)
# Chinese-CLIP's text tower: RoBERTa-wwm-ext-base-chinese, [CLS] pooling, projection to 512.
CHINESE_CLIP_ROBERTA_BASE = BertConfig(
    vocab_size=21128,
    hidden_size=768,
    num_layers=12,
    num_heads=12,
    intermediate_size=3072,
    pooling="cls",
    projection_dim=512,
)
# A test-sized tower.
TINY = BertConfig(
    vocab_size=128,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    pooling="mean",
)
PRESETS = {
    "minilm_l6": MINILM_L6,
    "chinese_clip_roberta_base": CHINESE_CLIP_ROBERTA_BASE,
    "tiny": TINY,
}

_init = nn.initializers.normal(stddev=0.02)  # BERT's initializer_range.


class BertEmbeddings(nn.Module):
  """Word + position + token-type embeddings, LayerNorm, dropout: [B,L] ids -> [B,L,H] dtype."""

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self, input_ids: jax.Array, token_type_ids: jax.Array, deterministic: bool
  ) -> jax.Array:
    cfg = self.config
    embed = functools.partial(
        nn.Embed, features=cfg.hidden_size, dtype=self.dtype, embedding_init=_init
    )
    positions = jnp.arange(input_ids.shape[1])[None]
    x = (
        embed(cfg.vocab_size, name="word_embeddings")(input_ids)
        + embed(cfg.max_position_embeddings, name="position_embeddings")(positions)
        + embed(cfg.type_vocab_size, name="token_type_embeddings")(token_type_ids)
    )
    x = nn.LayerNorm(cfg.layer_norm_eps, dtype=self.dtype, name="LayerNorm")(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


def _split_heads(x: jax.Array, num_heads: int) -> jax.Array:
  """[B,L,H] -> [B,L,num_heads,H/num_heads]."""
  return x.reshape(*x.shape[:2], num_heads, -1)


class BertAttention(nn.Module):
  """Post-LN self-attention block: LayerNorm(x + Dense(attention(x))), [B,L,H] -> [B,L,H]."""

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
    """x [B,L,H]; mask bool [B,1,1,L], True on keys that may be attended to."""
    cfg = self.config
    dense = functools.partial(nn.Dense, cfg.hidden_size, dtype=self.dtype, kernel_init=_init)
    dropout_rng = None
    if not deterministic and cfg.attention_dropout_rate > 0:
      dropout_rng = self.make_rng("dropout")
    context = nn.dot_product_attention(
        *(_split_heads(dense(name=name)(x), cfg.num_heads) for name in ("query", "key", "value")),
        mask=mask,
        dropout_rng=dropout_rng,
        dropout_rate=cfg.attention_dropout_rate,
        broadcast_dropout=False,
        deterministic=deterministic,
        dtype=self.dtype,
    )
    y = dense(name="output")(context.reshape(x.shape))
    y = nn.Dropout(cfg.dropout_rate)(y, deterministic=deterministic)
    return nn.LayerNorm(cfg.layer_norm_eps, dtype=self.dtype, name="LayerNorm")(y + x)


class BertLayer(nn.Module):
  """One post-LN transformer layer (HF `BertLayer`): [B,L,H] -> [B,L,H]."""

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
    """x [B,L,H]; mask bool [B,1,1,L], True on keys that may be attended to."""
    cfg = self.config
    x = BertAttention(cfg, self.dtype, name="attention")(x, mask, deterministic)
    h = nn.Dense(cfg.intermediate_size, dtype=self.dtype, kernel_init=_init, name="intermediate")(x)
    h = nn.Dense(cfg.hidden_size, dtype=self.dtype, kernel_init=_init, name="output")(
        ACTIVATIONS[cfg.hidden_act](h)
    )
    h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
    return nn.LayerNorm(cfg.layer_norm_eps, dtype=self.dtype, name="output_LayerNorm")(h + x)


def pool(sequence: jax.Array, attention_mask: jax.Array, pooling: str) -> jax.Array:
  """Pools hidden states into one vector per prompt.

  Args:
    sequence: [B,L,H] hidden states (any float dtype).
    attention_mask: [B,L], nonzero on real tokens.
    pooling: 'cls' (state of the first token) or 'mean' (sentence-transformers' masked mean).

  Returns:
    float32 [B,H].
  """
  sequence = sequence.astype(jnp.float32)
  if pooling == "cls":
    return sequence[:, 0]
  weights = (attention_mask != 0).astype(jnp.float32)[..., None]
  return (sequence * weights).sum(1) / jnp.maximum(weights.sum(1), 1e-9)


class BertTextTower(nn.Module):
  """A BERT text encoder, its pooling and optional projection; float32 params.

  Attributes:
    config: sizes, pooling and projection.
    dtype: compute dtype of the transformer (pooling and projection run in float32).
  """

  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self,
      input_ids: jax.Array,
      attention_mask: jax.Array,
      token_type_ids: jax.Array | None = None,
      train: bool = False,
  ) -> dict[str, jax.Array]:
    """Encodes tokenized prompts.

    Args:
      input_ids: int32 [B,L] word-piece ids.
      attention_mask: int [B,L], 1 on real tokens, 0 on padding.
      token_type_ids: int32 [B,L] segment ids; zeros when None.
      train: enables dropout (needs a 'dropout' rng).

    Returns:
      {"sequence": [B,L,H] last hidden states in `dtype`,
       "pooled": float32 [B,H], or [B,P] when config.projection_dim is set}.
    """
    cfg = self.config
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
      raise ValueError(
          f"BertTextTower: input_ids and attention_mask must both be [B,L]; got "
          f"{input_ids.shape} and {attention_mask.shape}"
      )
    if input_ids.shape[1] > cfg.max_position_embeddings:
      raise ValueError(
          f"BertTextTower: {input_ids.shape[1]} tokens exceed the "
          f"{cfg.max_position_embeddings} positions this model has"
      )
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    deterministic = not train
    x = BertEmbeddings(cfg, self.dtype, name="embeddings")(input_ids, token_type_ids, deterministic)
    mask = (attention_mask != 0)[:, None, None, :]
    for i in range(cfg.num_layers):
      x = BertLayer(cfg, self.dtype, name=f"layer_{i}")(x, mask, deterministic)
    pooled = pool(x, attention_mask, cfg.pooling)
    if cfg.projection_dim is not None:
      pooled = nn.Dense(cfg.projection_dim, use_bias=False, kernel_init=_init, name="projection")(
          pooled
      )
    return {"sequence": x, "pooled": pooled}
