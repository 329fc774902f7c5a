"""SR3 U-Net (Saharia et al. 2021): denoises a noisy high-resolution image (or residual).

The output is the noise, v or the clean image, as `diffusion/parameterization.py` reads it; the
output conv, the last conv of every residual block and the attention projection start at zero
(DDPM), so an untrained network outputs zeros.

The input is the noisy target concatenated on channels with the bicubic-upsampled low-resolution
image; the network is conditioned on the continuous noise level sqrt(gamma). The layout follows the
DDPM U-Net: residual blocks per resolution, self-attention at chosen resolutions and skip
connections from every encoder block. As in the SR3 paper, resolution changes can happen inside
BigGAN-style residual blocks (`resblock_updown`) and residual sums can be rescaled by 1/sqrt(2)
(`skip_rescale`); otherwise strided-conv downsampling and nearest+conv upsampling (DDPM). With
`cond_augmentation`, the network also sees the level of the noise added to its low-resolution input
(Imagen's noise-conditioning augmentation).
"""

from collections.abc import Sequence
import functools
import itertools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# What the noise embedding reads (`UNet.noise_embedding`). "level": sqrt(gamma) in (0, 1], times
# NOISE_LEVEL_SCALE so the fastest sinusoids resolve small changes in level (SR3, WaveGrad).
# "log_snr": log(gamma / (1 - gamma)), times LOG_SNR_SCALE (continuous-time models, VDM): the low
# noise levels (log-SNR above 9, all within 1e-4 of level 1) are as far apart as the rest
# (log-SNR 9.2 and 13.8 lie 230 radians apart at the fastest frequency, against 0.05 as levels).
# LOG_SNR_SCALE maps log-SNR [-10, 10] onto a span as wide as the levels' [0, 1000].
NOISE_EMBEDDINGS = ("level", "log_snr")
NOISE_LEVEL_SCALE = 1000.0
LOG_SNR_SCALE = 50.0
# |log-SNR| is clipped here: a level of exactly 1 (no noise) has an infinite one; the float32
# level next below 1 has about 15.9.
LOG_SNR_LIMIT = 20.0
# Width of the noise-level embedding MLP, as a multiple of the base width (DDPM: 4).
EMBEDDING_MULT = 4
# Rematerialisation of the residual blocks (`UNet.remat`): what the backward pass keeps of each
# block's forward pass (None: everything, no remat). "block" keeps only its inputs and recomputes
# the rest; "block_save_dots" also keeps the outputs of its dense layers (not its convolutions).
REMAT_POLICIES = {
    "none": None,
    "block": jax.checkpoint_policies.nothing_saveable,
    "block_save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class GroupNorm(nn.Module):
  """Group normalisation with an optional per-example FiLM folded into its affine map.

  x [B,H,W,C], film None or (scale, shift) each [B,C] -> [B,H,W,C] in `dtype`:
  GN(x) * (1 + scale) + shift. The parameters (`scale`, `bias`), epsilon and statistics (float32,
  variance as E[x²] − E[x]²) are flax's `nn.GroupNorm`'s, so checkpoints are interchangeable. The
  statistics are per-channel sums over H and W, then sums over each group's channels, and the
  output is one `x * a + c` with a, c [B,C], which XLA:CPU runs faster than flax's reshape into
  groups (benchmarks/README.md, "Where the CPU step goes").
  """

  num_groups: int
  epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, film: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    batch, height, width, channels = x.shape
    if channels % self.num_groups:
      raise ValueError(f"GroupNorm: {self.num_groups} groups do not divide {channels} channels")
    gamma = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
    beta = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
    x32 = x.astype(jnp.float32)
    per_group = channels // self.num_groups
    count = height * width * per_group

    def group_mean(channel_sums: jax.Array) -> jax.Array:  # [B,C] -> [B,C], repeated per group.
      sums = channel_sums.reshape(batch, self.num_groups, per_group).sum(-1)
      return jnp.repeat(sums / count, per_group, axis=-1)

    mean = group_mean(jnp.sum(x32, axis=(1, 2)))
    variance = jnp.maximum(group_mean(jnp.sum(jnp.square(x32), axis=(1, 2))) - jnp.square(mean), 0)
    a = gamma * jax.lax.rsqrt(variance + self.epsilon)
    c = beta - mean * a
    if film is not None:
      scale, shift = (f.astype(jnp.float32) for f in film)
      a, c = a * (1 + scale), c * (1 + scale) + shift
    return (x32 * a[:, None, None, :] + c[:, None, None, :]).astype(self.dtype)


def _layers(dtype: Any):
  """Conv, Dense and GroupNorm computing in `dtype` with float32 parameters."""
  return (
      functools.partial(nn.Conv, dtype=dtype, param_dtype=jnp.float32),
      functools.partial(nn.Dense, dtype=dtype, param_dtype=jnp.float32),
      functools.partial(GroupNorm, dtype=dtype),
  )


def sinusoidal_embedding(values: jax.Array, dim: int) -> jax.Array:
  """Sinusoids of `values` [B] at dim / 2 frequencies from 1 down to 1e-4 -> float32 [B, dim]."""
  if dim % 2:
    raise ValueError(f"noise-level embedding width must be even, got {dim}")
  half = dim // 2
  frequencies = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / half)
  angles = values.astype(jnp.float32)[:, None] * frequencies[None, :]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def noise_level_embedding(noise_level: jax.Array, dim: int, reads: str = "level") -> jax.Array:
  """Embedding of noise levels sqrt(gamma) [B] in [0, 1] -> float32 [B, dim]; `reads` is one
  of NOISE_EMBEDDINGS: the level itself or its log-SNR."""
  level = noise_level.astype(jnp.float32)
  if reads == "level":
    return sinusoidal_embedding(NOISE_LEVEL_SCALE * level, dim)
  if reads == "log_snr":
    gamma = jnp.square(level)
    log_snr = jnp.clip(jnp.log(gamma) - jnp.log1p(-gamma), -LOG_SNR_LIMIT, LOG_SNR_LIMIT)
    return sinusoidal_embedding(LOG_SNR_SCALE * log_snr, dim)
  raise ValueError(f"noise embedding {reads!r} is not one of {NOISE_EMBEDDINGS}")


def _resample(x: jax.Array, resample: str | None) -> jax.Array:
  """None: x; 'down': 2x2 average pool; 'up': nearest x2. [B,H,W,C] -> [B,H',W',C]."""
  if resample is None:
    return x
  if resample == "down":
    return nn.avg_pool(x, (2, 2), strides=(2, 2))
  if resample == "up":
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  raise ValueError(f"resample must be None, 'down' or 'up'; got {resample!r}")


class ResBlock(nn.Module):
  """GroupNorm-swish-conv residual block with FiLM noise conditioning.

  The embedding is projected to a per-channel (scale, shift) applied after the second GroupNorm:
  h = GN(h) * (1 + scale) + shift. A 1x1 conv matches the skip path when widths differ. With
  `resample` ('up' | 'down', BigGAN style) both paths change resolution after the first
  activation; with `skip_rescale` the sum is divided by sqrt(2).
  [B,H,W,Cin], emb [B,E] -> [B,H',W',out_ch], H' = H, 2H or H/2.
  """

  out_ch: int
  num_groups: int
  dropout: float
  resample: str | None = None
  skip_rescale: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, emb: jax.Array, train: bool) -> jax.Array:
    conv, dense, norm = _layers(self.dtype)
    h = _resample(nn.swish(norm(self.num_groups, name="norm1")(x)), self.resample)
    x = _resample(x, self.resample)
    h = conv(self.out_ch, (3, 3), name="conv1")(h)
    film = dense(2 * self.out_ch, name="film")(nn.swish(emb))
    h = norm(self.num_groups, name="norm2")(h, jnp.split(film, 2, axis=-1))
    h = nn.Dropout(self.dropout, deterministic=not train)(nn.swish(h))
    # Zero-initialised (DDPM): a new block starts as its skip path.
    h = conv(self.out_ch, (3, 3), kernel_init=nn.initializers.zeros, name="conv2")(h)
    skip = x if x.shape[-1] == self.out_ch else conv(self.out_ch, (1, 1), name="skip")(x)
    return (skip + h) / math.sqrt(2.0) if self.skip_rescale else skip + h


class AttentionBlock(nn.Module):
  """Single-head self-attention over all pixels with a residual: [B,H,W,C] -> [B,H,W,C]."""

  num_groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch, height, width, channels = x.shape
    _, dense, norm = _layers(self.dtype)
    h = norm(self.num_groups, name="norm")(x)
    qkv = dense(3 * channels, name="qkv")(h)
    q, k, v = jnp.split(qkv.reshape(batch, height * width, 1, 3 * channels), 3, axis=-1)
    h = jax.nn.dot_product_attention(q, k, v).reshape(batch, height, width, channels)
    return x + dense(channels, kernel_init=nn.initializers.zeros, name="proj")(h)


class Downsample(nn.Module):
  """3x3 conv with stride 2: [B,H,W,C] -> [B,H/2,W/2,C]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv, _, _ = _layers(self.dtype)
    return conv(x.shape[-1], (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))(x)


class Upsample(nn.Module):
  """Nearest-neighbour x2 then 3x3 conv: [B,H,W,C] -> [B,2H,2W,C]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv, _, _ = _layers(self.dtype)
    return conv(x.shape[-1], (3, 3))(_resample(x, "up"))


class UNet(nn.Module):
  """SR3 U-Net: denoises (noisy target ⊕ upsampled low-res) at a noise level.

  Without `cond` (None) it is a plain DDPM U-Net; with `text_conditioning` it also reads a
  sentence vector (added to the noise-level embedding), for text-to-image diffusion.

  Attributes:
    ch: base width.
    ch_mult: width multiplier per resolution level; level i works at side H / 2**i.
    num_res_blocks: residual blocks per level in the encoder (the decoder has one more).
    attn_resolutions: feature-map heights (pixels) that get self-attention after each res block.
    dropout: dropout rate inside residual blocks (train=True only).
    out_ch: output channels.
    num_groups: GroupNorm groups; must divide `ch` and every `ch * ch_mult[i]`.
    resblock_updown: change resolution inside residual blocks (BigGAN, as in SR3) instead of with
      a strided conv / nearest+conv.
    skip_rescale: divide residual sums by sqrt(2) (SR3).
    cond_augmentation: take `aug_level` [B], the std of the noise added to `cond`, as a second
      conditioning signal (Imagen's noise-conditioning augmentation).
    remat: a key of REMAT_POLICIES: recompute the residual blocks' activations in the backward
      pass instead of keeping them (less memory, about one more forward pass of compute); the
      parameters and results are the same whatever the setting.
    text_conditioning: take `context` [B,E], projected (without bias, so a zero vector means
      "no text", classifier-free guidance's unconditional input) and added to the embedding.
    noise_embedding: what the embedding of `noise_level` reads, one of NOISE_EMBEDDINGS ("level"
      or "log_snr"); `aug_level` is always embedded as a level.
    dtype: compute dtype; parameters are always float32 and the output is float32.
  """

  ch: int = 64
  ch_mult: Sequence[int] = (1, 2, 4, 8)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (16,)
  dropout: float = 0.0
  out_ch: int = 3
  num_groups: int = 32
  resblock_updown: bool = False
  skip_rescale: bool = False
  cond_augmentation: bool = False
  text_conditioning: bool = False
  noise_embedding: str = "level"
  remat: str = "none"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self,
      x_noisy: jax.Array,
      cond: jax.Array | None,
      noise_level: jax.Array,
      aug_level: jax.Array | None = None,
      *,
      train: bool,
      context: jax.Array | None = None,
  ) -> jax.Array:
    """x_noisy [B,H,W,C], cond [B,H,W,Cc] or None, noise_level [B] in (0, 1] -> eps
    [B,H,W,out_ch] f32.

    `aug_level` [B] in [0, 1] is required with `cond_augmentation` and refused without it;
    `context` [B,E] likewise with `text_conditioning`. H and W must be divisible by
    2**(len(ch_mult) - 1). With train=True and dropout > 0, apply needs rngs={'dropout': key}.
    """
    self._check_inputs(x_noisy, cond, noise_level, aug_level, context)
    conv, dense, norm = _layers(self.dtype)
    attention = lambda: AttentionBlock(self.num_groups, self.dtype)
    block_class = ResBlock
    if REMAT_POLICIES[self.remat] is not None:  # `train` (argument 3) stays a Python bool.
      block_class = nn.remat(ResBlock, static_argnums=(3,), policy=REMAT_POLICIES[self.remat])
    block_names = (f"ResBlock_{i}" for i in itertools.count())  # The same with and without remat.

    def res_block(mult, resample=None):
      return block_class(
          self.ch * mult,
          self.num_groups,
          self.dropout,
          resample=resample,
          skip_rescale=self.skip_rescale,
          dtype=self.dtype,
          name=next(block_names),
      )

    def resample_block(mult, direction):
      if self.resblock_updown:
        return lambda h: res_block(mult, direction)(h, emb, train)
      return (Downsample if direction == "down" else Upsample)(self.dtype)

    emb = noise_level_embedding(noise_level, self.ch, self.noise_embedding)
    if self.cond_augmentation:
      emb = jnp.concatenate([emb, noise_level_embedding(aug_level, self.ch)], axis=-1)
    emb = dense(EMBEDDING_MULT * self.ch)(emb)
    emb = dense(EMBEDDING_MULT * self.ch)(nn.swish(emb))
    if self.text_conditioning:
      emb = emb + dense(EMBEDDING_MULT * self.ch, use_bias=False, name="context_proj")(context)

    h = x_noisy if cond is None else jnp.concatenate([x_noisy, cond.astype(x_noisy.dtype)], axis=-1)
    h = conv(self.ch, (3, 3), name="conv_in")(h)
    skips = [h]
    last_level = len(self.ch_mult) - 1
    for level, mult in enumerate(self.ch_mult):
      for _ in range(self.num_res_blocks):
        h = res_block(mult)(h, emb, train)
        if h.shape[1] in self.attn_resolutions:
          h = attention()(h)
        skips.append(h)
      if level != last_level:
        h = resample_block(mult, "down")(h)
        skips.append(h)

    h = res_block(self.ch_mult[-1])(h, emb, train)
    h = attention()(h)
    h = res_block(self.ch_mult[-1])(h, emb, train)

    for level, mult in reversed(list(enumerate(self.ch_mult))):
      for _ in range(self.num_res_blocks + 1):
        h = res_block(mult)(jnp.concatenate([h, skips.pop()], axis=-1), emb, train)
        if h.shape[1] in self.attn_resolutions:
          h = attention()(h)
      if level != 0:
        h = resample_block(mult, "up")(h)

    h = nn.swish(norm(self.num_groups, name="norm_out")(h))
    h = conv(self.out_ch, (3, 3), kernel_init=nn.initializers.zeros, name="conv_out")(h)
    return h.astype(jnp.float32)

  def _check_inputs(
      self,
      x_noisy: jax.Array,
      cond: jax.Array | None,
      noise_level: jax.Array,
      aug_level: jax.Array | None,
      context: jax.Array | None,
  ) -> None:
    """Raises ValueError naming the offending input or setting."""
    factor = 2 ** (len(self.ch_mult) - 1)
    if x_noisy.ndim != 4 or x_noisy.shape[1] % factor or x_noisy.shape[2] % factor:
      raise ValueError(
          f"UNet x_noisy must be [B,H,W,C] with H and W divisible by {factor} "
          f"(2**(len(ch_mult)-1) for ch_mult={tuple(self.ch_mult)}); got shape {x_noisy.shape}"
      )
    if cond is not None and (cond.ndim != 4 or cond.shape[:3] != x_noisy.shape[:3]):
      raise ValueError(
          f"UNet cond must be [B,H,W,Cc] matching x_noisy {x_noisy.shape} in B, H, W; "
          f"got shape {cond.shape}"
      )
    if noise_level.shape != x_noisy.shape[:1]:
      raise ValueError(
          f"UNet noise_level must have shape ({x_noisy.shape[0]},); "
          f"got shape {noise_level.shape}"
      )
    if self.cond_augmentation != (aug_level is not None):
      raise ValueError(
          "UNet aug_level must be given exactly when cond_augmentation=True "
          f"(cond_augmentation={self.cond_augmentation}, aug_level "
          f'{"given" if aug_level is not None else "missing"})'
      )
    if self.text_conditioning != (context is not None):
      raise ValueError(
          "UNet context must be given exactly when text_conditioning=True "
          f"(text_conditioning={self.text_conditioning}, context "
          f'{"given" if context is not None else "missing"})'
      )
    if context is not None and (context.ndim != 2 or context.shape[0] != x_noisy.shape[0]):
      raise ValueError(f"UNet context must be [{x_noisy.shape[0]}, E]; got shape {context.shape}")
    if aug_level is not None and aug_level.shape != x_noisy.shape[:1]:
      raise ValueError(
          f"UNet aug_level must have shape ({x_noisy.shape[0]},); got shape {aug_level.shape}"
      )
    widths = sorted({self.ch} | {self.ch * m for m in self.ch_mult})
    if any(w % self.num_groups for w in widths):
      raise ValueError(
          f"UNet num_groups={self.num_groups} must divide every width {widths} "
          f"(ch={self.ch}, ch_mult={tuple(self.ch_mult)})"
      )
