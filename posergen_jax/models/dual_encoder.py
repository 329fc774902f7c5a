"""A CLIP-style dual encoder: an image CNN and a text tower projected into one joint space.

The in-domain text–image encoder (configs/text_image_encoder.py) trains it contrastively on a
dataset's image–caption pairs. Its text side gives conditioning vectors where no pretrained text
weights exist, and the pair of towers scores generated images against captions (R-precision).
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class ImageEncoder(nn.Module):
  """Images float [B,S,S,C] in [-1, 1] -> float32 features [B, widths[-1]].

  A 3×3 conv at `widths[0]`, then per further width a stride-2 3×3 conv, GroupNorm and SiLU, then
  the mean over positions.

  Attributes:
    widths: channels of the stem and of each downsampling conv.
    dtype: compute dtype; parameters and the output are float32.
  """

  widths: Sequence[int] = (32, 64, 128, 256)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    if images.ndim != 4:
      raise ValueError(f"ImageEncoder takes images [B,S,S,C]; got shape {images.shape}")
    x = nn.Conv(self.widths[0], (3, 3), dtype=self.dtype, name="stem")(images.astype(self.dtype))
    for i, width in enumerate(self.widths[1:]):
      x = nn.Conv(width, (3, 3), strides=(2, 2), dtype=self.dtype, name=f"down{i}")(x)
      x = nn.GroupNorm(num_groups=min(8, width), dtype=self.dtype, name=f"norm{i}")(x)
      x = nn.silu(x)
    return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


class DualEncoder(nn.Module):
  """(images, text inputs) -> unit-norm embeddings in the joint space and the logit scale.

  Attributes:
    image_encoder: images [B,S,S,C] -> float32 [B,F].
    text_tower: called with the text inputs as keyword arguments -> [B,T], or a dict whose
      'pooled' entry is (BertTextTower).
    emb_dim: width of the joint space; each side has a linear projection into it.
    init_temperature: CLIP's initial softmax temperature; the logit scale 1/temperature is
      learnt in log space and capped at `max_logit_scale`.
    max_logit_scale: CLIP's cap, 100.
  """

  image_encoder: nn.Module
  text_tower: nn.Module
  emb_dim: int = 256
  init_temperature: float = 0.07
  max_logit_scale: float = 100.0

  def setup(self):
    self.image_projection = nn.Dense(self.emb_dim, use_bias=False)
    self.text_projection = nn.Dense(self.emb_dim, use_bias=False)
    self.log_logit_scale = self.param(
        "log_logit_scale", nn.initializers.constant(-jnp.log(self.init_temperature)), ()
    )

  def encode_images(self, images: jax.Array) -> jax.Array:
    """Images [B,S,S,C] in [-1, 1] -> float32 unit vectors [B,emb_dim]."""
    return unit(self.image_projection(self.image_encoder(images)))

  def encode_text(self, text: dict[str, jax.Array]) -> jax.Array:
    """Text inputs (the tower's keyword arguments, e.g. {'ids'} or {'input_ids',
    'attention_mask'}, each int [B,L]) -> float32 unit vectors [B,emb_dim]."""
    features = self.text_tower(**text)  # A BERT tower runs without dropout.
    if isinstance(features, dict):
      features = features["pooled"]
    return unit(self.text_projection(features.astype(jnp.float32)))

  def logit_scale(self) -> jax.Array:
    """The float32 scalar that multiplies cosine similarities into logits."""
    return jnp.minimum(jnp.exp(self.log_logit_scale), self.max_logit_scale)

  def __call__(
      self, images: jax.Array, text: dict[str, jax.Array]
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """-> (image embeddings [B,E], text embeddings [B,E], logit scale [])."""
    return self.encode_images(images), self.encode_text(text), self.logit_scale()


def unit(x: jax.Array) -> jax.Array:
  """Rows of x [..., E] scaled to unit length (zero rows stay zero)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def contrastive_loss(
    image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array
) -> jax.Array:
  """CLIP's symmetric InfoNCE loss -> float32 scalar.

  image_emb and text_emb are [B,E] unit vectors paired by row; the logits are
  `logit_scale · image_emb @ text_emb.T`, and the loss is the mean of the image→text and
  text→image cross-entropies with the matching row as the label. Equals log(B) when every
  similarity is equal.
  """
  logits = logit_scale * image_emb @ text_emb.T
  labels = jnp.arange(logits.shape[0])
  log_image_to_text = jax.nn.log_softmax(logits, axis=1)
  log_text_to_image = jax.nn.log_softmax(logits, axis=0)
  return -0.5 * (
      jnp.mean(log_image_to_text[labels, labels]) + jnp.mean(log_text_to_image[labels, labels])
  )


def retrieval_ranks(scores: jax.Array) -> jax.Array:
  """Rank int32 [B] of each row's own column among its scores [B,B] (0 = retrieved first).

  Ties count against the match: a row whose scores are all equal has rank B-1.
  """
  matched = jnp.diagonal(scores)
  others = scores >= matched[:, None]
  return jnp.sum(others, axis=1).astype(jnp.int32) - 1
