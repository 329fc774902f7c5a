"""Title and subtitle typesetting over a generated poster (Chinese, English or mixed).

Diffusion and GAN models at these sizes cannot draw legible characters, so the pipeline sets the
text itself: the image is cut into horizontal bands, the calmest band (least luminance gradient)
takes the title, in the largest font size that fits (at most two lines; Chinese wraps between
characters, other scripts between words), with the subtitle below it at about half the size.
The text is black or white, whichever contrasts more with the band, with a thin outline of the
other. The default font is the Simplified Chinese face of Noto Sans CJK, found by
`posergen_jax.io.fonts` (the `noto-cjk-sans-otc` package, or Debian's `fonts-noto-cjk`).
"""

import dataclasses
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from posergen_jax.io import errors, files, fonts, weights

NUM_BANDS = 3  # Candidate bands: top, middle, bottom thirds.
MAX_TITLE_LINES = 2
WIDTH_FILL = 0.9  # Text spans at most this fraction of the image width.
SUBTITLE_SCALE = 0.5  # Subtitle size relative to the title's.
MIN_FONT_SIZE = 4


# (path of a .ttf/.otf/.ttc file, index of the face inside it).
FontFile = tuple[pathlib.Path, int]


def font_file(font_path: str | pathlib.Path | None = None) -> FontFile:
  """The font `typeset` sets text in: (path, face index).

  Args:
    font_path: a .ttf/.otf/.ttc file (local or remote), whose first face (index 0) is used; None
      for the Simplified Chinese face of Noto Sans CJK (`posergen_jax.io.fonts.cjk_font_file`).

  Returns:
    (path, face index) for `ImageFont.truetype`.

  Raises:
    MissingFileError: `font_path` is None and Noto Sans CJK is not installed (the message
      names the packages to install).
  """
  if font_path:  # A remote font (gs://...) is read from a local copy.
    return files.local_copy(font_path, weights.local_cache_dir() / "remote"), 0
  try:
    return fonts.cjk_font_file()
  except FileNotFoundError as e:
    raise errors.MissingFileError(f"{e} Or pass font_path, a .ttf/.otf/.ttc font file.") from e


def load_font(font: FontFile, size: int) -> ImageFont.FreeTypeFont:
  """Face `font` = (path, index) at `size` pixels."""
  path, index = font
  return ImageFont.truetype(str(path), size, index=index)


def band_busyness(image: np.ndarray, num_bands: int = NUM_BANDS) -> np.ndarray:
  """Mean absolute luminance gradient of each horizontal band: uint8 [H,W,3] -> float [bands]."""
  luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  gradient = np.zeros_like(luma)
  gradient[:, 1:] += np.abs(np.diff(luma, axis=1))
  gradient[1:, :] += np.abs(np.diff(luma, axis=0))
  return np.array([band.mean() for band in np.array_split(gradient, num_bands, axis=0)])


def band_rows(height: int, band: int, num_bands: int = NUM_BANDS) -> tuple[int, int]:
  """[top, bottom) rows of band `band` of `num_bands`, as `np.array_split` cuts them."""
  edges = np.cumsum([0] + [len(rows) for rows in np.array_split(np.arange(height), num_bands)])
  return int(edges[band]), int(edges[band + 1])


def _is_cjk(char: str) -> bool:
  return any(
      start <= ord(char) <= end
      for start, end in ((0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))
  )


def _tokens(text: str) -> list[str]:
  """Break units: each CJK character alone, other runs of characters as words (with their
  following space)."""
  tokens, word = [], ""
  for char in text:
    if _is_cjk(char):
      tokens += [word] if word else []
      tokens.append(char)
      word = ""
    else:
      word += char
      if char == " ":
        tokens.append(word)
        word = ""
  return tokens + ([word] if word else [])


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
  """Greedy line breaking of `text` so each line is at most `width` pixels wide in `font`
  (a single unbreakable unit may exceed it)."""
  lines, line = [], ""
  for token in _tokens(text):
    if line and font.getlength((line + token).rstrip()) > width:
      lines.append(line.rstrip())
      line = token.lstrip()
    else:
      line += token
  return lines + ([line.rstrip()] if line.strip() else [])


def fit(
    text: str, font: FontFile, width: float, height: float, max_lines: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
  """The largest size of `font` = (path, face index) (and the lines) that sets `text` within
  `width` x `height` pixels in at most `max_lines` lines; the smallest size if nothing fits."""
  for size in range(max(MIN_FONT_SIZE, int(height)), MIN_FONT_SIZE - 1, -1):
    face = load_font(font, size)
    lines = wrap(text, face, width)
    if (
        len(lines) <= max_lines
        and max(face.getlength(line) for line in lines) <= width
        and len(lines) * _line_height(face) <= height
    ):
      return face, lines
  return face, lines[:max_lines]


def _line_height(font: ImageFont.FreeTypeFont) -> int:
  ascent, descent = font.getmetrics()
  return ascent + descent


def _check(image: np.ndarray, title: str) -> None:
  if (
      not isinstance(image, np.ndarray)
      or image.dtype != np.uint8
      or image.ndim != 3
      or image.shape[-1] != 3
  ):
    raise ValueError(
        f"typeset image must be uint8 [H,W,3]; got "
        f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
    )
  if not title or not title.strip():
    raise ValueError("typeset title is empty or whitespace-only.")


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where and how the text goes.

  Attributes:
    top, bottom: the band's rows [top, bottom).
    blocks: (font, lines) for the title, then the subtitle if any.
    fill, outline: RGB of the text and of its outline.
  """

  top: int
  bottom: int
  blocks: list[tuple[ImageFont.FreeTypeFont, list[str]]]
  fill: tuple[int, int, int]
  outline: tuple[int, int, int]


def layout(image: np.ndarray, title: str, subtitle: str | None, font: FontFile) -> Layout:
  """Chooses the band, font sizes, lines and colours for `typeset`.

  Args:
    image: uint8 [H,W,3].
    title, subtitle: the text (subtitle may be None).
    font: (path, face index), as `font_file` gives.

  Returns:
    The Layout.
  """
  height, width = image.shape[:2]
  top, bottom = band_rows(height, int(np.argmin(band_busyness(image))))
  share = 1.0 if not subtitle else 1.0 / (1.0 + SUBTITLE_SCALE)
  title_font, title_lines = fit(
      title.strip(), font, WIDTH_FILL * width, (bottom - top) * share, MAX_TITLE_LINES
  )
  blocks = [(title_font, title_lines)]
  if subtitle and subtitle.strip():
    sub_height = min(
        (bottom - top) - len(title_lines) * _line_height(title_font),
        SUBTITLE_SCALE * _line_height(title_font),
    )
    blocks.append(fit(subtitle.strip(), font, WIDTH_FILL * width, sub_height, 1))
  dark_band = float(image[top:bottom].astype(np.float32).mean()) <= 127.5
  white, black = (255, 255, 255), (0, 0, 0)
  return Layout(top, bottom, blocks, *((white, black) if dark_band else (black, white)))


def typeset(
    image: np.ndarray,
    title: str,
    subtitle: str | None = None,
    *,
    font_path: str | pathlib.Path | None = None,
) -> np.ndarray:
  """Sets `title` (and `subtitle`) over the calmest band of `image`.

  Args:
    image: uint8 [H,W,3]; not modified.
    title: one or two lines' worth of text, any script the font covers.
    subtitle: an optional line under the title, about half its size.
    font_path: a .ttf/.otf/.ttc file (its first face); None for the Simplified Chinese face of
      Noto Sans CJK (see `font_file`).

  Returns:
    A new uint8 [H,W,3] image; pixels outside the chosen band are unchanged.

  Raises:
    ValueError: `image` is not uint8 [H,W,3], or `title` is empty.
    MissingFileError: `font_path` is None and Noto Sans CJK is not installed.
  """
  _check(image, title)
  plan = layout(image, title, subtitle, font_file(font_path))
  canvas = Image.fromarray(image[plan.top : plan.bottom].copy())
  draw = ImageDraw.Draw(canvas)
  total = sum(len(lines) * _line_height(font) for font, lines in plan.blocks)
  y = max(0, ((plan.bottom - plan.top) - total) // 2)
  for font, lines in plan.blocks:
    stroke = max(1, font.size // 16)
    for line in lines:
      x = (image.shape[1] - font.getlength(line)) / 2
      draw.text(
          (x, y), line, font=font, fill=plan.fill, stroke_width=stroke, stroke_fill=plan.outline
      )
      y += _line_height(font)
  result = image.copy()
  result[plan.top : plan.bottom] = np.asarray(canvas)
  return result
