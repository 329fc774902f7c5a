"""Dead-leaves images and the SR pairs that mix them in."""

import numpy as np
import tensorflow as tf

from posergen_jax.configs import sr3 as sr3_config
from posergen_jax.data import dead_leaves, preprocess
from posergen_jax.families import sr3

PALETTE = tf.constant([[-1.0, -1.0, -1.0], [1.0, 0.0, -0.5], [0.2, 0.9, 1.0]])


def _image(seed, size=32, palette=PALETTE):
  return dead_leaves.make_drawer(size)(tf.constant(seed, tf.int64), palette).numpy()


def test_layouts_are_fixed_by_their_seed_and_later_discs_lie_on_top():
  maps = dead_leaves.index_maps(4, 16, seed=5)
  assert maps.shape == (4, 32, 32) and maps.dtype == np.int16
  np.testing.assert_array_equal(maps, dead_leaves.index_maps(4, 16, seed=5))
  assert not np.array_equal(maps, dead_leaves.index_maps(4, 16, seed=6))
  # Later discs cover earlier ones: most pixels show a disc dropped in the last half.
  assert np.mean(maps >= dead_leaves.NUM_DISCS // 2) > 0.5


def test_discs_take_the_palettes_colours_and_the_seed_fixes_the_image():
  image = _image([0, 1])
  assert image.shape == (32, 32, 3) and image.dtype == np.float32
  pixels = image.reshape(-1, 3)
  distance = np.abs(pixels[:, None, :] - PALETTE.numpy()[None]).max(-1).min(-1)
  # Inside discs a pixel is a palette colour; only antialiased edge pixels mix two.
  assert np.mean(distance < 1e-6) > 0.5
  assert len({tuple(p) for p in pixels[distance < 1e-6]}) == 3  # Every colour is drawn.
  np.testing.assert_array_equal(image, _image([0, 1]))
  assert np.abs(image - _image([0, 2])).max() > 0.5  # Another layout or other colours.


def test_edges_come_at_every_scale():
  """Radii ∝ r^-3: the image's gradient energy is spread over octaves, not one disc size."""
  image = _image([3, 4], size=64)[..., 0]
  spectrum = np.abs(np.fft.fftshift(np.fft.fft2(image - image.mean()))) ** 2
  radius = np.hypot(*np.meshgrid(np.arange(64) - 32, np.arange(64) - 32, indexing="ij"))
  octaves = [spectrum[(radius >= lo) & (radius < 2 * lo)].sum() for lo in (2, 4, 8, 16)]
  # Each octave holds energy of the same order (a power law), none vanishes.
  assert min(octaves) > 0.02 * max(octaves)


def test_sr_pairs_replace_that_fraction_of_the_images_in_their_own_colours():
  halves = np.zeros((16, 16, 3), np.uint8)
  halves[:, 8:] = 255  # Black and white: leaves drawn from these are black and white too.
  example = {"image": tf.constant(halves)}
  original = preprocess.scaled_square(example, "image", 16).numpy()

  def targets(fraction):
    make = preprocess.sr_pairs(
        image_key="image", hr_size=16, lr_size=8, random_flip=False, dead_leaves=fraction
    )
    return [make(example, tf.constant([1, s], tf.int64))["target"].numpy() for s in range(200)]

  assert all(np.array_equal(t, original) for t in targets(0.0))
  mixed = targets(0.5)
  replaced = [t for t in mixed if not np.array_equal(t, original)]
  assert 0.4 < len(replaced) / len(mixed) < 0.6
  for leaves in replaced:  # Greys only where antialiased edges mix black and white.
    assert np.allclose(leaves[..., 0], leaves[..., 2]) and leaves.min() >= -1 and leaves.max() <= 1


def test_the_sr3_family_mixes_them_into_training_only():
  config = sr3_config.get_config("quick")
  config.data.dead_leaves = 1.0
  family = sr3.make_family(config)
  halves = np.zeros((32, 32, 3), np.uint8)
  halves[:, 16:] = 255
  example = {"image": tf.constant(halves)}
  seed = tf.constant([0, 3], tf.int64)
  original = preprocess.scaled_square(example, "image", config.data.hr_size).numpy()
  evaluated = family.make_preprocess(False)(example, seed)["target"].numpy()
  trained = family.make_preprocess(True)(example, seed)["target"].numpy()
  np.testing.assert_array_equal(evaluated, original)
  assert not np.array_equal(trained, original) and not np.array_equal(trained, original[:, ::-1])
