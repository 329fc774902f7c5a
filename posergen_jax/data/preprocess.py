"""Per-example preprocessing ops (TF, inside tf.data)."""

from collections.abc import Callable, Sequence

import tensorflow as tf

from posergen_jax.data import dead_leaves as dead_leaves_lib

Example = dict[str, tf.Tensor]


def center_square_resize(image: tf.Tensor, size: int) -> tf.Tensor:
  """Center-crops `[H, W, C]` to a square and resizes it to `[size, size, C]`.

  Uses antialiased bicubic resizing; returns float32 in the input's value range.
  """
  shape = tf.shape(image)
  side = tf.minimum(shape[0], shape[1])
  top = (shape[0] - side) // 2
  left = (shape[1] - side) // 2
  image = tf.image.crop_to_bounding_box(image, top, left, side, side)
  image = tf.cast(image, tf.float32)
  if image.shape[0] == size and image.shape[1] == size:
    return image
  return tf.image.resize(image, (size, size), method="bicubic", antialias=True)


def image_feature(example: Example, image_key: str) -> tf.Tensor:
  """`example[image_key]`, or a KeyError naming `data.image_key` and the features there are."""
  if image_key not in example:
    raise KeyError(
        f"data.image_key={image_key!r} is not a feature of this dataset; "
        f"it has {sorted(example)}."
    )
  return example[image_key]


def scaled_square(example: Example, image_key: str, size: int) -> tf.Tensor:
  """The example's image centre-cropped and resized to float32 `[size, size, C]` in [-1, 1]."""
  image = center_square_resize(image_feature(example, image_key), size)
  return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def image_key_for_size(size: int) -> str:
  """The feature `text_to_image` stores the real image of side `size` under."""
  return f"image_{size}"


def text_to_image(
    *,
    image_key: str,
    sizes: Sequence[int],
    random_flip: bool,
    text_preprocess: Callable[[Example, tf.Tensor], Example],
):
  """Returns a `PreprocessFn` for a text-to-image GAN: real images at every scale + text features.

  The image is centre-cropped and resized to the largest of `sizes`, flipped at random when
  `random_flip`, then resized down (antialiased bicubic) to the other sizes; each is stored as
  float32 `[S, S, C]` in [-1, 1] under `image_key_for_size(S)`. `text_preprocess(example, seed)`
  adds the text features (e.g. `conditioning.TextConditioning.preprocess_fn(train)`).
  """
  top = max(sizes)

  def preprocess(example: Example, seed: tf.Tensor) -> Example:
    image = scaled_square(example, image_key, top)
    if random_flip:
      image = tf.image.stateless_random_flip_left_right(image, seed=seed)
    features = {
        image_key_for_size(size): tf.clip_by_value(
            tf.image.resize(image, (size, size), method="bicubic", antialias=True), -1.0, 1.0
        )
        for size in sizes
        if size != top
    }
    features[image_key_for_size(top)] = image
    return {**features, **text_preprocess(example, seed)}

  return preprocess


def make_sr_pair(hr: tf.Tensor, lr_size: int) -> dict[str, tf.Tensor]:
  """Builds an SR training pair from a high-res image.

  Args:
    hr: float32 `[H, H, C]` in [-1, 1].
    lr_size: side length of the low-res image.

  Returns:
    `target` (= hr), `lowres` `[lr_size, lr_size, C]` (antialiased bicubic
    downsampling) and `cond` `[H, H, C]` (`lowres` bicubic-upsampled back to
    the target size), all float32 in [-1, 1].
  """
  size = hr.shape[0]
  lowres = tf.clip_by_value(
      tf.image.resize(hr, (lr_size, lr_size), method="bicubic", antialias=True), -1.0, 1.0
  )
  cond = tf.clip_by_value(tf.image.resize(lowres, (size, size), method="bicubic"), -1.0, 1.0)
  return {"target": hr, "lowres": lowres, "cond": cond}


def sr_pairs(
    *, image_key: str, hr_size: int, lr_size: int, random_flip: bool, dead_leaves: float = 0.0
):
  """Returns a `PreprocessFn` making SR pairs (see `make_sr_pair`) plus `label` if present.

  With `dead_leaves` > 0, that fraction of the examples have their image replaced by a
  dead-leaves image (data/dead_leaves.py) drawn in the image's own colours."""
  draw_leaves = dead_leaves_lib.make_drawer(hr_size) if dead_leaves > 0 else None

  def preprocess(example: Example, seed: tf.Tensor) -> Example:
    hr = scaled_square(example, image_key, hr_size)
    if random_flip:
      hr = tf.image.stateless_random_flip_left_right(hr, seed=seed)
    if dead_leaves > 0:
      draw = tf.random.experimental.stateless_fold_in(seed, 1)
      hr = tf.cond(
          tf.random.stateless_uniform([], draw) < dead_leaves,
          lambda: draw_leaves(
              tf.random.experimental.stateless_fold_in(seed, 2), tf.reshape(hr, [-1, hr.shape[-1]])
          ),
          lambda: hr,
      )
    features = make_sr_pair(hr, lr_size)
    if "label" in example:
      features["label"] = tf.cast(example["label"], tf.int32)
    return features

  return preprocess
