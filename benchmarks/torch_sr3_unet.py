"""PyTorch twin of the SR3 U-Net in `posergen_jax.models.sr3_unet`, the baseline for benchmarks.

Layer for layer the same network as the Flax `UNet` (same blocks in the same order, same
parameter count, same options: `resblock_updown`, `skip_rescale`, `cond_augmentation`), computed
eagerly in NCHW. Submodules carry the Flax parameter names (`Dense_0`, `ResBlock_3.conv1`,
`Downsample_0.Conv_0`, ...), so `load_flax_params` copies a Flax parameter tree into the twin one
leaf per tensor and refuses a tree of another shape. Float32 only: mixed precision is left to
`torch.autocast` by the caller.
"""

import collections
from collections.abc import Mapping, Sequence
import math
from typing import Any

from flax import traverse_util
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from posergen_jax.models.sr3_unet import EMBEDDING_MULT, NOISE_LEVEL_SCALE

# flax.linen.GroupNorm's default epsilon (torch's default is 1e-5).
GROUP_NORM_EPS = 1e-6


def noise_level_embedding(noise_level: torch.Tensor, dim: int) -> torch.Tensor:
  """Sinusoidal embedding of noise levels [B] (scaled by NOISE_LEVEL_SCALE) -> float32 [B, dim]."""
  half = dim // 2
  steps = torch.arange(half, dtype=torch.float32, device=noise_level.device)
  angles = (
      NOISE_LEVEL_SCALE
      * noise_level.float()[:, None]
      * torch.exp(-math.log(10000.0) * steps / half)[None, :]
  )
  return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def _resample(x: torch.Tensor, resample: str | None) -> torch.Tensor:
  """None: x; 'down': 2x2 average pool; 'up': nearest x2. [B,C,H,W] -> [B,C,H',W']."""
  if resample is None:
    return x
  if resample == "down":
    return F.avg_pool2d(x, 2)
  if resample == "up":
    return F.interpolate(x, scale_factor=2, mode="nearest")
  raise ValueError(f"resample must be None, 'down' or 'up'; got {resample!r}")


def _conv(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
  """Conv2d padded like Flax 'SAME' (3x3 stride 1) and like the U-Net's ((1, 1), (1, 1))."""
  return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


def _group_norm(num_groups: int, channels: int) -> nn.GroupNorm:
  return nn.GroupNorm(num_groups, channels, eps=GROUP_NORM_EPS)


class ResBlock(nn.Module):
  """Twin of `sr3_unet.ResBlock`: [B,in_ch,H,W], emb [B,E] -> [B,out_ch,H',W'].

  H' = H, 2H or H/2 for `resample` None, 'up' or 'down'.
  """

  def __init__(
      self,
      in_ch: int,
      out_ch: int,
      emb_dim: int,
      num_groups: int,
      dropout: float,
      resample: str | None = None,
      skip_rescale: bool = False,
  ):
    super().__init__()
    self.norm1 = _group_norm(num_groups, in_ch)
    self.conv1 = _conv(in_ch, out_ch, 3)
    self.film = nn.Linear(emb_dim, 2 * out_ch)
    self.norm2 = _group_norm(num_groups, out_ch)
    self.dropout = nn.Dropout(dropout)
    self.conv2 = _conv(out_ch, out_ch, 3)
    self.skip = _conv(in_ch, out_ch, 1) if in_ch != out_ch else None
    self.resample = resample
    self.skip_rescale = skip_rescale

  def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    h = _resample(F.silu(self.norm1(x)), self.resample)
    x = _resample(x, self.resample)
    h = self.conv1(h)
    scale, shift = self.film(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
    h = self.norm2(h) * (1 + scale) + shift
    h = self.conv2(self.dropout(F.silu(h)))
    skip = x if self.skip is None else self.skip(x)
    return (skip + h) / math.sqrt(2.0) if self.skip_rescale else skip + h


class AttentionBlock(nn.Module):
  """Twin of `sr3_unet.AttentionBlock` (single head, residual): [B,C,H,W] -> [B,C,H,W]."""

  def __init__(self, channels: int, num_groups: int):
    super().__init__()
    self.norm = _group_norm(num_groups, channels)
    self.qkv = nn.Linear(channels, 3 * channels)
    self.proj = nn.Linear(channels, channels)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = x.shape
    h = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
    q, k, v = self.qkv(h).unsqueeze(1).chunk(3, dim=-1)  # Each [B, 1 head, HW, C].
    h = F.scaled_dot_product_attention(q, k, v).squeeze(1)
    return x + self.proj(h).transpose(1, 2).reshape(batch, channels, height, width)


class Downsample(nn.Module):
  """Twin of `sr3_unet.Downsample` (3x3 conv, stride 2): [B,C,H,W] -> [B,C,H/2,W/2]."""

  def __init__(self, channels: int):
    super().__init__()
    self.Conv_0 = _conv(channels, channels, 3, stride=2)  # pylint: disable=invalid-name

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.Conv_0(x)


class Upsample(nn.Module):
  """Twin of `sr3_unet.Upsample` (nearest x2, 3x3 conv): [B,C,H,W] -> [B,C,2H,2W]."""

  def __init__(self, channels: int):
    super().__init__()
    self.Conv_0 = _conv(channels, channels, 3)  # pylint: disable=invalid-name

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.Conv_0(_resample(x, "up"))


def _run(blocks: Sequence[nn.Module], h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
  """Applies `blocks` in order; residual blocks also get the embedding."""
  for block in blocks:
    h = block(h, emb) if isinstance(block, ResBlock) else block(h)
  return h


class UNet(nn.Module):
  """Twin of `sr3_unet.UNet` for inputs of side `image_size`.

  The Flax network decides where attention goes from the feature-map height it sees, so the twin
  is built for one input height (`image_size`); every other argument means what the Flax
  attribute of the same name means. `in_ch` and `cond_ch` are the channels of x_noisy and cond.
  """

  def __init__(
      self,
      image_size: int,
      *,
      in_ch: int = 3,
      cond_ch: int = 3,
      ch: int = 64,
      ch_mult: Sequence[int] = (1, 2, 4, 8),
      num_res_blocks: int = 2,
      attn_resolutions: Sequence[int] = (16,),
      dropout: float = 0.0,
      out_ch: int = 3,
      num_groups: int = 32,
      resblock_updown: bool = False,
      skip_rescale: bool = False,
      cond_augmentation: bool = False,
  ):
    super().__init__()
    factor = 2 ** (len(ch_mult) - 1)
    if image_size % factor:
      raise ValueError(
          f"UNet image_size={image_size} must be divisible by {factor} "
          f"(2**(len(ch_mult)-1) for ch_mult={tuple(ch_mult)})"
      )
    self.image_size = image_size
    self.ch = ch
    self.cond_augmentation = cond_augmentation
    counts = collections.Counter()

    def add(module: nn.Module) -> nn.Module:
      """Registers `module` under Flax's automatic name, e.g. ResBlock_3."""
      kind = type(module).__name__
      self.add_module(f"{kind}_{counts[kind]}", module)
      counts[kind] += 1
      return module

    emb_dim = EMBEDDING_MULT * ch
    emb_in = (2 if cond_augmentation else 1) * ch
    self.Dense_0 = nn.Linear(emb_in, emb_dim)  # pylint: disable=invalid-name
    self.Dense_1 = nn.Linear(emb_dim, emb_dim)  # pylint: disable=invalid-name
    self.conv_in = _conv(in_ch + cond_ch, ch, 3)

    def res_block(width: int, mult: int, resample: str | None = None) -> ResBlock:
      return add(ResBlock(width, ch * mult, emb_dim, num_groups, dropout, resample, skip_rescale))

    def with_attention(block: ResBlock, size: int) -> list[nn.Module]:
      if size not in attn_resolutions:
        return [block]
      return [block, add(AttentionBlock(block.conv2.out_channels, num_groups))]

    def resample_block(width: int, mult: int, direction: str) -> nn.Module:
      if resblock_updown:
        return res_block(width, mult, direction)
      return add((Downsample if direction == "down" else Upsample)(width))

    # Each encoder entry runs, then pushes a skip; each decoder entry says if it pops one first.
    self._encoder, self._decoder = [], []
    skip_widths, width, size = [ch], ch, image_size
    for level, mult in enumerate(ch_mult):
      for _ in range(num_res_blocks):
        self._encoder.append(with_attention(res_block(width, mult), size))
        width = ch * mult
        skip_widths.append(width)
      if level != len(ch_mult) - 1:
        self._encoder.append([resample_block(width, mult, "down")])
        size //= 2
        skip_widths.append(width)

    middle_width = ch * ch_mult[-1]
    self._middle = [
        res_block(width, ch_mult[-1]),
        add(AttentionBlock(middle_width, num_groups)),
        res_block(middle_width, ch_mult[-1]),
    ]
    width = middle_width

    for level, mult in reversed(list(enumerate(ch_mult))):
      for _ in range(num_res_blocks + 1):
        self._decoder.append(
            (True, with_attention(res_block(width + skip_widths.pop(), mult), size))
        )
        width = ch * mult
      if level != 0:
        self._decoder.append((False, [resample_block(width, mult, "up")]))
        size *= 2

    self.norm_out = _group_norm(num_groups, width)
    self.conv_out = _conv(width, out_ch, 3)
    nn.init.zeros_(self.conv_out.weight)  # As in Flax: the untrained network predicts 0.
    nn.init.zeros_(self.conv_out.bias)

  def forward(
      self,
      x_noisy: torch.Tensor,
      cond: torch.Tensor,
      noise_level: torch.Tensor,
      aug_level: torch.Tensor | None = None,
  ) -> torch.Tensor:
    """x_noisy [B,C,H,W], cond [B,Cc,H,W], noise_level [B] -> eps [B,out_ch,H,W] float32.

    H must equal `image_size`; `aug_level` [B] is required with `cond_augmentation` and refused
    without it. Dropout is on in `train()` mode.
    """
    if x_noisy.shape[2] != self.image_size:
      raise ValueError(
          f"UNet twin built for height {self.image_size}; got x_noisy of shape "
          f"{tuple(x_noisy.shape)}"
      )
    if self.cond_augmentation != (aug_level is not None):
      raise ValueError(
          "UNet aug_level must be given exactly when cond_augmentation=True "
          f"(cond_augmentation={self.cond_augmentation})"
      )
    emb = noise_level_embedding(noise_level, self.ch)
    if self.cond_augmentation:
      emb = torch.cat([emb, noise_level_embedding(aug_level, self.ch)], dim=-1)
    emb = self.Dense_1(F.silu(self.Dense_0(emb)))

    h = self.conv_in(torch.cat([x_noisy, cond.to(x_noisy.dtype)], dim=1))
    skips = [h]
    for blocks in self._encoder:
      h = _run(blocks, h, emb)
      skips.append(h)
    h = _run(self._middle, h, emb)
    for pops_skip, blocks in self._decoder:
      if pops_skip:
        h = torch.cat([h, skips.pop()], dim=1)
      h = _run(blocks, h, emb)
    return self.conv_out(F.silu(self.norm_out(h))).float()


def _to_torch(module: nn.Module, leaf: str, value: Any) -> tuple[str, torch.Tensor]:
  """(torch parameter name, tensor) for Flax leaf `leaf` of `module`.

  Conv kernels go HWIO -> OIHW, Dense kernels [in, out] -> [out, in], GroupNorm scale -> weight.
  """
  value = torch.from_numpy(np.array(value, np.float32))  # A writable copy.
  if leaf == "kernel" and isinstance(module, nn.Conv2d):
    return "weight", value.permute(3, 2, 0, 1)
  if leaf == "kernel" and isinstance(module, nn.Linear):
    return "weight", value.T
  if leaf == "scale" and isinstance(module, nn.GroupNorm):
    return "weight", value
  if leaf == "bias":
    return "bias", value
  raise ValueError(f"no torch parameter for Flax leaf {leaf!r} of a {type(module).__name__}")


def load_flax_params(torch_module: UNet, flax_params: Mapping[str, Any]) -> None:
  """Copies the Flax `UNet` parameters `flax_params` (the 'params' collection) into `torch_module`.

  Every Flax leaf must land on a torch parameter of the converted shape and every torch parameter
  must be written, else ValueError naming the offending paths (e.g. a tree from other settings or
  another image size). Copies in place, keeping each parameter's device.
  """
  targets = dict(torch_module.named_parameters())
  errors = []
  with torch.no_grad():
    for path, value in traverse_util.flatten_dict(flax_params).items():
      *module_path, leaf = path
      try:
        module = torch_module.get_submodule(".".join(module_path))
        name, tensor = _to_torch(module, leaf, value)
      except (AttributeError, ValueError) as e:
        errors.append(f'{"/".join(path)}: {e}')
        continue
      full_name = ".".join([*module_path, name])
      target = targets.pop(full_name, None)
      if target is None or target.shape != tensor.shape:
        errors.append(
            f'{"/".join(path)}: shape {tuple(tensor.shape)} (converted) does not fit '
            f"torch {full_name} of shape "
            f"{None if target is None else tuple(target.shape)}"
        )
        continue
      target.copy_(tensor)
  errors += [f"torch {name}: no Flax parameter" for name in targets]
  if errors:
    raise ValueError("Flax params do not match the torch UNet twin:\n  " + "\n  ".join(errors))
