"""Fréchet Inception Distance and Kernel Inception Distance over feature sets (host, numpy).

FID (Heusel et al. 2017) compares Gaussians fitted to two sets of Inception pool3 features:
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). Statistics stream: `FeatureStats` keeps a count,
a running sum and a sum of outer products in float64, and stats from several hosts or runs merge
by adding. The covariance is the unbiased one (`np.cov`), as in pytorch-fid, and reference stats
are `.npz` files with pytorch-fid's keys `mu` and `sigma`.

KID (Bińkowski et al. 2018) is the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets as torch-fidelity and clean-fid do.
"""

from __future__ import annotations

import os

from etils import epath
import numpy as np
import scipy.linalg

from posergen_jax.io import errors, files


class FeatureStats:
  """Running first and second moments of D-dim features, in float64; mergeable.

  Attributes:
    count: how many feature vectors were added.
    total: float64 [D], their sum.
    outer: float64 [D, D], the sum of their outer products.
  """

  def __init__(self, dim: int):
    self.count = 0
    self.total = np.zeros((dim,), np.float64)
    self.outer = np.zeros((dim, dim), np.float64)

  @classmethod
  def from_features(cls, features: np.ndarray) -> FeatureStats:
    """Stats of features [N, D] (any float dtype)."""
    return cls(np.shape(features)[-1]).add(features)

  def add(self, features: np.ndarray) -> FeatureStats:
    """Adds a batch of features [B, D] in place; returns self."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[1] != self.total.shape[0]:
      raise ValueError(f"features must be [B, {self.total.shape[0]}]; got {features.shape}")
    self.count += features.shape[0]
    self.total += features.sum(axis=0)
    self.outer += features.T @ features
    return self

  def merge(self, other: FeatureStats) -> FeatureStats:
    """The stats of both feature sets together (a new object)."""
    if other.total.shape != self.total.shape:
      raise ValueError(
          f"cannot merge stats of dims {self.total.shape[0]} and {other.total.shape[0]}"
      )
    merged = FeatureStats(self.total.shape[0])
    merged.count = self.count + other.count
    merged.total = self.total + other.total
    merged.outer = self.outer + other.outer
    return merged

  def mean(self) -> np.ndarray:
    """float64 [D]: the features' mean."""
    if self.count < 1:
      raise ValueError("no features added")
    return self.total / self.count

  def covariance(self) -> np.ndarray:
    """float64 [D, D]: the unbiased covariance (ddof=1), equal to np.cov(features, rowvar=False)."""
    if self.count < 2:
      raise ValueError(f"a covariance needs at least 2 features; got {self.count}")
    mu = self.mean()
    return (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), as pytorch-fid computes it.

  Args:
    mu1, mu2: [D] means.
    sigma1, sigma2: [D, D] covariances.
    eps: when the product's square root is not finite (near-singular covariances), `eps * I` is
      added to both covariances and the root taken again.

  Returns:
    ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2)), a Python float.

  Raises:
    ValueError: mismatched shapes, or a square root whose diagonal has a significant imaginary
      part (|imag| > 1e-3), which means the covariances are not valid.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  dim = mu1.shape[0]
  if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
    raise ValueError(
        f"mismatched statistics: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
        f"mu2 {mu2.shape}, sigma2 {sigma2.shape}"
    )
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(dim) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    largest = np.max(np.abs(np.diagonal(covmean).imag))
    if largest > 1e-3:
      raise ValueError(f"FID: imaginary component {largest} in the covariance square root")
    covmean = covmean.real
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def polynomial_mmd(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 of samples x [m, D] and y [m, D] under k(a, b) = (a.b / D + 1)^3.

  The diagonals k(x_i, x_i), k(y_i, y_i) are left out of the within-set means:
  sum_{i!=j} k(x_i, x_j) / (m(m-1)) + (same for y) - 2 sum_{i,j} k(x_i, y_j) / m^2.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, dim = x.shape
  if y.shape != (m, dim) or m < 2:
    raise ValueError(
        f"polynomial_mmd needs two [m>=2, D] samples of one shape; got {x.shape}, {y.shape}"
    )
  k_xx = (x @ x.T / dim + 1.0) ** 3
  k_yy = (y @ y.T / dim + 1.0) ** 3
  k_xy = (x @ y.T / dim + 1.0) ** 3
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * k_xy.sum() / m**2)


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
  """KID: mean and std of `polynomial_mmd` over random subsets (torch-fidelity's defaults).

  Args:
    features1, features2: [N1, D] and [N2, D] features.
    num_subsets: how many subset pairs to draw.
    subset_size: rows per subset, drawn without replacement from each set; capped at
      min(N1, N2) as clean-fid does.
    seed: seeds the subset draws (numpy Generator).

  Returns:
    (mean, std) over the subsets of the unbiased MMD^2 estimate.
  """
  features1, features2 = np.asarray(features1), np.asarray(features2)
  m = min(subset_size, features1.shape[0], features2.shape[0])
  rng = np.random.default_rng(seed)
  values = [
      polynomial_mmd(
          features1[rng.choice(features1.shape[0], m, replace=False)],
          features2[rng.choice(features2.shape[0], m, replace=False)],
      )
      for _ in range(num_subsets)
  ]
  return float(np.mean(values)), float(np.std(values))


def save_reference_stats(
    path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, features: np.ndarray | None = None
) -> None:
  """Writes pytorch-fid style stats: an `.npz` with `mu` [D] and `sigma` [D, D]; atomic.

  `features` [N, D], when given, are kept too (KID needs them; pytorch-fid ignores the key).
  """
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  extra = {} if features is None else {"features": np.asarray(features)}
  with files.atomic_path(path) as partial, partial.open("wb") as f:
    np.savez(f, mu=np.asarray(mu), sigma=np.asarray(sigma), **extra)


def load_reference_features(path: str | os.PathLike) -> np.ndarray | None:
  """The `features` [N, D] kept in a reference `.npz` by `save_reference_stats`, else None."""
  with epath.Path(path).open("rb") as file, np.load(file) as f:
    return f["features"] if "features" in f.files else None


def load_reference_stats(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """(mu [D], sigma [D, D]) from an `.npz` with keys `mu` and `sigma` (pytorch-fid's format)."""
  try:
    with epath.Path(path).open("rb") as file, np.load(file) as f:
      mu, sigma = f["mu"], f["sigma"]
  except (OSError, ValueError, KeyError) as e:
    raise errors.InputError(
        f"FID reference stats {os.fspath(path)}: not an npz with `mu` and `sigma` ({e})"
    ) from e
  if mu.ndim != 1 or sigma.shape != (mu.shape[0],) * 2:
    raise errors.InputError(
        f"FID reference stats {os.fspath(path)}: mu {mu.shape} and sigma "
        f"{sigma.shape} do not fit together"
    )
  return mu, sigma
