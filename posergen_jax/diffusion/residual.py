"""What a super-resolution network diffuses, and the image a sample of it stands for.

SR3 diffuses the target image itself. With a residual target the network diffuses instead
(target − cond) / residual_scale, the detail the bicubic upsample `cond` misses, and a sample x
stands for cond + residual_scale · x. `residual_scale` None below means the image target.

Under a colour fix a sample is also shifted, per image and channel, to a reference's mean colour
(`with_mean_colour_of`), so a super-resolution stage cannot tint its output.

Images and `cond` are [B,H,W,C] in [-1, 1]; diffused arrays have the same shape.
"""

import functools

import jax
import jax.numpy as jnp

# Fixed-point steps of `with_mean_colour_of` (half the pixels clipped: 2^-8 of the drift left).
MEAN_COLOUR_ITERATIONS = 8


def to_diffused(target: jax.Array, cond: jax.Array, residual_scale: float | None) -> jax.Array:
  """What the network diffuses [B,H,W,C] for `target` [B,H,W,C] given the bicubic upsample
  `cond` [B,H,W,C]: (target − cond) / residual_scale, or `target` when `residual_scale` is
  None."""
  return target if residual_scale is None else (target - cond) / residual_scale


def x0_range(
    cond: jax.Array, residual_scale: float | None
) -> tuple[jax.Array, jax.Array] | tuple[float, float]:
  """(low, high) of a clean diffused sample: per pixel [B,H,W,C] for a residual (the values
  whose image lies in [-1, 1]), else (-1.0, 1.0)."""
  if residual_scale is None:
    return -1.0, 1.0
  return (-1.0 - cond) / residual_scale, (1.0 - cond) / residual_scale


def from_diffused(
    x: jax.Array,
    cond: jax.Array,
    residual_scale: float | None,
    colour_reference: jax.Array | None = None,
) -> jax.Array:
  """The image [B,H,W,C] a diffused sample `x` [B,H,W,C] stands for, given the bicubic upsample
  `cond` [B,H,W,C]: cond + residual_scale · x (or `x` for the image target), with the mean
  colour of `colour_reference` [B,H,W,C] when one is given, and clipped to [-1, 1]. An image
  target's sample without a colour reference is returned as it is."""
  if residual_scale is None and colour_reference is None:
    return x
  image = x if residual_scale is None else cond + residual_scale * x
  if colour_reference is not None:
    return with_mean_colour_of(image, colour_reference)
  return jnp.clip(image, -1.0, 1.0)


def with_mean_colour_of(
    image: jax.Array, reference: jax.Array, iterations: int = MEAN_COLOUR_ITERATIONS
) -> jax.Array:
  """`image` [B,H,W,C] shifted per image and channel, then clipped to [-1, 1], so that its mean
  colour equals the clipped `reference`'s [B,H,W,C].

  The shift solves mean(clip(image + s)) = mean(clip(reference)) by fixed-point steps
  s += target − mean(clip(image + s)); each step cuts the error by the fraction of clipped pixels.
  """
  mean = functools.partial(jnp.mean, axis=(1, 2), keepdims=True)
  target = mean(jnp.clip(reference, -1.0, 1.0))
  shift = jnp.zeros_like(target)
  for _ in range(iterations):
    shift += target - mean(jnp.clip(image + shift, -1.0, 1.0))
  return jnp.clip(image + shift, -1.0, 1.0)
