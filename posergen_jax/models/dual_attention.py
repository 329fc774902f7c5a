"""Dual attention (DANet, Fu et al. 2019): position (PAM) and channel (CAM) attention, NHWC.

Both modules add their attention output, scaled by a learnable gamma initialised to 0, to their
input, so they start as the identity and learn how much attention to mix in. Gt-StackGAN puts them
after the joint conv of its second generator stage.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# Query/key width of PAM is channels // PAM_REDUCTION (DANet and SAGAN: 8).
PAM_REDUCTION = 8
# Values of DualAttention.mode: which modules run (an ablation switch).
ATTENTION_MODES = ("none", "pam", "cam", "dual", "dual_parallel")


def attend(q: jax.Array, k: jax.Array, v: jax.Array, query_chunk: int | None) -> jax.Array:
  """softmax_j(q_i · k_j) v_j: q, k [B,N,D], v [B,N,C] -> [B,N,C] in v's dtype.

  With `query_chunk` dividing N (and below it), the queries go `query_chunk` at a time through
  `lax.map`, each chunk's [B, query_chunk, N] affinities recomputed in the backward pass
  (`jax.checkpoint`) rather than kept: the [B,N,N] affinity is never whole in memory, which makes
  the Gt-StackGAN train step faster on a CPU (benchmarks/README.md, "Where the CPU step goes").
  """

  def rows(q_rows: jax.Array) -> jax.Array:
    energy = jnp.einsum("bnd,bmd->bnm", q_rows, k, preferred_element_type=jnp.float32)
    return jnp.einsum("bnm,bmc->bnc", jax.nn.softmax(energy, axis=-1).astype(v.dtype), v)

  batch, positions, width = q.shape
  if query_chunk is None or query_chunk >= positions or positions % query_chunk:
    return rows(q)
  chunks = q.reshape(batch, positions // query_chunk, query_chunk, width).swapaxes(0, 1)
  out = jax.lax.map(jax.checkpoint(rows), chunks)  # [N/chunk, B, chunk, C]
  return out.swapaxes(0, 1).reshape(batch, positions, v.shape[-1])


def _gamma(module: nn.Module) -> jax.Array:
  """The residual scale: a float32 scalar parameter initialised to 0."""
  return module.param("gamma", nn.initializers.zeros, (), jnp.float32)


class PositionAttention(nn.Module):
  """PAM: every position attends to every position. [B,H,W,C] -> [B,H,W,C].

  With q, k (1x1 convs to C/8) and v (1x1 conv to C) flattened to [B,N,.] over N = H W positions:
  A = softmax_j(q_i . k_j) [B,N,N], out_i = sum_j A_ij v_j, result = gamma * out + x.
  Queries go `query_chunk` at a time (`attend`), so the N x N affinity (64 MiB per image at 64x64
  in float32) is never whole in memory; None computes it at once.
  """

  dtype: Any = jnp.float32
  query_chunk: int | None = 128

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch, height, width, channels = x.shape
    if channels < PAM_REDUCTION:
      raise ValueError(f"PositionAttention needs at least {PAM_REDUCTION} channels; got {channels}")
    conv = lambda features, name: nn.Conv(
        features, (1, 1), dtype=self.dtype, param_dtype=jnp.float32, name=name
    )
    flat = lambda h: h.reshape(batch, height * width, h.shape[-1])
    q = flat(conv(channels // PAM_REDUCTION, "query")(x))
    k = flat(conv(channels // PAM_REDUCTION, "key")(x))
    v = flat(conv(channels, "value")(x))
    out = attend(q, k, v, self.query_chunk).reshape(x.shape)
    return (_gamma(self) * out + x).astype(x.dtype)


class ChannelAttention(nn.Module):
  """CAM: every channel attends to every channel. [B,H,W,C] -> [B,H,W,C].

  With X [B,C,N] the input flattened over positions: E = X X^T [B,C,C],
  A = softmax_d(max_d' E_cd' - E_cd), out = A X, result = gamma * out + x. No projections:
  gamma is the only parameter.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch, height, width, channels = x.shape
    flat = x.reshape(batch, height * width, channels)
    energy = jnp.einsum("bnc,bnd->bcd", flat, flat, preferred_element_type=jnp.float32)
    energy = jnp.max(energy, axis=-1, keepdims=True) - energy
    attention = jax.nn.softmax(energy, axis=-1).astype(x.dtype)
    out = jnp.einsum("bcd,bnd->bnc", attention, flat).reshape(x.shape)
    return (_gamma(self) * out + x).astype(x.dtype)


class DualAttention(nn.Module):
  """PAM and/or CAM by `mode`: [B,H,W,C] -> [B,H,W,C].

  'none' is the identity, 'pam' and 'cam' run one module, 'dual' runs PAM then CAM;
  'dual_parallel' runs both on the input and adds their contributions, as DANet's segmentation
  head sums its two branches: x + γ_p·PAM_out(x) + γ_c·CAM_out(x) (DANet also wraps each branch
  in convs, left out here). Both compositions are the identity at initialisation (γ = 0) and have
  the same parameters.

  Attributes:
    mode: one of ATTENTION_MODES.
    dtype: compute dtype of PAM's convs; parameters are float32.
  """

  mode: str = "dual"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.mode not in ATTENTION_MODES:
      raise ValueError(f"DualAttention mode must be one of {ATTENTION_MODES}; got {self.mode!r}")
    if self.mode == "dual_parallel":
      pam = PositionAttention(self.dtype, name="pam")(x)
      cam = ChannelAttention(name="cam")(x)
      return (pam + cam - x).astype(x.dtype)
    if self.mode in ("pam", "dual"):
      x = PositionAttention(self.dtype, name="pam")(x)
    if self.mode in ("cam", "dual"):
      x = ChannelAttention(name="cam")(x)
    return x
