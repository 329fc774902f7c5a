"""SR3's residual parameterisation alone (diffusion/residual.py): what is diffused, the range of a
clean sample, the image a sample stands for, and the mean-colour shift."""

import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.diffusion import residual

RNG = np.random.default_rng(0)
TARGET = jnp.asarray(RNG.uniform(-1, 1, (2, 8, 8, 3)), jnp.float32)
COND = jnp.asarray(np.clip(TARGET + RNG.normal(0, 0.1, TARGET.shape), -1, 1), jnp.float32)


@pytest.mark.parametrize("scale", [0.5, 0.25])
def test_a_residual_is_the_scaled_detail_and_comes_back_exactly(scale):
  diffused = residual.to_diffused(TARGET, COND, scale)
  np.testing.assert_allclose(diffused, (TARGET - COND) / scale, rtol=1e-6)
  np.testing.assert_allclose(residual.from_diffused(diffused, COND, scale), TARGET, atol=1e-6)


@pytest.mark.parametrize("scale", [0.5, None])
def test_the_x0_range_is_what_maps_to_images_in_minus_one_to_one(scale):
  low, high = residual.x0_range(COND, scale)
  for bound, image in ((low, -1.0), (high, 1.0)):
    np.testing.assert_allclose(
        residual.from_diffused(jnp.broadcast_to(bound, COND.shape), COND, scale), image, atol=1e-6
    )


def test_the_image_target_is_diffused_and_returned_as_it_is():
  assert residual.to_diffused(TARGET, COND, None) is TARGET
  outside = TARGET * 1.5
  assert residual.from_diffused(outside, COND, None) is outside  # Not even clipped.


def test_a_colour_reference_sets_the_mean_colour_of_either_target():
  reference = jnp.clip(COND * 0.5 + 0.2, -1, 1)
  for scale, x in ((0.5, residual.to_diffused(TARGET, COND, 0.5)), (None, TARGET)):
    image = residual.from_diffused(x, COND, scale, reference)
    assert float(jnp.abs(image).max()) <= 1
    np.testing.assert_allclose(
        jnp.mean(image, axis=(1, 2)), jnp.mean(reference, axis=(1, 2)), atol=1e-5
    )


def test_mean_colour_shift_converges_when_half_the_pixels_clip():
  rng = np.random.default_rng(0)
  reference = jnp.asarray(rng.uniform(-1, 1, (2, 8, 8, 3)), jnp.float32)
  image = jnp.concatenate([jnp.full((2, 4, 8, 3), 1.5), reference[:, 4:] - 0.3], axis=1)
  fixed = residual.with_mean_colour_of(image, reference)
  assert float(jnp.abs(fixed).max()) <= 1
  np.testing.assert_allclose(
      jnp.mean(fixed, axis=(1, 2)), jnp.mean(reference, axis=(1, 2)), atol=1e-3
  )
