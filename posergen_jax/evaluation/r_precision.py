"""R-precision (Xu et al. 2018, AttnGAN): does a generated image retrieve its own caption?

Each generated image is scored against `num_candidates` captions: the one it was generated from
and `num_candidates - 1` others drawn at random from the captions of the other evaluated images
(another caption of the same image is never a mismatch). With R = 1 (one relevant caption),
R-precision is the fraction of images whose own caption has the highest cosine similarity (ties
count as misses). Chance is 1 / num_candidates. The figure is a mean over several draws of the
candidates, with a standard error over the captions; the captions' real images, scored the same
way, give the ceiling. The embeddings come from an in-domain text–image encoder trained on the
same dataset (families/text_image_encoder.py), on the host in float64.
"""

from collections.abc import Callable, Mapping
import logging

import jax
from jax.experimental import multihost_utils
import numpy as np

from posergen_jax.io import errors

# AttnGAN's setting: the true caption and 99 mismatched ones.
NUM_CANDIDATES = 100
# Batch feature: which image each evaluated caption describes (several captions per image).
GROUP_KEY = "caption_group"

# (generated images [B,H,W,3] in [-1, 1], eval batch) -> unit (image_emb, text_emb) [B,E] each.
EmbedFn = Callable[[jax.Array, Mapping[str, jax.Array]], tuple[jax.Array, jax.Array]]


def fewest_other_captions(groups: np.ndarray) -> int:
  """The fewest captions of other images any of the captions (groups [N]) has."""
  return int((groups[None, :] != groups[:, None]).sum(axis=1).min()) if len(groups) else 0


def candidate_indices(
    groups: np.ndarray, num_candidates: int, rng: np.random.Generator
) -> np.ndarray:
  """For each of N captions, `num_candidates - 1` distinct others from other groups: int [N, K-1].

  Args:
    groups: [N] the image each caption describes (captions of one image share a group; a
      caption of the same image is never a mismatched candidate).
    num_candidates: K, the own caption included.
    rng: draws the candidates.

  Raises:
    ConfigError: some caption has fewer than K - 1 captions of other groups.
  """
  n = len(groups)
  fewest = fewest_other_captions(groups)
  if not 2 <= num_candidates <= fewest + 1:
    raise errors.ConfigError(
        f"R-precision with {num_candidates} candidates needs at least {num_candidates - 1} "
        f"captions of other images for every caption; the evaluated set has {fewest} "
        f"({n} captions)."
    )
  # Random keys, +inf where not allowed: the K-1 smallest are a uniform draw of allowed ones.
  keys = np.where(groups[None, :] != groups[:, None], rng.random((n, n)), np.inf)
  return np.argsort(keys, axis=1)[:, : num_candidates - 1]


def hits(image_emb: np.ndarray, text_emb: np.ndarray, others: np.ndarray) -> np.ndarray:
  """Whether each image's own caption scores strictly above all its candidates: bool [N].

  Args:
    image_emb, text_emb: [N, E] unit embeddings, row i ↔ row i.
    others: int [N, K-1], the mismatched candidates of each row.
  """
  image_emb, text_emb = np.asarray(image_emb, np.float64), np.asarray(text_emb, np.float64)
  own = np.einsum("ne,ne->n", image_emb, text_emb)
  mismatched = np.einsum("ne,nke->nk", image_emb, text_emb[others])
  return own > mismatched.max(axis=1)


def r_precision(
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    num_candidates: int = NUM_CANDIDATES,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> float:
  """R-precision (R = 1) of N image–caption pairs, over one draw of candidates.

  Args:
    image_emb: [N, E] unit embeddings of the generated images.
    text_emb: [N, E] unit embeddings of the captions they were generated from (row i ↔ row i).
    num_candidates: captions each image is ranked against, its own included.
    seed: draws the mismatched captions.
    groups: [N] which image each caption describes (None: every caption its own).

  Returns:
    The fraction of images whose own caption scores strictly above all mismatched candidates.
  """
  groups = np.arange(len(image_emb)) if groups is None else np.asarray(groups)
  others = candidate_indices(groups, num_candidates, np.random.default_rng(seed))
  return float(np.mean(hits(image_emb, text_emb, others)))


def r_precision_over_draws(
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    groups: np.ndarray,
    num_candidates: int = NUM_CANDIDATES,
    num_draws: int = 5,
) -> tuple[float, float]:
  """(mean, standard error) of R-precision over `num_draws` draws of candidates (seeds 0, 1,
  ...).

  The standard error is over the evaluated captions: each caption's hit rate over the draws,
  std / sqrt(N). It measures how much the figure would move with another set of captions of
  the same size, the uncertainty that decides whether two models differ.
  """
  rates = np.mean(
      [
          hits(
              image_emb,
              text_emb,
              candidate_indices(groups, num_candidates, np.random.default_rng(seed)),
          )
          for seed in range(num_draws)
      ],
      axis=0,
  )
  stderr = float(np.std(rates, ddof=1) / np.sqrt(len(rates))) if len(rates) > 1 else 0.0
  return float(np.mean(rates)), stderr


class RPrecision:
  """Accumulates embeddings of generated images, real images and their captions batch by batch.

  The real images' score is the ceiling: what the encoder gives the captions' own images.
  """

  def __init__(
      self,
      embed_fn: EmbedFn,
      num_candidates: int = NUM_CANDIDATES,
      num_draws: int = 5,
      real_key: str | None = None,
  ):
    """`real_key`: the batch feature holding the captions' real images (for the ceiling), or
    None for no ceiling."""
    self._embed_fn = embed_fn
    self._real_key = real_key
    self.num_candidates = num_candidates
    self.num_draws = num_draws
    self._parts: dict[str, list[np.ndarray]] = {"image": [], "text": [], "real": [], "group": []}

  def _gather(self, part: str, x: jax.Array) -> None:
    self._parts[part].append(np.asarray(multihost_utils.process_allgather(x, tiled=True)))

  def add(self, generated: jax.Array, batch: Mapping[str, jax.Array]) -> None:
    """Adds a global batch of generated images [B,H,W,3] and the eval batch they came from (with
    GROUP_KEY [B], the image each caption describes, when captions share images, and the real
    images [B,H,W,3] under `real_key`, when given)."""
    image_emb, text_emb = self._embed_fn(generated, batch)
    self._gather("image", image_emb)
    self._gather("text", text_emb)
    if self._real_key is not None:
      self._gather("real", self._embed_fn(batch[self._real_key], batch)[0])
    if GROUP_KEY in batch:
      self._gather("group", batch[GROUP_KEY])

  def result(self) -> dict[str, float]:
    """{'r_precision', 'r_precision_stderr', 'r_precision_real' (the ceiling, when real images
    were added) and its stderr, 'r_precision_candidates', 'r_precision_captions',
    'r_precision_draws'} over everything added. With too few captions for `num_candidates`,
    every caption of another image is a candidate (and the table says how many)."""
    image_emb, text_emb = np.concatenate(self._parts["image"]), np.concatenate(self._parts["text"])
    n = len(image_emb)
    groups = np.concatenate(self._parts["group"]) if self._parts["group"] else np.arange(n)
    candidates = min(self.num_candidates, fewest_other_captions(groups) + 1)
    if candidates < self.num_candidates:
      logging.warning(
          "R-precision over %d captions: %d candidates instead of %d.",
          n,
          candidates,
          self.num_candidates,
      )
    score, stderr = r_precision_over_draws(image_emb, text_emb, groups, candidates, self.num_draws)
    result = {"r_precision": score, "r_precision_stderr": stderr}
    if self._parts["real"]:
      real_emb = np.concatenate(self._parts["real"])
      ceiling, ceiling_stderr = r_precision_over_draws(
          real_emb, text_emb, groups, candidates, self.num_draws
      )
      result.update(r_precision_real=ceiling, r_precision_real_stderr=ceiling_stderr)
    return {
        **result,
        "r_precision_candidates": candidates,
        "r_precision_captions": n,
        "r_precision_draws": self.num_draws,
    }
