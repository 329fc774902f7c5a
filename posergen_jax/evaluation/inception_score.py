"""Inception Score (Salimans et al. 2016) from class predictions, on the host in float64.

IS = exp(E_x KL(p(y|x) || p(y))), computed on each of `num_splits` equal splits of the samples
(10 by convention) with p(y) the split's mean prediction; reported as the mean and std over splits.
As in the original code, each split holds N // num_splits samples and the remainder is left out.

The published numbers use the 2015 TF Inception's 1008-way softmax. The FID network shipped
offline (`models/inception.py`) stops at pool3; its head comes from a user's pytorch-fid or
torch-fidelity weights file (`inception.load_classifier`), applied to the pool3 features in
`generated_images.GeneratedImageMetrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import scipy.special


def inception_score(
    predictions: np.ndarray, num_splits: int = 10, from_logits: bool = False
) -> tuple[float, float]:
  """Inception Score of class predictions.

  Args:
    predictions: [N, K] class probabilities (rows sum to 1), or logits when `from_logits`.
    num_splits: how many equal splits to score; N must be at least this.
    from_logits: apply a softmax (in float64) first.

  Returns:
    (mean, std) of exp(mean_x KL(p(y|x) || p(y))) over the splits.
  """
  predictions = np.asarray(predictions, np.float64)
  if predictions.ndim != 2 or predictions.shape[0] < num_splits or num_splits < 1:
    raise ValueError(
        f"inception_score needs [N >= num_splits={num_splits}, K] predictions; got "
        f"shape {predictions.shape}"
    )
  if from_logits:
    probs = scipy.special.softmax(predictions, axis=1)
  else:
    probs = predictions
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
      raise ValueError(
          "inception_score predictions must be probabilities (rows >= 0 summing to "
          "1); pass from_logits=True for logits"
      )
  size = probs.shape[0] // num_splits
  scores = []
  for k in range(num_splits):
    part = probs[k * size : (k + 1) * size]
    marginal = part.mean(axis=0, keepdims=True)
    kl = scipy.special.rel_entr(part, marginal).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def inception_score_of_images(
    logits_fn: Callable[[np.ndarray], np.ndarray],
    image_batches: Iterable[np.ndarray],
    num_splits: int = 10,
) -> tuple[float, float]:
  """Inception Score of images classified by `logits_fn`.

  Args:
    logits_fn: images [B, H, W, 3] -> logits [B, K] (the caller's classifier, e.g. the TF
      Inception's 1008-way head; any preprocessing it needs is its own).
    image_batches: the images to score, in batches.
    num_splits: see `inception_score`.

  Returns:
    (mean, std) as `inception_score`.
  """
  logits = [np.asarray(logits_fn(batch), np.float64) for batch in image_batches]
  if not logits:
    raise ValueError("inception_score_of_images got no image batches")
  return inception_score(np.concatenate(logits), num_splits, from_logits=True)
