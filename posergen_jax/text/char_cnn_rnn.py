"""Char-CNN-RNN sentence encoder and joint-embedding loss (Reed et al. 2016, CVPR).

"Learning Deep Representations of Fine-Grained Visual Descriptions" embeds a caption by running a
temporal CNN over one-hot characters, a recurrent layer over the few time steps the CNN leaves,
and a linear map of the time-averaged hidden state into the space of image features (GoogLeNet
1024-d on CUB). StackGAN conditions on these 1024-d vectors. The layer layout follows Reed's Torch
code (reedscot/cvpr2016 `modules/HybridCNN.lua`, reedscot/icml2016 `modules/HybridCNNLong.lua`).

Padding: as in Reed's code, every caption is a fixed-length sequence (201 characters) of one-hot
vectors, and padding and unknown characters are all-zero vectors that the network reads like any
other input (there is no mask). A caption's embedding is therefore a function of its first
`max_length` characters alone, independent of the other captions in the batch, but it does depend
on `max_length`: encode with the length the encoder was trained at.
"""

from collections.abc import Sequence
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Reed's alphabet, verbatim: '-' appears twice (positions 37 and 60, 1-based) and, as with the Lua
# table built from it, the later position wins, so position 37 is never used. There is no newline.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"/\\|_@#$%^&*~`+-=<>()[]{} "
ALPHABET_SIZE = len(ALPHABET)  # 70: the width of the one-hot input.
# Character -> 1-based position in ALPHABET; 0 is padding and unknown characters.
_CHAR_IDS = {char: i + 1 for i, char in enumerate(ALPHABET)}
# Reed's document length.
DOC_LENGTH = 201
# Recurrent cells the tower can end in (config.text.char_cnn_rnn.cell).
CELLS = ("gru", "rnn")


def encode_chars(texts: Sequence[str], max_length: int = DOC_LENGTH) -> np.ndarray:
  """Captions -> int32 [B, max_length] character ids, Reed's encoding.

  Text is lower-cased and cut to `max_length` characters; each character becomes its 1-based
  position in ALPHABET, characters outside it become 0 in place, and 0 pads the tail.
  """
  if isinstance(texts, str):
    raise TypeError(
        f"encode_chars takes a sequence of captions, not one string; got {texts[:40]!r}"
    )
  if max_length < 1:
    raise ValueError(f"encode_chars max_length must be positive; got {max_length}")
  ids = np.zeros((len(texts), max_length), np.int32)
  for row, text in enumerate(texts):
    chars = text.lower()[:max_length]
    ids[row, : len(chars)] = [_CHAR_IDS.get(c, 0) for c in chars]
  return ids


class CharCnnRnn(nn.Module):
  """Char-CNN-RNN: character ids int [B,L] -> caption embedding float32 [B,emb_dim].

  One-hot characters (id 0 -> zero vector) -> for each conv: Conv1D(k, VALID) -> ReLU -> max pool
  -> a recurrent layer over the remaining time steps -> mean of its outputs over time -> Dense.
  The defaults are Reed's CVPR hybrid net (201 characters -> 8 steps) with the GRU and 512-wide
  CNN of the released CUB encoder; `CharCnnRnnLong` is that released encoder's exact layout.

  The recurrent cells are flax's: 'rnn' (SimpleCell with ReLU, h_0 = 0) computes Reed's FixedRNN
  (its two biases merged); 'gru' is flax's GRUCell from h_0 = 0, which differs from Reed's FixedGRU
  in applying the reset gate after the hidden projection and in gating the first step.

  Attributes:
    emb_dim: output width; the image-feature width of the joint space (GoogLeNet: 1024).
    conv_features: widths of the convs before the last one.
    cnn_dim: width of the last conv and of the recurrent state (Reed: 256 default, 512 for CUB).
    kernel_size: temporal kernel of every conv.
    pools: (window, stride) of the max pool after each conv, None for no pool; one per conv.
    cell: 'gru' or 'rnn'.
    dtype: compute dtype; parameters and the output are float32.
  """

  emb_dim: int = 1024
  conv_features: Sequence[int] = (384, 512)
  cnn_dim: int = 512
  kernel_size: int = 4
  pools: Sequence[tuple[int, int] | None] = ((3, 3), (3, 3), (3, 2))
  cell: str = "gru"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids: jax.Array) -> jax.Array:
    """ids int [B,L] (0 = padding/unknown, else 1..ALPHABET_SIZE) -> float32 [B,emb_dim]."""
    features = (*self.conv_features, self.cnn_dim)
    if len(self.pools) != len(features):
      raise ValueError(
          f"CharCnnRnn needs one pool entry per conv ({len(features)}); got pools={self.pools}"
      )
    if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
      raise ValueError(f"CharCnnRnn ids must be integer [B,L]; got {ids.dtype} {ids.shape}")
    if self.cell not in CELLS:
      raise ValueError(f"CharCnnRnn cell must be one of {CELLS}; got {self.cell!r}")
    cells = {"gru": nn.GRUCell, "rnn": functools.partial(nn.SimpleCell, activation_fn=nn.relu)}

    x = jax.nn.one_hot(ids - 1, ALPHABET_SIZE, dtype=self.dtype)  # id 0 -> all zeros
    for i, (width, pool) in enumerate(zip(features, self.pools)):
      if x.shape[1] < self.kernel_size + (pool[0] - 1 if pool else 0):
        raise ValueError(
            f"CharCnnRnn input of length {ids.shape[1]} is too short for conv {i} "
            f"of {self.kernel_size}, pool {pool}"
        )
      x = nn.Conv(
          width,
          (self.kernel_size,),
          padding="VALID",
          dtype=self.dtype,
          param_dtype=jnp.float32,
          name=f"conv{i}",
      )(x)
      x = nn.relu(x)
      if pool:
        x = nn.max_pool(x, (pool[0],), strides=(pool[1],))
    rnn = nn.RNN(
        cells[self.cell](self.cnn_dim, dtype=self.dtype, param_dtype=jnp.float32), name="rnn"
    )
    h = jnp.mean(rnn(x).astype(jnp.float32), axis=1)
    return nn.Dense(self.emb_dim, dtype=self.dtype, param_dtype=jnp.float32, name="fc")(h).astype(
        jnp.float32
    )


# Layout of Reed's released CUB encoder (icml2016, `lm_sje_nc4_cub_hybrid_gru18_a1_c512`), which
# computed StackGAN's `char-CNN-RNN-embeddings.pickle`: no pool after the last conv, so 201
# characters leave 18 GRU steps.
CharCnnRnnLong = functools.partial(CharCnnRnn, pools=((3, 3), (3, 3), None))


def joint_embedding_loss(text_emb: jax.Array, image_emb: jax.Array, labels: jax.Array) -> jax.Array:
  """Reed et al.'s symmetric structured joint embedding (SJE) hinge loss -> float32 scalar.

  text_emb [B,E] and image_emb [B,E] are paired by row; labels int [B] are their classes. With
  compatibility s(v, t) = <v, t>, each image i is hinged against every text j of another class,
  max(0, 1 + s(v_i, t_j) - s(v_i, t_i)), and each text i against every image j of another class,
  max(0, 1 + s(v_j, t_i) - s(v_i, t_i)). As in Reed's `JointEmbeddingLoss` (symmetric=1), both sums
  are divided by B*B, the number of (image, text) pairs, and added. Same-class pairs contribute 0.
  """
  if text_emb.ndim != 2 or text_emb.shape != image_emb.shape:
    raise ValueError(
        "joint_embedding_loss needs text_emb and image_emb of one shape [B,E]; got "
        f"{text_emb.shape} and {image_emb.shape}"
    )
  if labels.shape != text_emb.shape[:1]:
    raise ValueError(
        f"joint_embedding_loss labels must be [{text_emb.shape[0]}]; got {labels.shape}"
    )
  scores = image_emb.astype(jnp.float32) @ text_emb.astype(jnp.float32).T  # [image, text]
  matched = jnp.diagonal(scores)
  negative = labels[:, None] != labels[None, :]
  image_to_text = jnp.maximum(0.0, 1.0 + scores - matched[:, None])
  text_to_image = jnp.maximum(0.0, 1.0 + scores - matched[None, :])
  return jnp.sum(jnp.where(negative, image_to_text + text_to_image, 0.0)) / labels.shape[0] ** 2
