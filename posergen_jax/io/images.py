"""Sample grids: rows of image columns, as uint8 arrays and PNG files."""

from collections.abc import Sequence
import io

from etils import epath
import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Float images in [-1, 1] (any shape) → uint8 in [0, 255], clipped."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def nearest_resize(images, size: int):
  """[B,s,s,C] -> [B,size,size,C] by pixel repetition (`size` a multiple of s); numpy or jax."""
  scale = size // images.shape[1]
  return images.repeat(scale, axis=1).repeat(scale, axis=2)


def make_grid(columns: Sequence[np.ndarray], *, pad: int = 2) -> np.ndarray:
  """Lays out images side by side, one row per example.

  Args:
    columns: arrays `[N, H, W, C]` in [-1, 1], one per column (e.g. low-res,
      sample, target); all of the same shape.
    pad: white pixels between images.

  Returns:
    uint8 `[N * (H + pad) + pad, len(columns) * (W + pad) + pad, C]`.
  """
  columns = [to_uint8(c) for c in columns]
  n, h, w, c = columns[0].shape
  grid = np.full((n * (h + pad) + pad, len(columns) * (w + pad) + pad, c), 255, np.uint8)
  for j, column in enumerate(columns):
    for i in range(n):
      top, left = pad + i * (h + pad), pad + j * (w + pad)
      grid[top : top + h, left : left + w] = column[i]
  return grid


def png_bytes(image: np.ndarray) -> bytes:
  """uint8 `[H, W, 3]` encoded as a PNG file's bytes."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return buffer.getvalue()


def write_png(path: epath.PathLike, image: np.ndarray) -> None:
  """Writes uint8 `[H, W, 3]` to `path`, creating parent folders."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(png_bytes(image))
