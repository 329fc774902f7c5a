"""Tests for posergen_jax.evaluation.fid (FID, KID, reference stats) and inception_score."""

import numpy as np
import pytest
import scipy.linalg

from posergen_jax.evaluation import fid
from posergen_jax.evaluation import inception_score as inception_score_lib


def _features(n, dim=16, seed=0, shift=0.0):
  """Correlated non-negative features, like pool3 outputs: ReLU of a random linear map."""
  rng = np.random.default_rng(seed)
  mixing = np.random.default_rng(123).normal(size=(dim, dim)) / np.sqrt(dim)
  return np.maximum(rng.normal(size=(n, dim)) @ mixing + 0.5 + shift, 0.0)


def _fid(stats1, stats2):
  """FID of two FeatureStats, as the evaluator (evaluation/generated_images.py) computes it."""
  return fid.frechet_distance(
      stats1.mean(), stats1.covariance(), stats2.mean(), stats2.covariance()
  )


def test_streaming_stats_equal_batch_stats():
  feats = _features(300).astype(np.float32)
  stats = fid.FeatureStats(16)
  for start in range(0, 300, 64):
    stats.add(feats[start : start + 64])
  assert stats.count == 300
  np.testing.assert_allclose(stats.mean(), feats.astype(np.float64).mean(0), rtol=1e-12)
  np.testing.assert_allclose(
      stats.covariance(), np.cov(feats.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-12
  )
  merged = fid.FeatureStats.from_features(feats[:100]).merge(
      fid.FeatureStats.from_features(feats[100:])
  )
  np.testing.assert_allclose(merged.covariance(), stats.covariance(), rtol=1e-10)
  with pytest.raises(ValueError, match="\\[B, 16\\]"):
    stats.add(np.zeros((2, 8)))


def test_frechet_distance_closed_forms():
  rng = np.random.default_rng(1)
  # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  a, b = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
  # Full covariances: Tr((S1 S2)^(1/2)) = sum of sqrt eigenvalues of S1^(1/2) S2 S1^(1/2).
  m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  s1, s2 = m1 @ m1.T + 0.1 * np.eye(6), m2 @ m2.T + 0.1 * np.eye(6)
  root = scipy.linalg.sqrtm(s1).real
  tr_covmean = np.sum(np.sqrt(np.linalg.eigvalsh(root @ s2 @ root)))
  expected = np.trace(s1) + np.trace(s2) - 2 * tr_covmean
  assert fid.frechet_distance(np.zeros(6), s1, np.zeros(6), s2) == pytest.approx(expected)
  with pytest.raises(ValueError, match="mismatched"):
    fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_fid_of_a_set_with_itself_is_zero_even_when_singular():
  full = fid.FeatureStats.from_features(_features(500))
  assert abs(_fid(full, full)) < 1e-6
  # Fewer samples than dims: a singular covariance; the distance stays finite and ~0.
  few = fid.FeatureStats.from_features(_features(8, dim=32))
  value = _fid(few, few)
  assert np.isfinite(value) and abs(value) < 1e-3


def test_fid_ranks_halves_below_degraded_copies():
  feats = _features(4000)
  halves = _fid(
      fid.FeatureStats.from_features(feats[:2000]), fid.FeatureStats.from_features(feats[2000:])
  )
  reference = fid.FeatureStats.from_features(feats)
  rng = np.random.default_rng(2)
  noised = feats + rng.normal(0.0, 0.3, feats.shape)
  blurred = feats.mean(0) + 0.6 * (feats - feats.mean(0))  # detail lost: variance shrinks
  for degraded in (noised, blurred):
    assert halves < 0.5 * _fid(reference, fid.FeatureStats.from_features(degraded))
  assert halves > 0.0


def test_reference_stats_npz_round_trip(tmp_path):
  feats = _features(200)
  stats = fid.FeatureStats.from_features(feats)
  path = tmp_path / "ref" / "posters-test.npz"
  fid.save_reference_stats(path, stats.mean(), stats.covariance())
  with np.load(path) as f:  # pytorch-fid reads exactly these keys
    assert sorted(f.files) == ["mu", "sigma"]
  mu, sigma = fid.load_reference_stats(path)
  np.testing.assert_array_equal(mu, stats.mean())
  np.testing.assert_array_equal(sigma, stats.covariance())
  assert fid.load_reference_features(path) is None

  # Kept features (for KID) come back; the file is replaced whole, with no temporary left.
  fid.save_reference_stats(path, stats.mean(), stats.covariance(), features=feats)
  np.testing.assert_array_equal(fid.load_reference_features(path), feats)
  assert [p.name for p in path.parent.iterdir()] == ["posters-test.npz"]

  bad = tmp_path / "bad.npz"
  np.savez(bad, mean=mu)
  with pytest.raises(ValueError, match="bad.npz.*`mu`"):
    fid.load_reference_stats(bad)


def test_polynomial_mmd_hand_computed():
  # D = 1, k(a, b) = (ab + 1)^3. Off-diagonal xx: k(0,1) = 1; yy: k(1,2) = 27;
  # xy: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37.
  # MMD^2 = 2*1/2 + 2*27/2 - 2*37/4 = 1 + 27 - 18.5 = 9.5.
  x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
  assert fid.polynomial_mmd(x, y) == pytest.approx(9.5)
  assert fid.polynomial_mmd(y, x) == pytest.approx(9.5)
  # Subsets as large as the sets: every draw is the whole set (a permutation), no spread.
  mean, std = fid.kernel_inception_distance(x, y, num_subsets=5, subset_size=10)
  assert mean == pytest.approx(9.5) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_unbiased_for_one_distribution():
  x, y = _features(2000, seed=3), _features(2000, seed=4)
  mean, std = fid.kernel_inception_distance(x, y, num_subsets=200, subset_size=100)
  # The biased estimator (diagonals kept) would sit near mean(k(x,x)) - mean(k(x,y)) over m/2.
  k_diag = np.mean((np.sum(x * x, 1) / x.shape[1] + 1) ** 3)
  k_cross = np.mean((x[:500] @ y[:500].T / x.shape[1] + 1) ** 3)
  bias = 2 * (k_diag - k_cross) / 100
  assert abs(mean) < 4 * std / np.sqrt(200) + 1e-3
  assert abs(mean) < 0.05 * bias
  shifted_mean, _ = fid.kernel_inception_distance(
      x, _features(2000, seed=5, shift=0.3), num_subsets=20, subset_size=100
  )
  assert shifted_mean > 10 * abs(mean)


def test_inception_score_closed_forms():
  uniform = np.full((100, 7), 1 / 7)
  mean, std = inception_score_lib.inception_score(uniform)
  assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)
  # One-hot, cycling evenly over k classes within every split: IS = k exactly.
  k = 5
  one_hot = np.eye(8)[np.arange(10 * 4 * k) % k]
  mean, std = inception_score_lib.inception_score(one_hot, num_splits=10)
  assert mean == pytest.approx(k) and std == pytest.approx(0.0, abs=1e-9)
  # The score is over splits: all of one class in a split gives 1 there.
  sorted_one_hot = np.eye(k)[np.repeat(np.arange(k), 20)]
  mean, _ = inception_score_lib.inception_score(sorted_one_hot, num_splits=k)
  assert mean == pytest.approx(1.0)


def test_inception_score_from_logits_and_logits_fn():
  rng = np.random.default_rng(6)
  logits = rng.normal(size=(60, 10)) * 3
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  expected = inception_score_lib.inception_score(probs, num_splits=3)
  assert inception_score_lib.inception_score(logits, 3, from_logits=True) == pytest.approx(expected)
  images = rng.normal(size=(60, 4, 4, 3))
  lookup = {img.tobytes(): row for img, row in zip(images, logits)}
  score = inception_score_lib.inception_score_of_images(
      lambda batch: np.stack([lookup[img.tobytes()] for img in batch]),
      (images[i : i + 16] for i in range(0, 60, 16)),
      num_splits=3,
  )
  assert score == pytest.approx(expected)
  assert 1.0 < expected[0] < 10.0
  with pytest.raises(ValueError, match="from_logits"):
    inception_score_lib.inception_score(logits, 3)


def test_frechet_distance_retries_with_eps_and_rejects_imaginary(monkeypatch):
  real_sqrtm = scipy.linalg.sqrtm
  seen = []

  def flaky_sqrtm(matrix):
    seen.append(matrix.copy())
    return np.full_like(matrix, np.nan) if len(seen) == 1 else real_sqrtm(matrix)

  monkeypatch.setattr(fid.scipy.linalg, "sqrtm", flaky_sqrtm)
  sigma = np.diag([1.0, 4.0])
  value = fid.frechet_distance(np.zeros(2), sigma, np.ones(2), sigma, eps=1e-2)
  assert len(seen) == 2
  np.testing.assert_allclose(seen[1], (sigma + 1e-2 * np.eye(2)) @ (sigma + 1e-2 * np.eye(2)))
  assert value == pytest.approx(2.0 + 2 * 5.0 - 2 * (1.01 + 4.01), abs=1e-9)

  monkeypatch.setattr(fid.scipy.linalg, "sqrtm", lambda m: real_sqrtm(m) + 0.1j * np.eye(2))
  with pytest.raises(ValueError, match="imaginary"):
    fid.frechet_distance(np.zeros(2), sigma, np.zeros(2), sigma)
