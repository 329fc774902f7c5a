"""Cascaded super-resolution: each stage's output, upsampled, conditions the next stage."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

# (cond [B,S,S,C] at the stage's output size, colour_reference [B,S,S,C], rng) -> sample
# [B,S,S,C] in [-1, 1]. colour_reference is the cascade's own input upsampled to S: the mean
# colour a stage that fixes colours gives its sample, the same at every stage.
StageSampler = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def upsample(images: jax.Array, size: int) -> jax.Array:
  """Bicubic resize of [B,H,W,C] in [-1, 1] to [B,size,size,C], clipped to [-1, 1], float32."""
  shape = (images.shape[0], size, size, images.shape[-1])
  return jnp.clip(jax.image.resize(images.astype(jnp.float32), shape, "cubic"), -1.0, 1.0)


def chain(
    stage_samplers: Sequence[StageSampler], sizes: Sequence[int], lowres: jax.Array, rng: jax.Array
) -> list[jax.Array]:
  """Runs the stages in order from `lowres` [B,h,w,C]; returns each stage's output.

  Stage i gets the previous output (or `lowres`) bicubic-upsampled to `sizes[i]`, `lowres`
  itself upsampled to `sizes[i]` as its colour reference, and the key fold_in(rng, i); its output
  [B,sizes[i],sizes[i],C] feeds stage i+1.
  """
  if len(stage_samplers) != len(sizes):
    raise ValueError(f"{len(stage_samplers)} stage samplers but {len(sizes)} sizes")
  outputs, x = [], lowres
  for i, (sample, size) in enumerate(zip(stage_samplers, sizes)):
    x = sample(upsample(x, size), upsample(lowres, size), jax.random.fold_in(rng, i))
    outputs.append(x)
  return outputs
