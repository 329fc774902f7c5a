"""A strided convolution computed as space-to-depth and one matmul over patches.

Same parameters and outputs as `nn.Conv(features, (k, k), strides=(s, s), padding=((p, p), (p, p)))`
when s divides k. The gain is in the gradients. The input gradient of a strided convolution is a
convolution over a zero-dilated input, and XLA:CPU runs it, and the padded convolutions the
stride-1 rewrite leads to, through a slow generic kernel; the WGAN critic's gradient penalty
differentiates it twice. Here every gradient is a matmul, slices and pads: the WGAN train step
went from 1,099 to 889 ms on a 2-core CPU (benchmarks/README.md, "Where the CPU step goes").
Regrouping the input into s×s blocks turns the k×k kernel with stride s into a (k/s)×(k/s)
kernel with stride 1 over s·s·C channels, and its (k/s)² taps into one matmul:

  out[y, x] = Σ_{a,b < k/s} Σ_{dy,dx < s} in[s(y + a) + dy, s(x + b) + dx] · W[s·a + dy, s·b + dx].
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B,H,W,C] -> [B,H/block,W/block,block·block·C], channel (dy·block + dx)·C + c."""
  batch, height, width, channels = x.shape
  x = x.reshape(batch, height // block, block, width // block, block, channels)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(
      batch, height // block, width // block, block * block * channels
  )


class StridedConv(nn.Module):
  """x [B,H,W,C] -> [B,H',W',features], H' = (H + 2·padding − k) // stride + 1, as nn.Conv.

  Attributes:
    features: output channels.
    kernel_size: k, a multiple of `stride`.
    stride: s.
    padding: zero rows and columns added on each side.
    use_bias: add a learned `bias` [features].
    dtype: compute dtype; parameters (`kernel` [k,k,C,features], `bias`) are float32 and
      initialised as nn.Conv's.
  """

  features: int
  kernel_size: int = 4
  stride: int = 2
  padding: int = 1
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, s = self.kernel_size, self.stride
    if k % s:
      raise ValueError(f"StridedConv: stride {s} must divide kernel size {k}")
    channels = x.shape[-1]
    kernel = self.param(
        "kernel", nn.linear.default_kernel_init, (k, k, channels, self.features), jnp.float32
    )
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    out_h, out_w = ((side + 2 * self.padding - k) // s + 1 for side in x.shape[1:3])
    # Pad, then trim or extend each side to s·(out + k/s − 1): whole blocks, only rows used.
    pad = [
        (self.padding, s * (out + k // s - 1) - side - self.padding)
        for out, side in ((out_h, x.shape[1]), (out_w, x.shape[2]))
    ]
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), *(p + (0,) for p in pad), (0, 0, 0)))
    taps = k // s
    kernel = kernel.reshape(taps, s, taps, s, channels, self.features)
    kernel = kernel.transpose(0, 2, 1, 3, 4, 5).reshape(taps, taps, s * s * channels, -1)
    blocks = space_to_depth(x, s)
    patches = jnp.concatenate(
        [blocks[:, a : a + out_h, b : b + out_w] for a in range(taps) for b in range(taps)], -1
    )
    y = jnp.einsum("bhwc,co->bhwo", patches, kernel.reshape(-1, self.features))
    if not self.use_bias:
      return y
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
    return y + bias.astype(y.dtype)
