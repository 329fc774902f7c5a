"""R-precision (Xu et al. 2018, AttnGAN): does a generated image retrieve its own caption?

Each generated image is scored against `num_candidates` captions: the one it was generated from
and `num_candidates - 1` others drawn at random from the rest of the evaluated captions. With
R = 1 (one relevant caption), R-precision is the fraction of images whose own caption has the
highest cosine similarity (ties count as misses). Chance is 1 / num_candidates. The embeddings
come from an in-domain text–image encoder trained on the same dataset
(families/text_image_encoder.py), on the host in float64.
"""

from collections.abc import Callable, Mapping
import logging

import jax
from jax.experimental import multihost_utils
import numpy as np

from posergen_jax.io import errors

# AttnGAN's setting: the true caption and 99 mismatched ones.
NUM_CANDIDATES = 100

# (generated images [B,H,W,3] in [-1, 1], eval batch) -> unit (image_emb, text_emb) [B,E] each.
EmbedFn = Callable[[jax.Array, Mapping[str, jax.Array]], tuple[jax.Array, jax.Array]]


def r_precision(
    image_emb: np.ndarray, text_emb: np.ndarray, num_candidates: int = NUM_CANDIDATES, seed: int = 0
) -> float:
  """R-precision (R = 1) of N image–caption pairs.

  Args:
    image_emb: [N, E] unit embeddings of the generated images.
    text_emb: [N, E] unit embeddings of the captions they were generated from (row i ↔ row i).
    num_candidates: captions each image is ranked against, its own included; at most N.
    seed: draws the mismatched captions.

  Returns:
    The fraction of images whose own caption scores strictly above all mismatched candidates.
  """
  n = len(image_emb)
  if not 2 <= num_candidates <= n:
    raise errors.ConfigError(
        f"R-precision with {num_candidates} candidates needs at least that many "
        f"evaluated captions; got {n}."
    )
  rng = np.random.default_rng(seed)
  # Row i: num_candidates - 1 distinct indices among the N - 1 other captions.
  others = np.argsort(rng.random((n, n - 1)), axis=1)[:, : num_candidates - 1]
  others += others >= np.arange(n)[:, None]
  image_emb, text_emb = np.asarray(image_emb, np.float64), np.asarray(text_emb, np.float64)
  own = np.einsum("ne,ne->n", image_emb, text_emb)
  mismatched = np.einsum("ne,nke->nk", image_emb, text_emb[others])
  return float(np.mean(own > mismatched.max(axis=1)))


class RPrecision:
  """Accumulates embeddings of generated images and their captions batch by batch."""

  def __init__(self, embed_fn: EmbedFn, num_candidates: int = NUM_CANDIDATES):
    self._embed_fn = embed_fn
    self.num_candidates = num_candidates
    self._image_emb: list[np.ndarray] = []
    self._text_emb: list[np.ndarray] = []

  def add(self, generated: jax.Array, batch: Mapping[str, jax.Array]) -> None:
    """Adds a global batch of generated images [B,H,W,3] and the eval batch they came from."""
    for embeddings, out in zip(self._embed_fn(generated, batch), (self._image_emb, self._text_emb)):
      out.append(np.asarray(multihost_utils.process_allgather(embeddings, tiled=True)))

  def result(self) -> dict[str, float]:
    """{'r_precision', 'r_precision_candidates'} over everything added. With fewer captions
    than `num_candidates`, every other caption is a candidate (and the table says how many)."""
    image_emb, text_emb = np.concatenate(self._image_emb), np.concatenate(self._text_emb)
    candidates = min(self.num_candidates, len(image_emb))
    if candidates < self.num_candidates:
      logging.warning(
          "R-precision over %d captions: %d candidates instead of %d.",
          len(image_emb),
          candidates,
          self.num_candidates,
      )
    return {
        "r_precision": r_precision(image_emb, text_emb, candidates),
        "r_precision_candidates": candidates,
    }
