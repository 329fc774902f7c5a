"""Background motifs: decorative shapes drawn on a transparent poster overlay.

Every painter takes `(draw, side, rng, palette)`: an `ImageDraw` on an RGBA
overlay of `side` x `side` pixels, a numpy Generator and the poster's
`catalog.Palette`. Painters draw random numbers in poster-relative units only and
never a pixel-count-dependent number of them, so one seed gives the same
motif at every resolution.
"""

from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

from posergen_jax.data.synthetic_posters import catalog

Painter = Callable[[ImageDraw.ImageDraw, int, np.random.Generator, catalog.Palette], None]
Points = list[tuple[float, float]]


def star_polygon(cx: float, cy: float, radius: float, rotation: float, points: int = 5) -> Points:
  """Vertices of a star with `points` tips around (cx, cy), in pixels."""
  angles = rotation + np.arange(2 * points) * np.pi / points
  radii = np.where(np.arange(2 * points) % 2 == 0, radius, 0.45 * radius)
  return list(zip(cx + radii * np.sin(angles), cy - radii * np.cos(angles)))


def heart_polygon(cx: float, cy: float, radius: float) -> Points:
  """Vertices of a heart of half-width `radius` centred on (cx, cy), in pixels."""
  t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
  x = 16 * np.sin(t) ** 3
  y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
  scale = radius / 16
  return list(zip(cx + scale * x, cy - scale * y))


def rotated_rect(cx: float, cy: float, width: float, height: float, angle: float) -> Points:
  """Vertices of a `width` x `height` rectangle turned by `angle` radians."""
  corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [width / 2, height / 2]
  rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  return [tuple(p) for p in corners @ rotation.T + [cx, cy]]


def _rgba(rgb: catalog.RGB, alpha: float) -> tuple[int, int, int, int]:
  return (*rgb, int(255 * alpha))


def _circles(draw, side, rng, palette):
  for _ in range(rng.integers(4, 9)):
    x, y = rng.random(2) * side
    r = rng.uniform(0.04, 0.18) * side
    color = palette.accent if rng.random() < 0.6 else palette.background_2
    draw.ellipse((x - r, y - r, x + r, y + r), fill=_rgba(color, rng.uniform(0.3, 0.6)))


def _rings(draw, side, rng, palette):
  for _ in range(rng.integers(3, 7)):
    x, y = rng.random(2) * side
    r = rng.uniform(0.06, 0.25) * side
    width = max(1, round(rng.uniform(0.01, 0.025) * side))
    draw.ellipse((x - r, y - r, x + r, y + r), outline=_rgba(palette.accent, 0.7), width=width)


def _stars(draw, side, rng, palette):
  for _ in range(rng.integers(5, 12)):
    x, y = rng.random(2) * side
    r = rng.uniform(0.02, 0.06) * side
    draw.polygon(
        star_polygon(x, y, r, rng.uniform(0, np.pi)),
        fill=_rgba(palette.accent, rng.uniform(0.6, 0.95)),
    )


def _triangles(draw, side, rng, palette):
  for _ in range(rng.integers(3, 6)):
    centre = rng.random(2) * side
    vertices = centre + rng.uniform(-0.2, 0.2, (3, 2)) * side
    color = palette.accent if rng.random() < 0.6 else palette.background_2
    draw.polygon([tuple(v) for v in vertices], fill=_rgba(color, rng.uniform(0.4, 0.75)))


def _stripes(draw, side, rng, palette):
  offset = rng.uniform(-0.3, 0.3)
  width = rng.uniform(0.03, 0.06) * side
  flip = rng.random() < 0.5
  for k in range(rng.integers(4, 8)):
    x0 = (offset + 0.12 * k) * side
    line = [(x0, 0.0), (x0 + side, side)]
    if flip:
      line = [(side - x, y) for x, y in line]
    draw.line(line, fill=_rgba(palette.accent, 0.55), width=max(1, round(width)))


def _dots(draw, side, rng, palette):
  for _ in range(2):
    x0, y0 = rng.uniform(0.02, 0.75, 2) * side
    step, r = 0.035 * side, 0.009 * side
    for i in range(7):
      for j in range(7):
        x, y = x0 + i * step, y0 + j * step
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_rgba(palette.accent, 0.8))


def _waves(draw, side, rng, palette):
  xs = np.linspace(0, side, 48)
  for k in range(rng.integers(2, 4)):
    base = (rng.uniform(0.72, 0.95) if rng.random() < 0.7 else rng.uniform(0.05, 0.25)) * side
    amplitude = rng.uniform(0.015, 0.04) * side
    phase, periods = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 3.5)
    ys = base + amplitude * np.sin(phase + 2 * np.pi * periods * xs / side)
    edge = side if base > side / 2 else 0
    color = palette.accent if k % 2 == 0 else palette.background_2
    draw.polygon(list(zip(xs, ys)) + [(side, edge), (0, edge)], fill=_rgba(color, 0.55))


def _confetti(draw, side, rng, palette):
  colors = (
      palette.accent,
      palette.background_2,
      catalog.COLORS["yellow"].rgb,
      catalog.COLORS["sky blue"].rgb,
      catalog.COLORS["pink"].rgb,
  )
  for _ in range(rng.integers(25, 40)):
    x, y = rng.random(2) * side
    rect = rotated_rect(x, y, 0.025 * side, 0.012 * side, rng.uniform(0, np.pi))
    draw.polygon(rect, fill=_rgba(colors[rng.integers(len(colors))], 0.9))


def _hearts(draw, side, rng, palette):
  for _ in range(rng.integers(3, 8)):
    x, y = rng.random(2) * side
    draw.polygon(
        heart_polygon(x, y, rng.uniform(0.03, 0.08) * side),
        fill=_rgba(palette.accent, rng.uniform(0.5, 0.85)),
    )


def _notes(draw, side, rng, palette):
  for _ in range(rng.integers(3, 7)):
    x, y = rng.random(2) * side
    r = rng.uniform(0.02, 0.035) * side
    fill = _rgba(palette.accent, 0.85)
    draw.ellipse((x - 1.3 * r, y - r, x + 1.3 * r, y + r), fill=fill)
    stem_x, top = x + 1.1 * r, y - 4 * r
    draw.line([(stem_x, y), (stem_x, top)], fill=fill, width=max(1, round(0.35 * r)))
    draw.line(
        [(stem_x, top), (stem_x + 1.5 * r, top + 1.5 * r)], fill=fill, width=max(1, round(0.5 * r))
    )


def _diamonds(draw, side, rng, palette):
  for _ in range(rng.integers(4, 9)):
    x, y = rng.random(2) * side
    w, h = rng.uniform(0.02, 0.05) * side, rng.uniform(0.04, 0.08) * side
    draw.polygon(
        [(x, y - h), (x + w, y), (x, y + h), (x - w, y)],
        fill=_rgba(palette.accent, rng.uniform(0.5, 0.9)),
    )


def _bars(draw, side, rng, palette):
  count = rng.integers(8, 15)
  heights = rng.uniform(0.05, 0.3, count)
  width = side / count
  for k, height in enumerate(heights):
    x = k * width
    draw.rectangle(
        (x + 0.15 * width, side * (1 - height), x + 0.85 * width, side),
        fill=_rgba(palette.accent, 0.5),
    )


def _text_lines(draw, side, rng, palette):
  thickness = max(1, round(0.012 * side))
  for column in range(2):
    x0 = (0.06 + 0.47 * column) * side
    for row in range(20):
      length = rng.uniform(0.25, 0.41) * side
      y = (0.06 + row * 0.045) * side
      draw.line([(x0, y), (x0 + length, y)], fill=_rgba(palette.text, 0.3), width=thickness)


def _rays(draw, side, rng, palette):
  cx = rng.uniform(0.2, 0.8) * side
  cy = (rng.uniform(-0.1, 0.1) if rng.random() < 0.7 else rng.uniform(0.9, 1.1)) * side
  count = rng.integers(10, 18)
  start = rng.uniform(0, 2 * np.pi / count)
  for k in range(count):
    a0 = start + 2 * np.pi * k / count
    a1 = a0 + np.pi / count
    far = 2 * side
    draw.polygon(
        [
            (cx, cy),
            (cx + far * np.cos(a0), cy + far * np.sin(a0)),
            (cx + far * np.cos(a1), cy + far * np.sin(a1)),
        ],
        fill=_rgba(palette.accent, 0.25),
    )


def _crosses(draw, side, rng, palette):
  for _ in range(rng.integers(3, 7)):
    x, y = rng.random(2) * side
    arm, half = rng.uniform(0.03, 0.07) * side, rng.uniform(0.01, 0.02) * side
    fill = _rgba(palette.accent, rng.uniform(0.5, 0.85))
    draw.rectangle((x - arm, y - half, x + arm, y + half), fill=fill)
    draw.rectangle((x - half, y - arm, x + half, y + arm), fill=fill)


def _network(draw, side, rng, palette):
  nodes = rng.random((rng.integers(8, 15), 2)) * side
  fill = _rgba(palette.accent, 0.7)
  for i, a in enumerate(nodes):
    for b in nodes[i + 1 :]:
      if np.linalg.norm(a - b) < 0.35 * side:
        draw.line([tuple(a), tuple(b)], fill=fill, width=max(1, round(0.006 * side)))
  r = 0.015 * side
  for x, y in nodes:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _zigzag(draw, side, rng, palette):
  for _ in range(rng.integers(2, 5)):
    y0 = rng.random() * side
    amplitude = rng.uniform(0.02, 0.05) * side
    xs = np.linspace(0, side, 13)
    ys = y0 + amplitude * (np.arange(13) % 2 * 2 - 1)
    draw.line(
        list(zip(xs, ys)), fill=_rgba(palette.accent, 0.75), width=max(1, round(0.015 * side))
    )


def _balloons(draw, side, rng, palette):
  colors = (palette.accent, palette.background_2, catalog.COLORS["red"].rgb)
  for _ in range(rng.integers(3, 7)):
    x, y = rng.uniform(0.05, 0.95) * side, rng.uniform(0.05, 0.7) * side
    r = rng.uniform(0.04, 0.07) * side
    draw.line(
        [(x, y + 1.2 * r), (x + 0.3 * r, y + 3.5 * r)],
        fill=(60, 60, 60, 160),
        width=max(1, round(0.004 * side)),
    )
    draw.ellipse(
        (x - r, y - 1.2 * r, x + r, y + 1.2 * r), fill=_rgba(colors[rng.integers(len(colors))], 0.9)
    )


def _curtain(draw, side, rng, palette):
  folds = 4
  width = rng.uniform(0.1, 0.16) * side
  for left in (True, False):
    for k in range(folds):
      x0 = k * width / folds
      x0 = x0 if left else side - x0 - width / folds
      shade = 0.75 if k % 2 else 1.0
      color = tuple(int(c * shade) for c in palette.accent)
      draw.rectangle((x0, 0, x0 + width / folds, side), fill=_rgba(color, 0.85))
  draw.rectangle((0, 0, side, 0.05 * side), fill=_rgba(palette.accent, 0.9))


PAINTERS: dict[str, Painter] = {
    "circles": _circles,
    "rings": _rings,
    "stars": _stars,
    "triangles": _triangles,
    "stripes": _stripes,
    "dots": _dots,
    "waves": _waves,
    "confetti": _confetti,
    "hearts": _hearts,
    "notes": _notes,
    "diamonds": _diamonds,
    "bars": _bars,
    "text_lines": _text_lines,
    "rays": _rays,
    "crosses": _crosses,
    "network": _network,
    "zigzag": _zigzag,
    "balloons": _balloons,
    "curtain": _curtain,
}


def draw_motif(
    name: str,
    draw: ImageDraw.ImageDraw,
    side: int,
    rng: np.random.Generator,
    palette: catalog.Palette,
) -> None:
  """Draws motif `name` (a key of `catalog.MOTIFS`) over a `side` x `side` RGBA overlay."""
  PAINTERS[name](draw, side, rng, palette)
