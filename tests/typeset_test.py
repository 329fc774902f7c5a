"""Poster titles: band choice, fitting, wrapping, Chinese glyphs, the font, and bad input."""

import pathlib

import numpy as np
from PIL import ImageFont
import pytest

from posergen_jax.io import fonts
from posergen_jax.poster import typeset


def _poster(calm_band: int, size: int = 96) -> np.ndarray:
  """Noise everywhere except one flat grey band (0 top, 1 middle, 2 bottom)."""
  image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
  top, bottom = typeset.band_rows(size, calm_band)
  image[top:bottom] = 180
  return image


def _changed_rows(before: np.ndarray, after: np.ndarray) -> np.ndarray:
  return np.nonzero((before != after).any(axis=(1, 2)))[0]


@pytest.mark.parametrize("band", [0, 2])
def test_title_goes_to_the_calm_band_and_nowhere_else(band):
  image = _poster(band)
  before = image.copy()
  out = typeset.typeset(image, "Night Market", "夜市")
  np.testing.assert_array_equal(image, before)  # input untouched
  assert out.shape == image.shape and out.dtype == np.uint8
  top, bottom = typeset.band_rows(96, band)
  rows = _changed_rows(image, out)
  assert len(rows) > 5 and rows.min() >= top and rows.max() < bottom


def test_text_colour_contrasts_with_the_band():
  dark = np.zeros((64, 64, 3), np.uint8)
  light = np.full((64, 64, 3), 255, np.uint8)
  # On black the fill is white (with a black outline), on white the reverse.
  assert typeset.typeset(dark, "A").max() == 255
  assert typeset.typeset(light, "A").min() == 0


def _fonts_used(monkeypatch, **kwargs) -> list[ImageFont.FreeTypeFont]:
  """The fonts `typeset.typeset` sets a title and subtitle in, seen through its layout."""
  used = []
  real_layout = typeset.layout

  def spy(*args, **layout_kwargs):
    plan = real_layout(*args, **layout_kwargs)
    used.extend(font for font, _ in plan.blocks)
    return plan

  monkeypatch.setattr(typeset, "layout", spy)
  typeset.typeset(np.full((96, 96, 3), 200, np.uint8), "海报", "电影", **kwargs)
  assert len(used) == 2
  return used


def test_default_font_is_the_simplified_chinese_face(monkeypatch):
  # Face 0 of the Noto Sans CJK collection is the Japanese one (JP glyph variants).
  assert {font.getname()[0] for font in _fonts_used(monkeypatch)} == {"Noto Sans CJK SC"}


def test_a_given_font_file_uses_its_first_face(monkeypatch):
  path, _ = fonts.cjk_font_file()
  first_face = ImageFont.truetype(str(path), 12, index=0).getname()[0]
  used = _fonts_used(monkeypatch, font_path=str(path))
  assert {font.getname()[0] for font in used} == {first_face}


def test_missing_default_font_is_a_file_not_found_error(monkeypatch):
  monkeypatch.setattr(fonts, "_packaged_font_path", lambda: None)
  monkeypatch.setattr(fonts, "_DEBIAN_FONT", pathlib.Path("/nonexistent/font.ttc"))
  fonts.cjk_font_file.cache_clear()
  try:
    with pytest.raises(FileNotFoundError, match="noto-cjk-sans-otc.*font_path"):
      typeset.typeset(np.zeros((32, 32, 3), np.uint8), "A")
  finally:
    fonts.cjk_font_file.cache_clear()


def test_chinese_titles_render_real_glyphs():
  font = typeset.load_font(typeset.font_file(), 32)
  masks = [np.asarray(font.getmask(text)) for text in ("海报", "电影", "\uffff\uffff")]
  # Two different Chinese words give different ink; neither is the missing-glyph box.
  assert masks[0].sum() > 0 and masks[1].sum() > 0
  assert masks[0].shape != masks[1].shape or not np.array_equal(masks[0], masks[1])
  assert not np.array_equal(masks[0], masks[2])


def test_long_titles_wrap_within_the_width_and_the_subtitle_is_smaller():
  font_file = typeset.font_file()
  width = 200
  font, lines = typeset.fit("The Quiet Festival of Lanterns by the River", font_file, width, 80, 2)
  assert len(lines) == 2
  assert all(font.getlength(line) <= width for line in lines)
  assert " ".join(lines) == "The Quiet Festival of Lanterns by the River"
  cjk = typeset.wrap("一二三四五六七八九十", typeset.load_font(font_file, 20), 100)
  assert "".join(cjk) == "一二三四五六七八九十" and len(cjk) == 2  # 20 px characters, 5 a line
  image = np.full((256, 256, 3), 200, np.uint8)
  plan = typeset.layout(image, "Jazz", "Friday at nine", font_file)
  (title_font, title_lines), (sub_font, sub_lines) = plan.blocks
  assert title_lines == ["Jazz"] and sub_lines == ["Friday at nine"]
  assert sub_font.size < title_font.size
  assert (plan.fill, plan.outline) == ((0, 0, 0), (255, 255, 255))  # dark text on light grey


@pytest.mark.parametrize(
    "image, title, message",
    [
        (np.zeros((8, 8, 3), np.float32), "A", "uint8"),
        (np.zeros((8, 8), np.uint8), "A", "uint8"),
        (np.zeros((8, 8, 3), np.uint8), "  ", "title is empty"),
    ],
)
def test_bad_input_is_named(image, title, message):
  with pytest.raises(ValueError, match=message):
    typeset.typeset(image, title)
