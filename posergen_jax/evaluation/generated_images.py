"""FID, KID and Inception Score of generated images, from FID Inception pool3 features.

Batches stream in (`add`); features are gathered to the host, where `result` fits the Gaussians
(FID), the polynomial-kernel MMD (KID) against real images, and the Inception Score from the 2015
Inception's 1008-way head applied to the generated images' features (IS, given the head). The real
images' features can be cached per dataset split in an `.npz` (`mu`, `sigma` as pytorch-fid writes
them, plus `features` for KID), so later evaluations only run the network on generated images; a
pytorch-fid stats file given by the user works for FID.
"""

from collections.abc import Callable, Sequence
import functools
import hashlib
import json
import logging
import os

from etils import epath
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from posergen_jax.config import schema
from posergen_jax.data import input_pipeline
from posergen_jax.evaluation import fid, inception_score
from posergen_jax.io import errors, weights
from posergen_jax.models import inception

IMAGE_METRICS = ("fid", "kid", "is")
# Splits of the generated images the Inception Score is averaged over (Salimans et al.).
IS_SPLITS = 10
# torch-fidelity's KID defaults; subsets shrink to the number of images when fewer.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# The `evals` fields `from_config` reads (config/schema.py).
FIELD_RULES = {
    "evals.image_metrics": schema.subset(IMAGE_METRICS),
    "evals.fid_reference": schema.optional(schema.TEXT),
    "evals.inception_classifier": schema.optional(schema.TEXT),
}

# Global images [B,H,W,3] in [-1, 1] -> global features [B, D].
FeaturesFn = Callable[[jax.Array], jax.Array]


def _on_every_process(flag: bool) -> bool:
  """Whether `flag` holds on every process. Branches that decide which collectives run (here:
  whether to read the real images' features) must agree: a reference cache on one host's local
  disk is read by none, so every process computes the features again (process 0 rewrites it)."""
  return bool(np.all(multihost_utils.process_allgather(np.asarray(flag))))


class GeneratedImageMetrics:
  """Accumulates Inception features of generated and real images; computes FID, KID and IS."""

  def __init__(
      self,
      metrics: Sequence[str],
      features_fn: FeaturesFn,
      reference_path: str | os.PathLike | None = None,
      classifier: np.ndarray | None = None,
  ):
    """`metrics` from IMAGE_METRICS; `reference_path` caches (or gives) the real images' stats;
    `classifier` [D, classes] maps features to the logits IS needs ('is' only)."""
    unknown = sorted(set(metrics) - set(IMAGE_METRICS))
    if unknown:
      raise errors.ConfigError(
          f"config.evals.image_metrics: unknown {unknown}; valid: {', '.join(IMAGE_METRICS)}"
      )
    if "is" in metrics and classifier is None:
      raise errors.ConfigError(
          "config.evals.image_metrics has 'is', which needs the Inception's 1008-way "
          "head: set config.evals.inception_classifier to a pytorch-fid or "
          "torch-fidelity Inception weights file (.pth)."
      )
    self.metrics = tuple(metrics)
    self._classifier = classifier
    self._features_fn = features_fn
    self._path = reference_path
    self._stats = self._cached_features = None
    if reference_path is not None and _on_every_process(epath.Path(reference_path).is_file()):
      self._stats = fid.load_reference_stats(reference_path)
      self._cached_features = fid.load_reference_features(reference_path)
    self._generated: list[np.ndarray] = []
    self._real: list[np.ndarray] = []
    self._baseline: list[np.ndarray] = []

  @property
  def needs_real_images(self) -> bool:
    """Whether `add` needs the real images (nothing usable is cached for the metrics asked)."""
    return self._cached_features is None and (
        "kid" in self.metrics or ("fid" in self.metrics and self._stats is None)
    )

  def add(
      self, generated: jax.Array, real: jax.Array | None, baseline: jax.Array | None = None
  ) -> None:
    """Adds a global batch of generated [B,H,W,3], (if `needs_real_images`) real images and,
    optionally, a baseline's images [B,H,W,3], scored like the generated ones (FID, KID)."""
    self._generated.append(self._host_features(generated))
    if self.needs_real_images:
      self._real.append(self._host_features(real))
    if baseline is not None and {"fid", "kid"} & set(self.metrics):
      self._baseline.append(self._host_features(baseline))

  def result(self) -> dict[str, float]:
    """{'fid', 'kid', 'kid_std', 'is', 'is_std'} as asked, over everything added, and the same
    FID/KID of the baseline as 'baseline_fid', 'baseline_kid', 'baseline_kid_std'; writes the
    reference cache if new."""
    generated = np.concatenate(self._generated)
    results = {}
    if "is" in self.metrics:
      results["is"], results["is_std"] = inception_score.inception_score(
          generated @ self._classifier, IS_SPLITS, from_logits=True
      )
    if not {"fid", "kid"} & set(self.metrics):
      return results
    real = self._cached_features
    if real is None and self._real:
      real = np.concatenate(self._real)
    if self._stats is None:
      real_stats = fid.FeatureStats.from_features(real)
      self._stats = real_stats.mean(), real_stats.covariance()
      if self._path is not None and jax.process_index() == 0:
        fid.save_reference_stats(self._path, *self._stats, features=real)
        logging.info("Cached FID reference features of %d images at %s", len(real), self._path)
    scored = {"": generated}
    if self._baseline:
      scored["baseline_"] = np.concatenate(self._baseline)
    for prefix, features in scored.items():
      if "fid" in self.metrics:
        stats = fid.FeatureStats.from_features(features)
        results[f"{prefix}fid"] = fid.frechet_distance(
            stats.mean(), stats.covariance(), *self._stats
        )
      if "kid" in self.metrics:
        results[f"{prefix}kid"], results[f"{prefix}kid_std"] = fid.kernel_inception_distance(
            features, real, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE
        )
    return results

  def _host_features(self, images: jax.Array) -> np.ndarray:
    features = self._features_fn(images)
    return np.asarray(multihost_utils.process_allgather(features, tiled=True), np.float64)


def from_config(
    evals: ml_collections.ConfigDict,
    data: ml_collections.ConfigDict,
    data_sharding: jax.sharding.Sharding,
    replicated: jax.sharding.Sharding,
) -> GeneratedImageMetrics | None:
  """The metrics `evals.image_metrics` asks for, or None when it asks for none.

  The FID Inception's params are `replicated` and its features come out split like the images
  (`data_sharding`, [B,H,W,3] -> [B, 2048]). The real images' stats are read from
  `evals.fid_reference`, or cached per dataset split, `evals.num_examples` and the built
  dataset's source fingerprint (a rebuilt `posters` is another cache) under the weights cache;
  IS reads the 1008-way head from `evals.inception_classifier`.
  """
  if not evals.image_metrics:
    return None
  inception_params = jax.device_put(inception.load_params(), replicated)
  # The params are an argument, not a closure: jit would embed 95 MB of constants in the program.
  features_fn = functools.partial(
      jax.jit(
          inception.fid_features,
          in_shardings=(replicated, data_sharding),
          out_shardings=data_sharding,
      ),
      inception_params,
  )
  key = [data.to_dict(), evals.num_examples]
  fingerprint = input_pipeline.built_fingerprint(data)
  key = json.dumps(key + [fingerprint] if fingerprint else key, sort_keys=True)
  reference = evals.fid_reference or (
      weights.cache_dir() / "fid_reference" / f"{data.name.replace('/', '-')}-{data.eval_split}-"
      f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
  )
  classifier = None
  if "is" in evals.image_metrics and evals.inception_classifier:
    classifier = inception.load_classifier(evals.inception_classifier)
  return GeneratedImageMetrics(evals.image_metrics, features_fn, reference, classifier)
