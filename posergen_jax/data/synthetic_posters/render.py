"""Procedural poster renderer: a pure function of (seed, size).

`render_poster(seed, size)` first draws every choice (type, palette, layout,
motifs, picture, title) from the seed alone, then paints at `SUPERSAMPLE` times
the target size and downsamples with Lanczos. Random numbers never depend on the
pixel count, except the film grain, which has its own stream; so one seed gives
the same poster at every size (the 64, 128 and 256 configs hold the same posters).
"""

import numpy as np
from PIL import Image, ImageDraw

from posergen_jax.data.synthetic_posters import catalog, motifs, pictures
from posergen_jax.io import fonts

SUPERSAMPLE = 2

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) as fractions of the poster side.

# Where each layout puts its parts.
LAYOUT_BOXES: dict[str, dict[str, Box]] = {
    "picture_top": {
        "picture": (0.08, 0.07, 0.92, 0.60),
        "title_zh": (0.06, 0.63, 0.94, 0.76),
        "title_en": (0.06, 0.77, 0.94, 0.85),
        "subtitle": (0.10, 0.88, 0.90, 0.94),
    },
    "title_top": {
        "title_zh": (0.06, 0.05, 0.94, 0.18),
        "title_en": (0.06, 0.19, 0.94, 0.26),
        "picture": (0.08, 0.30, 0.92, 0.86),
        "subtitle": (0.10, 0.89, 0.90, 0.95),
    },
    "full_picture": {
        "picture": (0.04, 0.04, 0.96, 0.96),
        "band": (0.04, 0.64, 0.96, 0.93),
        "title_zh": (0.07, 0.66, 0.93, 0.78),
        "title_en": (0.07, 0.79, 0.93, 0.86),
        "subtitle": (0.10, 0.87, 0.90, 0.92),
    },
    "round_picture": {
        "title_zh": (0.06, 0.05, 0.94, 0.18),
        "title_en": (0.06, 0.19, 0.94, 0.26),
        "picture": (0.22, 0.31, 0.78, 0.87),
        "subtitle": (0.10, 0.90, 0.90, 0.96),
    },
}

# Independent random streams of one seed.
_CHOICES, _SHAPES, _GRAIN = range(3)
_TEXT_CANDIDATES = ("white", "black")
_MIN_TITLE_CONTRAST = 3.0
_MIN_FRAME_CONTRAST = 1.5
_COLOR_JITTER = 10
_MOTIF_OPACITY_BEHIND_TEXT = 0.3


def _rng(seed: int, stream: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _relative_luminance(rgb: catalog.RGB) -> float:
  linear = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
  return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: catalog.RGB, b: catalog.RGB) -> float:
  """WCAG contrast ratio between two sRGB colours (1 to 21)."""
  la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
  return (la + 0.05) / (lb + 0.05)


def _text_color_name(background: str, background_2: str, accent: str) -> str:
  """The accent if it stands out on both background colours, else white or black."""

  def worst_contrast(name):
    rgb = catalog.COLORS[name].rgb
    return min(
        _contrast(rgb, catalog.COLORS[background].rgb),
        _contrast(rgb, catalog.COLORS[background_2].rgb),
    )

  if worst_contrast(accent) >= _MIN_TITLE_CONTRAST:
    return accent
  return max(_TEXT_CANDIDATES, key=worst_contrast)


def _frame_color_name(background: str, accent: str, text: str) -> str:
  """The accent if it differs enough from the background, else the text colour."""
  accent_contrast = _contrast(catalog.COLORS[accent].rgb, catalog.COLORS[background].rgb)
  return accent if accent_contrast > _MIN_FRAME_CONTRAST else text


def describe_poster(seed: int) -> dict:
  """Draws every choice of poster `seed`; the result is what `render_poster` draws.

  The type cycles with the seed (`seed % 20`), so consecutive seeds are balanced
  over the 20 types.

  Returns:
    A JSON-serialisable dict: seed, label (int), type, layout, gradient, texture,
    colors ({background, background_2, accent, text, frame} -> colour names), motifs
    (list of motif ids), picture, title_en, title_zh, subtitle, and title_box
    (the Chinese title's (x0, y0, x1, y1) as fractions of the poster side).
  """
  rng = _rng(seed, _CHOICES)
  label = seed % len(catalog.TYPES)
  kind = catalog.TYPES[label]
  background, background_2, accent = kind.palettes[rng.integers(len(kind.palettes))]
  layout_weights = 0.5 ** np.arange(len(kind.layouts))
  layout = kind.layouts[rng.choice(len(kind.layouts), p=layout_weights / layout_weights.sum())]
  motif_count = rng.integers(1, 3)
  modifier = kind.title_modifiers[rng.integers(len(kind.title_modifiers))]
  noun = kind.title_nouns[rng.integers(len(kind.title_nouns))]
  venue_en, venue_zh = catalog.VENUES[rng.integers(len(catalog.VENUES))]
  date = f"{rng.integers(2024, 2027)}.{rng.integers(1, 13):02d}.{rng.integers(1, 29):02d}"
  text = _text_color_name(background, background_2, accent)
  return {
      "seed": int(seed),
      "label": int(label),
      "type": kind.name,
      "layout": layout,
      "gradient": list(catalog.GRADIENTS)[rng.integers(len(catalog.GRADIENTS))],
      "texture": list(catalog.TEXTURES)[rng.integers(len(catalog.TEXTURES))],
      "colors": {
          "background": background,
          "background_2": background_2,
          "accent": accent,
          "text": text,
          "frame": _frame_color_name(background, accent, text),
      },
      "motifs": [str(m) for m in rng.choice(kind.motifs, size=motif_count, replace=False)],
      "picture": kind.pictures[rng.integers(len(kind.pictures))],
      "title_en": f"{modifier[0]} {noun[0]}",
      "title_zh": f"{modifier[1]}{noun[1]}",
      "subtitle": f"{date} · {venue_zh} {venue_en}",
      "title_box": LAYOUT_BOXES[layout]["title_zh"],
  }


def _jittered(name: str, rng: np.random.Generator) -> np.ndarray:
  rgb = np.array(catalog.COLORS[name].rgb, np.float32)
  return np.clip(rgb + rng.integers(-_COLOR_JITTER, _COLOR_JITTER + 1, 3), 0, 255)


def _background(
    description: dict, side: int, rng: np.random.Generator, grain_rng: np.random.Generator
) -> np.ndarray:
  """Gradient plus texture, float32 [side, side, 3] in 0..255."""
  top = _jittered(description["colors"]["background"], rng)
  bottom = _jittered(description["colors"]["background_2"], rng)
  centre = rng.uniform(0.2, 0.8, 2)
  flip = rng.random() < 0.5
  y, x = (np.mgrid[0:side, 0:side].astype(np.float32) + 0.5) / side
  if flip:
    x = 1 - x
  t = {
      "vertical": y,
      "diagonal": (x + y) / 2,
      "radial": np.clip(np.hypot(x - centre[0], y - centre[1]) / 0.9, 0, 1),
  }[description["gradient"]]
  image = top + (bottom - top) * t[..., None]
  return np.clip(image * _texture_shade(description["texture"], x, y, grain_rng), 0, 255)


def _texture_shade(
    texture: str, x: np.ndarray, y: np.ndarray, grain_rng: np.random.Generator
) -> np.ndarray:
  """Brightness factor [side, side, 1] of `texture` over pixel-centre grids x, y in (0, 1)."""
  if texture == "grain":
    return 1 + grain_rng.normal(0, 0.04, (*x.shape, 1))
  if texture == "stripes":
    delta = 0.05 * np.sign(np.sin(28 * np.pi * (x + y)))
  elif texture == "halftone":
    delta = 0.06 * (np.sin(40 * np.pi * x) * np.sin(40 * np.pi * y) > 0.5)
  elif texture == "grid":
    delta = -0.07 * (((x * 16) % 1 < 0.04) | ((y * 16) % 1 < 0.04))
  else:  # plain
    delta = np.zeros_like(x)
  return 1 + delta[..., None]


def _pixels(box: Box, side: int) -> tuple[int, int, int, int]:
  return tuple(int(round(v * side)) for v in box)


def _faded_behind_text(overlay: Image.Image, layout: str) -> Image.Image:
  """`overlay` with its opacity cut to `_MOTIF_OPACITY_BEHIND_TEXT` in the text rows."""
  rgba = np.array(overlay)
  side = overlay.size[0]
  for part in ("title_zh", "title_en", "subtitle"):
    _, y0, _, y1 = _pixels(LAYOUT_BOXES[layout][part], side)
    rgba[y0:y1, :, 3] = (rgba[y0:y1, :, 3] * _MOTIF_OPACITY_BEHIND_TEXT).astype(np.uint8)
  return Image.fromarray(rgba)


def _shape_drawer(image: Image.Image, layout: str):
  """`ImageDraw.ellipse` for round pictures, else `ImageDraw.rectangle`, on `image`."""
  draw = ImageDraw.Draw(image)
  return draw.ellipse if layout == "round_picture" else draw.rectangle


def _draw_picture(
    canvas: Image.Image, description: dict, palette: catalog.Palette, rng: np.random.Generator
) -> None:
  """Pastes the framed, shadowed picture (and the title band of full-page layouts)."""
  side, layout = canvas.size[0], description["layout"]
  boxes = LAYOUT_BOXES[layout]
  x0, y0, x1, y1 = _pixels(boxes["picture"], side)
  picture = pictures.draw_picture(description["picture"], (x1 - x0, y1 - y0), rng, palette)
  offset = max(1, round(0.015 * side))
  shadow = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
  _shape_drawer(shadow, layout)(
      (x0 + offset, y0 + offset, x1 + offset, y1 + offset), fill=(0, 0, 0, 90)
  )
  canvas.alpha_composite(shadow)
  mask = Image.new("L", picture.size, 0)
  _shape_drawer(mask, layout)((0, 0, x1 - x0 - 1, y1 - y0 - 1), fill=255)
  canvas.paste(picture, (x0, y0), mask)
  _shape_drawer(canvas, layout)(
      (x0, y0, x1 - 1, y1 - 1),
      width=offset,
      outline=catalog.COLORS[description["colors"]["frame"]].rgb,
  )
  if "band" in boxes:
    band = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle(_pixels(boxes["band"], side), fill=(*palette.background, 225))
    canvas.alpha_composite(band)


def draw_fitted_text(
    canvas: Image.Image, text: str, box: tuple[int, int, int, int], color: catalog.RGB, bold: bool
) -> int:
  """Draws `text` centred in the pixel `box` of `canvas`, shrinking the font to fit.

  The font shrinks until the text fits the box; text too long even at 1 px is
  clipped to the box. Returns the font size used, in pixels.
  """
  x0, y0, x1, y1 = box
  width, height = max(1, x1 - x0), max(1, y1 - y0)
  size = height
  while True:
    font = fonts.cjk_font(size)
    stroke = size // 24 if bold else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke, anchor="mm")
    if size == 1 or (right - left <= width and bottom - top <= height):
      break
    size = max(1, min(size - 1, int(size * 0.9)))
  mask = Image.new("L", (width, height), 0)
  ImageDraw.Draw(mask).text(
      (width / 2, height / 2),
      text,
      font=font,
      fill=255,
      anchor="mm",
      stroke_width=stroke,
      stroke_fill=255,
  )
  canvas.paste(color, (x0, y0, x0 + width, y0 + height), mask)
  return size


def render_poster(seed: int, size: int) -> tuple[np.ndarray, dict]:
  """Renders poster `seed` as a `size` x `size` RGB image.

  Args:
    seed: any non-negative int; the whole poster is a function of it.
    size: output side in pixels (e.g. 32, 64, 128, 256).

  Returns:
    (image, description): image is uint8 [size, size, 3]; description is
    `describe_poster(seed)`, the record of what was drawn.
  """
  description = describe_poster(seed)
  rng, grain_rng = _rng(seed, _SHAPES), _rng(seed, _GRAIN)
  side = size * SUPERSAMPLE
  colors = description["colors"]
  palette = catalog.Palette(*(catalog.COLORS[colors[k]].rgb for k in catalog.Palette._fields))

  background = _background(description, side, rng, grain_rng)
  canvas = Image.fromarray(background.astype(np.uint8)).convert("RGBA")
  overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
  for motif in description["motifs"]:
    motifs.draw_motif(motif, ImageDraw.Draw(overlay), side, rng, palette)
  canvas.alpha_composite(_faded_behind_text(overlay, description["layout"]))
  _draw_picture(canvas, description, palette, rng)

  boxes = LAYOUT_BOXES[description["layout"]]
  for part, bold in (("title_zh", True), ("title_en", True), ("subtitle", False)):
    draw_fitted_text(canvas, description[part], _pixels(boxes[part], side), palette.text, bold)
  image = canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
  return np.asarray(image, dtype=np.uint8), description
