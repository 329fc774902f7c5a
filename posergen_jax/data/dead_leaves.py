"""Dead-leaves images: occluding discs with scale-invariant radii, a synthetic stand-in for
natural images' edges and textures at every scale (Lee, Mumford & Huang 2001).

Drawing a thousand discs per training example would slow the SR3 step, so the disc layouts are
drawn once, with NumPy, into a pool of index maps (which disc is on top at each pixel); an
example then takes a pool map under one of its 8 flips and rotations and paints each disc a
colour picked from its own image.
"""

from collections.abc import Callable
import functools

import numpy as np
import tensorflow as tf

NUM_DISCS = 1024
# Radii have density ∝ r^-3 in [MIN_RADIUS, size / 2] pixels of the output: as many discs per
# area at every scale (1,024 cover all but ~0.5% of the image).
MIN_RADIUS = 1.0
SUPERSAMPLE = 2  # Layouts are drawn at this multiple of the size, then area-downsampled.
POOL_SIZE = 128  # Layouts in the pool; x 8 flips and rotations.


def index_maps(count: int, size: int, seed: int = 0) -> np.ndarray:
  """`count` dead-leaves layouts: int16 `[count, S, S]`, S = SUPERSAMPLE * size, each pixel the
  index of the last of NUM_DISCS discs dropped on it (0 where none is)."""
  rng = np.random.default_rng(seed)
  drawn = SUPERSAMPLE * size
  low, high = MIN_RADIUS**-2.0, (size / 2.0) ** -2.0
  centre_of = np.arange(drawn) + 0.5
  maps = np.zeros((count, drawn, drawn), np.int16)
  for layout in maps:
    centres = rng.uniform(0.0, drawn, (NUM_DISCS, 2))
    radii = SUPERSAMPLE * (low - rng.uniform(size=NUM_DISCS) * (low - high)) ** -0.5
    for index, ((y, x), r) in enumerate(zip(centres, radii)):
      top, bottom = max(int(y - r), 0), min(int(y + r) + 1, drawn)
      left, right = max(int(x - r), 0), min(int(x + r) + 1, drawn)
      inside = (centre_of[top:bottom, None] - y) ** 2 + (
          centre_of[None, left:right] - x
      ) ** 2 <= r * r
      layout[top:bottom, left:right][inside] = index
  return maps


@functools.lru_cache(maxsize=4)
def _pool(size: int, seed: int) -> np.ndarray:
  """The POOL_SIZE layouts of `size`, drawn once per process; read-only, as every caller shares
  the one array."""
  maps = index_maps(POOL_SIZE, size, seed)
  maps.setflags(write=False)
  return maps


def make_drawer(size: int, seed: int = 0) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
  """A TF function (stateless seed `[2]`, colours float32 `[N, C]`) -> a dead-leaves image
  float32 `[size, size, C]`, each disc a random row of `colours`, from a pool of POOL_SIZE
  layouts (drawn on the first call for this size and seed)."""
  pool = tf.constant(_pool(size, seed))

  def draw(example_seed: tf.Tensor, colours: tf.Tensor) -> tf.Tensor:
    seeds = [tf.random.experimental.stateless_fold_in(example_seed, k) for k in range(3)]
    pick = tf.random.stateless_uniform([], seeds[0], 0, POOL_SIZE, dtype=tf.int32)
    transform = tf.random.stateless_uniform([], seeds[1], 0, 8, dtype=tf.int32)
    layout = tf.cast(tf.gather(pool, pick), tf.int32)[..., None]
    layout = tf.image.rot90(layout, transform % 4)
    layout = tf.cond(transform >= 4, lambda: tf.reverse(layout, [1]), lambda: layout)
    rows = tf.random.stateless_uniform(
        [NUM_DISCS], seeds[2], 0, tf.shape(colours)[0], dtype=tf.int32
    )
    image = tf.gather(tf.gather(colours, rows), layout[..., 0])
    return tf.image.resize(image, (size, size), method="area")

  return draw
