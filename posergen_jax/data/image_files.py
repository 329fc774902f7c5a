"""Reading users' image files for the manual_dir builders (`cub_birds`, `posters`).

`read_rgb` decodes a whole file, so a truncated or corrupt file fails here
rather than turning into a half-grey picture. `stackgan_crop_box` and
`center_square_box` choose the region to keep, `resize_box` crops and resizes
it, and `read_images` runs a split's files through a builder's `prepare`
function, skipping the files that cannot be used and logging how many it
skipped and which.
"""

from collections.abc import Callable, Iterable, Iterator
import io
import logging
from typing import TypeVar

from etils import epath
import numpy as np
from PIL import Image

from posergen_jax.io import errors

# (left, top, right, bottom) in pixels; right and bottom are exclusive.
Box = tuple[int, int, int, int]
# How many skipped file names a warning lists.
MAX_NAMES_LOGGED = 5
# StackGAN's crop: a square of side 1.5 * max(bbox width, height) around the bbox centre.
STACKGAN_BBOX_SCALE = 1.5

_T = TypeVar("_T")


class BadImageError(errors.UserError, ValueError):
  """An image file that cannot be used: unreadable, not an image, corrupt or truncated."""


def read_rgb(path: epath.PathLike) -> Image.Image:
  """Reads and fully decodes the image file at `path` as RGB.

  Raises:
    BadImageError: the file cannot be read, is not an image, or its data is
      corrupt or truncated (PIL's default `LOAD_TRUNCATED_IMAGES = False`).
  """
  try:
    data = epath.Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      return image.convert("RGB")
  except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
    raise BadImageError(f"{path}: {e}") from e


def stackgan_crop_box(bbox: tuple[int, int, int, int], width: int, height: int) -> Box:
  """StackGAN's bird crop (`custom_crop` / `get_imgs`) of a `width` x `height` image.

  A square of half-side R = int(max(w, h) * 0.75) around the bbox centre
  (integer-divided as StackGAN does), clamped to the image; a box clamped at
  an edge is no longer square, and StackGAN resizes it to a square anyway.

  Args:
    bbox: (x, y, w, h) in whole pixels, x/y the top-left corner (CUB's
      bounding_boxes.txt, truncated to int as StackGAN's `load_bbox` does).
    width: image width in pixels.
    height: image height in pixels.

  Raises:
    BadImageError: the box lies outside the image.
  """
  x, y, w, h = bbox
  radius = int(max(w, h) * STACKGAN_BBOX_SCALE / 2)
  center_x, center_y = (2 * x + w) // 2, (2 * y + h) // 2
  box = (
      max(0, center_x - radius),
      max(0, center_y - radius),
      min(width, center_x + radius),
      min(height, center_y + radius),
  )
  if box[2] <= box[0] or box[3] <= box[1]:
    raise BadImageError(f"bounding box {bbox} lies outside the {width}x{height} image")
  return box


def center_square_box(width: int, height: int) -> Box:
  """The largest centred square of a `width` x `height` image.

  The same square as the input pipeline's `preprocess.center_square_resize`.
  """
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  return left, top, left + side, top + side


def resize_box(image: Image.Image, box: Box, size: int) -> np.ndarray:
  """Crops `box` out of `image` and resizes it to uint8 `[size, size, 3]`.

  Crops first, so no pixel outside `box` leaks in (as StackGAN and the input
  pipeline do), then resizes bicubic, antialiased when shrinking (PIL widens
  the filter), like the pipeline's `tf.image.resize(..., "bicubic", antialias=True)`.
  """
  return np.asarray(image.crop(box).resize((size, size), Image.Resampling.BICUBIC), np.uint8)


def read_images(
    items: Iterable[_T], prepare: Callable[[_T], np.ndarray], what: str
) -> Iterator[tuple[_T, np.ndarray]]:
  """Yields `(item, prepare(item))`, skipping the items whose image cannot be used.

  Args:
    items: one entry per image file of a split.
    prepare: reads and crops one item's image; raises `BadImageError` for a
      file that cannot be used (see `read_rgb`).
    what: names the split in the log, e.g. "cub_birds train".

  When the items are exhausted and some were skipped, logs one warning with
  the count and the first `MAX_NAMES_LOGGED` errors (each names its file).

  Raises:
    InputError: none of the (one or more) items could be used.
  """
  failures, total = [], 0
  for item in items:
    total += 1
    try:
      image = prepare(item)
    except BadImageError as e:
      failures.append(str(e))
      continue
    yield item, image
  if failures and len(failures) == total:
    raise errors.InputError(
        f"{what}: none of the {total} image files could be used; first errors: "
        + "; ".join(failures[:MAX_NAMES_LOGGED])
    )
  if failures:
    logging.warning(
        "%s: skipped %d of %d image files that could not be used "
        "(unreadable, corrupt or truncated); first %d: %s",
        what,
        len(failures),
        total,
        min(len(failures), MAX_NAMES_LOGGED),
        "; ".join(failures[:MAX_NAMES_LOGGED]),
    )
