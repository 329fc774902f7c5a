"""DiffAugment's geometric policies: what each does to an image, and gradients through them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.models import diff_augment


def test_translation_shifts_each_image_within_an_eighth_and_fills_zeros():
  images = jnp.ones((64, 16, 16, 3))
  shifted = np.asarray(diff_augment.translation(images, jax.random.key(0)))
  assert shifted.shape == images.shape
  # Each image is a shifted all-ones square: its zero border is at most 2 = 16/8 pixels wide.
  rows_kept = shifted[..., 0].max(axis=2).sum(axis=1)
  cols_kept = shifted[..., 0].max(axis=1).sum(axis=1)
  assert rows_kept.min() >= 14 and cols_kept.min() >= 14
  assert len(set(zip(rows_kept, cols_kept))) > 3  # Different shifts per image.
  # A shift moves content: a one-pixel marker moves by the same offset as the border.
  marker = jnp.zeros((1, 16, 16, 1)).at[0, 8, 8, 0].set(1.0)
  moved = np.argwhere(np.asarray(diff_augment.translation(marker, jax.random.key(3)))[0, ..., 0])
  assert len(moved) == 1 and np.all(np.abs(moved[0] - 8) <= 2)


def test_cutout_zeroes_one_square_of_half_the_side():
  images = jnp.ones((32, 16, 16, 3))
  out = np.asarray(diff_augment.cutout(images, jax.random.key(1)))
  zeroed = (out[..., 0] == 0).sum(axis=(1, 2))
  assert zeroed.max() == 64  # 8 x 8 when it lies inside the image,
  assert zeroed.min() >= 16  # clipped at the border otherwise (its centre is inside).
  np.testing.assert_array_equal(out[..., 0], out[..., 2])  # The same hole in every channel.


def test_gradients_pass_through_the_augmentation():
  images = jax.random.normal(jax.random.key(2), (4, 8, 8, 3))
  grads = jax.grad(
      lambda x: jnp.sum(diff_augment.augment(x, jax.random.key(0), ("translation", "cutout")))
  )(images)
  assert 0 < float(jnp.sum(grads)) < images.size  # Ones where a pixel survives, zeros elsewhere.


def test_unknown_policy_is_named():
  with pytest.raises(ValueError, match="'color'"):
    diff_augment.augment(jnp.zeros((1, 8, 8, 3)), jax.random.key(0), ("color",))
