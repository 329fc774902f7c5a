"""FID/KID of generated images through the evaluator the trainer uses, with a stand-in network."""

import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.evaluation import fid, generated_images


def _features(images):
  """A stand-in feature network: per-channel means and stds, [B, 6]."""
  return jnp.concatenate([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=-1)


def _images(seed, n=24, shift=0.0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(np.clip(rng.normal(shift, 0.5, (n, 8, 8, 3)), -1, 1), jnp.float32)


def _evaluate(metrics, generated, real, path=None):
  evaluator = generated_images.GeneratedImageMetrics(metrics, _features, path)
  for start in range(0, len(generated), 8):
    evaluator.add(
        generated[start : start + 8],
        real[start : start + 8] if evaluator.needs_real_images else None,
    )
  return evaluator.result()


def test_streamed_fid_and_kid_equal_the_direct_computation():
  generated, real = _images(0, shift=0.3), _images(1)
  result = _evaluate(("fid", "kid"), generated, real)
  gen_stats = fid.FeatureStats.from_features(np.asarray(_features(generated), np.float64))
  real_stats = fid.FeatureStats.from_features(np.asarray(_features(real), np.float64))
  expected = fid.frechet_distance(
      gen_stats.mean(), gen_stats.covariance(), real_stats.mean(), real_stats.covariance()
  )
  assert result["fid"] == pytest.approx(expected, rel=1e-6)
  kid, kid_std = fid.kernel_inception_distance(
      np.asarray(_features(generated), np.float64),
      np.asarray(_features(real), np.float64),
      subset_size=1000,
  )
  assert (result["kid"], result["kid_std"]) == pytest.approx((kid, kid_std), rel=1e-6)
  assert result["fid"] > 10 * _evaluate(("fid",), _images(2), real)["fid"]


def test_a_baseline_is_scored_like_the_generated_images():
  generated, real, baseline = _images(0, shift=0.3), _images(1), _images(2, shift=-0.2)
  evaluator = generated_images.GeneratedImageMetrics(("fid", "kid"), _features)
  for start in range(0, 24, 8):
    batch = slice(start, start + 8)
    evaluator.add(generated[batch], real[batch], baseline[batch])
  result = evaluator.result()
  alone = _evaluate(("fid", "kid"), baseline, real)
  assert result["baseline_fid"] == pytest.approx(alone["fid"], rel=1e-9)
  assert result["baseline_kid"] == pytest.approx(alone["kid"], rel=1e-9)
  assert result["fid"] == pytest.approx(_evaluate(("fid",), generated, real)["fid"], rel=1e-9)
  assert result["baseline_fid"] != pytest.approx(result["fid"])


def test_reference_cache_is_written_once_and_then_replaces_the_real_images(tmp_path):
  path = tmp_path / "ref.npz"
  generated, real = _images(0, shift=0.3), _images(1)
  first = _evaluate(("fid", "kid"), generated, real, path)
  assert path.is_file()
  evaluator = generated_images.GeneratedImageMetrics(("fid", "kid"), _features, path)
  assert not evaluator.needs_real_images
  again = _evaluate(("fid", "kid"), generated, real * 0 + 5.0, path)  # real images unused now
  assert again == pytest.approx(first)


def test_pytorch_fid_stats_file_serves_fid_but_kid_still_needs_real_images(tmp_path):
  path = tmp_path / "pytorch_fid.npz"
  stats = fid.FeatureStats.from_features(np.asarray(_features(_images(1)), np.float64))
  fid.save_reference_stats(path, stats.mean(), stats.covariance())
  assert not generated_images.GeneratedImageMetrics(("fid",), _features, path).needs_real_images
  assert generated_images.GeneratedImageMetrics(("kid",), _features, path).needs_real_images


def test_unknown_metric_is_named():
  with pytest.raises(ValueError, match=r"image_metrics: unknown \['lpips'\]"):
    generated_images.GeneratedImageMetrics(("fid", "lpips"), _features)


def _class_images(classes, n=40):
  """Images whose stand-in features (channel means first) point at class i % classes."""
  images = np.full((n, 8, 8, 3), -1.0, np.float32)
  for i in range(n):
    images[i, ..., i % classes] = 1.0
  return jnp.asarray(images)


@pytest.mark.parametrize("classes", [1, 3])
def test_inception_score_of_confident_predictions_spread_over_k_classes_is_k(classes):
  # Features [B, 6]: channel means then stds; the head sends channel c's mean to class c.
  head = np.zeros((6, 3))
  head[:3] = 40 * np.eye(3)
  evaluator = generated_images.GeneratedImageMetrics(("is",), _features, classifier=head)
  assert not evaluator.needs_real_images
  images = _class_images(classes, n=10 * classes * 3)
  for start in range(0, len(images), 6):
    evaluator.add(images[start : start + 6], None)
  result = evaluator.result()
  assert set(result) == {"is", "is_std"}
  assert result["is"] == pytest.approx(classes, rel=1e-6)


def test_inception_score_without_the_head_names_the_option():
  with pytest.raises(ValueError, match="config.evals.inception_classifier"):
    generated_images.GeneratedImageMetrics(("kid", "is"), _features)
