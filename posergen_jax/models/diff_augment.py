"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al. 2020).

Real and generated images are augmented alike before the critic scores them, in every critic and
generator update, so the critic cannot memorise a small training set while the generator still
gets gradients through the augmentation. Only geometric policies are here: captions name colours,
and colour augmentations leak into what a generator draws (Karras et al. 2020, ADA).
"""

import jax
import jax.numpy as jnp

POLICIES = ("translation", "cutout")
# DiffAugment's ratios: shifts up to 1/8 of the side; a square hole of half the side.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def translation(images: jax.Array, rng: jax.Array) -> jax.Array:
  """Each image [B,H,W,C] shifted by up to ±H/8, ±W/8 pixels, the uncovered border zero."""
  b, h, w, _ = images.shape
  pad_h, pad_w = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
  shifts = jax.random.randint(rng, (b, 2), 0, jnp.asarray([2 * pad_h + 1, 2 * pad_w + 1]))
  padded = jnp.pad(images, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))
  return jax.vmap(
      lambda image, shift: jax.lax.dynamic_slice(
          image, (shift[0], shift[1], 0), (h, w, image.shape[-1])
      )
  )(padded, shifts)


def cutout(images: jax.Array, rng: jax.Array) -> jax.Array:
  """Each image [B,H,W,C] with a square of half its side, centred at random, set to zero."""
  b, h, w, _ = images.shape
  size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
  centres = jax.random.randint(
      rng, (b, 2), 0, jnp.asarray([h + (1 - size_h % 2), w + (1 - size_w % 2)])
  )
  rows = jnp.arange(h)[None, :] - centres[:, :1] + size_h // 2
  cols = jnp.arange(w)[None, :] - centres[:, 1:] + size_w // 2
  inside = ((rows >= 0) & (rows < size_h))[:, :, None] & ((cols >= 0) & (cols < size_w))[:, None, :]
  return images * (~inside)[..., None].astype(images.dtype)


def augment(images: jax.Array, rng: jax.Array, policies: tuple[str, ...]) -> jax.Array:
  """`images` [B,H,W,C] through each of `policies` (names in POLICIES) in order."""
  for i, policy in enumerate(policies):
    op = {"translation": translation, "cutout": cutout}.get(policy)
    if op is None:
      raise ValueError(f"augmentation {policy!r} is not one of {POLICIES}.")
    images = op(images, jax.random.fold_in(rng, i))
  return images
