"""Strided convolutions computed as space-to-depth and one matmul over patches.

`conv_general_dilated` is a drop-in for `jax.lax.conv_general_dilated`, for
`nn.Conv(..., conv_general_dilated=strided_conv.conv_general_dilated)`: same parameters, same
outputs. Where the stride divides the kernel size (the WGAN critic's 4×4 convolutions with
stride 2, NHWC) it rearranges the computation; anything else goes to
`jax.lax.conv_general_dilated` unchanged.

The gain is in the gradients. The input gradient of a strided convolution is a convolution over a
zero-dilated input, and XLA:CPU runs it, and the padded convolutions a stride-1 rewrite leads to,
through a slow generic kernel; the WGAN critic's gradient penalty differentiates it twice. Here
every gradient is a matmul, slices and pads, and the WGAN train step is faster on a CPU
(benchmarks/README.md, "Where the CPU step goes"). Regrouping the input into s×s
blocks turns the k×k kernel with stride s into a (k/s)×(k/s) kernel with stride 1 over s·s·C
channels, and its (k/s)² taps into one matmul:

  out[y, x] = Σ_{a,b < k/s} Σ_{dy,dx < s} in[s(y + a) + dy, s(x + b) + dx] · W[s·a + dy, s·b + dx].
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

_NHWC = ("NHWC", "HWIO", "NHWC")


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B,H,W,C] -> [B,H/block,W/block,block·block·C], channel (dy·block + dx)·C + c."""
  batch, height, width, channels = x.shape
  x = x.reshape(batch, height // block, block, width // block, block, channels)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(
      batch, height // block, width // block, block * block * channels
  )


def _rearranges(
    lhs, rhs, window_strides, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count
) -> bool:
  """Whether the call is the case this module computes as a matmul."""
  if lhs.ndim != 4 or feature_group_count != 1:
    return False
  if any(d not in (None, 1) for d in (*(lhs_dilation or ()), *(rhs_dilation or ()))):
    return False
  nhwc = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  given = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  stride, kernel = tuple(window_strides), rhs.shape[:2]
  return (
      given == nhwc
      and stride[0] == stride[1] > 1
      and kernel[0] == kernel[1]
      and kernel[0] % stride[0] == 0
  )


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
    **kwargs,
) -> jax.Array:
  """`jax.lax.conv_general_dilated`'s signature and result; lhs [B,H,W,C], rhs [k,k,C,O] with
  stride s dividing k -> [B,H',W',O] by space-to-depth and one matmul."""
  if kwargs or not _rearranges(
      lhs, rhs, window_strides, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count
  ):
    return jax.lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        dimension_numbers,
        feature_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
        **kwargs,
    )
  s, k, channels, features = window_strides[0], rhs.shape[0], rhs.shape[2], rhs.shape[3]
  if isinstance(padding, str):  # "SAME" | "VALID" -> [(lo, hi), (lo, hi)]
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  taps = k // s
  outputs = [(side + lo + hi - k) // s + 1 for side, (lo, hi) in zip(lhs.shape[1:3], padding)]
  # Pad, then trim or extend the far side to s·(out + k/s − 1): whole blocks, only rows used.
  config = [
      (lo, s * (out + taps - 1) - side - lo, 0)
      for out, side, (lo, _) in zip(outputs, lhs.shape[1:3], padding)
  ]
  x = jax.lax.pad(lhs, jnp.zeros((), lhs.dtype), ((0, 0, 0), *config, (0, 0, 0)))
  blocks = space_to_depth(x, s)
  out_h, out_w = outputs
  patches = jnp.concatenate(
      [blocks[:, a : a + out_h, b : b + out_w] for a in range(taps) for b in range(taps)], -1
  )
  # [k,k,C,O] -> [a, dy, b, dx, C, O] -> [a, b, dy, dx, C, O]: the patches' channel order.
  kernel = rhs.reshape(taps, s, taps, s, channels, features).transpose(0, 2, 1, 3, 4, 5)
  return jnp.einsum(
      "bhwc,co->bhwo",
      patches,
      kernel.reshape(-1, features),
      precision=precision,
      preferred_element_type=preferred_element_type,
  )
