"""Locates Noto Sans CJK (Simplified Chinese face) and loads it at a pixel size.

The font comes from the PyPI wheel `noto-cjk-sans-otc`, found through the
`noto-cjk` package's `otc_path('sans')`; Debian's `fonts-noto-cjk` file is the
fallback. Nothing is downloaded.
"""

import functools
import pathlib

from PIL import ImageFont

from posergen_jax.io import errors

_DEBIAN_FONT = pathlib.Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_FACE_NAME = "Noto Sans CJK SC"
_INSTALL_HINT = (
    "The Noto Sans CJK font was not found. Install it with "
    "`pip install noto-cjk noto-cjk-sans-otc` (or `apt-get install fonts-noto-cjk`)."
)


def _packaged_font_path() -> pathlib.Path | None:
  try:
    import noto_cjk  # pylint: disable=g-import-not-at-top

    return pathlib.Path(noto_cjk.otc_path("sans"))
  except (ImportError, RuntimeError):  # noto_cjk.FontNotInstalled is a RuntimeError.
    return None


@functools.lru_cache(maxsize=None)
def cjk_font_file() -> tuple[pathlib.Path, int]:
  """Returns (path of the Noto Sans CJK collection, index of its SC face).

  Raises:
    MissingFileError (a FileNotFoundError): naming the packages to install when no font is
      found (also when the file found has no SC face).
  """
  error = errors.MissingFileError(_INSTALL_HINT)
  for path in (_packaged_font_path(), _DEBIAN_FONT):
    if path is not None and path.is_file():
      try:
        return path, _sc_face_index(path)
      except FileNotFoundError as e:  # No SC face in this file: try the next one.
        error = e
  raise error


def _sc_face_index(path: pathlib.Path) -> int:
  """Index of the Simplified Chinese face inside the collection."""
  index = 0
  while True:
    try:
      face = ImageFont.truetype(str(path), 12, index=index)
    except OSError:  # Past the last face, or not a font file.
      raise errors.MissingFileError(f"{path} has no {_FACE_NAME!r} face. {_INSTALL_HINT}") from None
    if face.getname()[0] == _FACE_NAME:
      return index
    index += 1


@functools.lru_cache(maxsize=256)
def cjk_font(size_px: int) -> ImageFont.FreeTypeFont:
  """Noto Sans CJK SC at `size_px` pixels (clamped to >= 1), basic layout.

  The basic layout engine (no libraqm) keeps the glyph placement the same on
  every machine; Chinese and Latin text need no shaping.
  """
  path, index = cjk_font_file()
  return ImageFont.truetype(
      str(path), max(1, int(size_px)), index=index, layout_engine=ImageFont.Layout.BASIC
  )
