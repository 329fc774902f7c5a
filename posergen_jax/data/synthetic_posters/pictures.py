"""Picture scenes: the small illustration that fills a poster's framed picture area.

Every painter takes `(draw, w, h, rng, palette)`: an `ImageDraw` on an RGB image
of `w` x `h` pixels that the scene fills completely, a numpy Generator and the
poster's `catalog.Palette`. Random numbers are drawn in picture-relative units
only, so one seed gives the same scene at every resolution.
"""

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from posergen_jax.data.synthetic_posters import catalog, motifs

Painter = Callable[[ImageDraw.ImageDraw, int, int, np.random.Generator, catalog.Palette], None]


def _color(name: str) -> catalog.RGB:
  return catalog.COLORS[name].rgb


def _mix(a: catalog.RGB, b: catalog.RGB, t: float) -> catalog.RGB:
  """Linear blend: t=0 gives a, t=1 gives b."""
  return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b))


def _vertical_gradient(draw, w, h, top, bottom, y0=0.0, y1=1.0):
  """Fills rows y0*h..y1*h with a top-to-bottom blend."""
  first, last = int(y0 * h), max(int(y0 * h) + 1, int(np.ceil(y1 * h)))
  for y in range(first, last):
    draw.line([(0, y), (w, y)], fill=_mix(top, bottom, (y - first) / max(1, last - first - 1)))


def _pale_backdrop(draw, w, h, palette, whiteness):
  """A gradient from `palette.background_2` washed with `whiteness` of white down to itself."""
  _vertical_gradient(
      draw, w, h, _mix(palette.background_2, _color("white"), whiteness), palette.background_2
  )


def _disc(draw, x, y, r, fill):
  draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _person(draw, x, y_top, height, fill):
  """A head-and-shoulders silhouette `height` pixels tall, head top at y_top."""
  head = 0.2 * height
  _disc(draw, x, y_top + head, head, fill)
  draw.ellipse(
      (x - 0.42 * height, y_top + 0.46 * height, x + 0.42 * height, y_top + 1.5 * height), fill=fill
  )


def _sun(draw, w, h, rng):
  x, y = rng.uniform(0.2, 0.8) * w, rng.uniform(0.12, 0.35) * h
  _disc(
      draw,
      x,
      y,
      rng.uniform(0.07, 0.12) * min(w, h),
      _color("yellow") if rng.random() < 0.5 else _color("orange"),
  )


def _landscape(draw, w, h, rng, palette):
  _vertical_gradient(draw, w, h, _color("sky blue"), _mix(_color("sky blue"), _color("white"), 0.7))
  _sun(draw, w, h, rng)
  for k, name in enumerate(("teal", "green")):
    peaks = rng.uniform(0.3 + 0.15 * k, 0.6 + 0.15 * k, 6) * h
    xs = np.linspace(-0.1 * w, 1.1 * w, 6)
    draw.polygon(
        list(zip(xs, peaks)) + [(1.1 * w, h), (-0.1 * w, h)],
        fill=_mix(_color(name), palette.background_2, 0.2),
    )


def _seaside(draw, w, h, rng, palette):
  horizon = rng.uniform(0.45, 0.6)
  _vertical_gradient(
      draw, w, h, _mix(_color("sky blue"), palette.background_2, 0.2), _color("white"), 0, horizon
  )
  _sun(draw, w, h, rng)
  _vertical_gradient(draw, w, h, _color("blue"), _color("teal"), horizon, 0.85)
  for k in range(4):
    y = (horizon + 0.08 * (k + 1)) * h
    x = rng.uniform(0.05, 0.6) * w
    draw.line([(x, y), (x + 0.3 * w, y)], fill=_color("white"), width=max(1, round(0.01 * h)))
  draw.rectangle((0, 0.85 * h, w, h), fill=_color("beige"))


def _skyline(draw, w, h, rng, palette):
  _vertical_gradient(draw, w, h, _color("purple"), _color("orange"))
  count = rng.integers(7, 12)
  widths = rng.uniform(0.6, 1.4, count)
  edges = np.concatenate([[0], np.cumsum(widths / widths.sum())]) * w
  tops = rng.uniform(0.25, 0.7, count) * h
  building = _mix(_color("navy"), palette.accent, 0.15)
  for x0, x1, top in zip(edges[:-1], edges[1:], tops):
    draw.rectangle((x0, top, x1, h), fill=building)
    for wx in np.linspace(x0 + 0.25 * (x1 - x0), x1 - 0.25 * (x1 - x0), 2):
      for wy in np.arange(top + 0.04 * h, h - 0.03 * h, 0.07 * h):
        draw.rectangle((wx - 0.008 * w, wy, wx + 0.008 * w, wy + 0.02 * h), fill=_color("yellow"))


def _portrait(draw, w, h, rng, palette):
  _pale_backdrop(draw, w, h, palette, 0.5)
  _disc(
      draw,
      rng.uniform(0.3, 0.7) * w,
      0.45 * h,
      0.35 * min(w, h),
      _mix(palette.accent, _color("white"), 0.3),
  )
  _person(draw, w / 2, 0.15 * h, 0.7 * h, _mix(_color("black"), palette.background, 0.2))


def _food(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_color("brown") if rng.random() < 0.5 else _color("beige"))
  cx, cy, r = 0.5 * w, 0.52 * h, 0.4 * min(w, h)
  _disc(draw, cx, cy, r, _color("white"))
  _disc(draw, cx, cy, 0.78 * r, _color("cream"))
  for name in ("green", "red", "orange", "brown"):
    x, y = cx + rng.uniform(-0.35, 0.35) * r, cy + rng.uniform(-0.35, 0.35) * r
    rx, ry = rng.uniform(0.12, 0.25) * r, rng.uniform(0.1, 0.2) * r
    draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=_color(name))
  draw.line(
      [(0.88 * w, 0.1 * h), (0.8 * w, 0.95 * h)],
      fill=_color("black"),
      width=max(1, round(0.02 * w)),
  )


def _stage(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_mix(_color("black"), palette.background, 0.3))
  for _ in range(rng.integers(2, 4)):
    x = rng.uniform(0.1, 0.9) * w
    spread = rng.uniform(0.15, 0.3) * w
    draw.polygon(
        [(x - 0.02 * w, 0), (x + 0.02 * w, 0), (x + spread, 0.8 * h), (x - spread, 0.8 * h)],
        fill=_mix(palette.accent, _color("white"), 0.4),
    )
  draw.polygon([(0, 0.8 * h), (w, 0.8 * h), (w, h), (0, h)], fill=_color("brown"))
  _person(draw, rng.uniform(0.35, 0.65) * w, 0.35 * h, 0.5 * h, _color("black"))


def _chart(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_color("white"))
  count = rng.integers(4, 8)
  heights = rng.uniform(0.2, 0.8, count)
  slot = 0.8 * w / count
  for k, height in enumerate(heights):
    x = 0.12 * w + k * slot
    color = palette.accent if k % 2 == 0 else _mix(palette.background_2, _color("black"), 0.2)
    draw.rectangle(
        (x + 0.15 * slot, (0.9 - 0.8 * height) * h, x + 0.85 * slot, 0.9 * h), fill=color
    )
  width = max(1, round(0.015 * min(w, h)))
  draw.line(
      [(0.1 * w, 0.05 * h), (0.1 * w, 0.9 * h), (0.95 * w, 0.9 * h)],
      fill=_color("black"),
      width=width,
  )


def _ball(draw, w, h, rng, palette):
  field = _color("green")
  for k in range(6):
    draw.rectangle(
        (0, k * h / 6, w, (k + 1) * h / 6), fill=_mix(field, _color("black"), 0.1 * (k % 2))
    )
  line = max(1, round(0.012 * min(w, h)))
  draw.line([(0.5 * w, 0), (0.5 * w, h)], fill=_color("white"), width=line)
  draw.ellipse((0.3 * w, 0.3 * h, 0.7 * w, 0.7 * h), outline=_color("white"), width=line)
  x, y, r = rng.uniform(0.3, 0.7) * w, rng.uniform(0.35, 0.65) * h, 0.16 * min(w, h)
  basketball = rng.random() < 0.5
  _disc(draw, x, y, r, _color("orange") if basketball else _color("white"))
  if basketball:
    draw.line([(x - r, y), (x + r, y)], fill=_color("black"), width=line)
    draw.line([(x, y - r), (x, y + r)], fill=_color("black"), width=line)
  else:
    draw.polygon(motifs.star_polygon(x, y, 0.5 * r, 0, points=5), fill=_color("black"))


def _cake(draw, w, h, rng, palette):
  _pale_backdrop(draw, w, h, palette, 0.6)
  draw.rectangle((0, 0.85 * h, w, h), fill=_color("brown"))
  tiers = rng.integers(2, 4)
  top = 0.85
  for k in range(tiers):
    half = (0.38 - 0.08 * k) * w
    height = 0.18 * h
    color = (_color("pink"), _color("white"), _color("cream"))[k]
    draw.rectangle((0.5 * w - half, top * h - height, 0.5 * w + half, top * h), fill=color)
    draw.rectangle(
        (0.5 * w - half, top * h - height, 0.5 * w + half, top * h - 0.8 * height),
        fill=palette.accent,
    )
    top -= 0.18
  for x in np.linspace(0.4, 0.6, rng.integers(3, 6)):
    draw.rectangle(
        (x * w - 0.01 * w, (top - 0.1) * h, x * w + 0.01 * w, top * h), fill=_color("sky blue")
    )
    _disc(draw, x * w, (top - 0.12) * h, 0.02 * min(w, h), _color("orange"))


def _building(draw, w, h, rng, palette):
  _vertical_gradient(draw, w, h, _color("sky blue"), _color("white"))
  x0, x1 = rng.uniform(0.1, 0.25) * w, rng.uniform(0.75, 0.9) * w
  top = rng.uniform(0.12, 0.3) * h
  facade = _color("beige") if rng.random() < 0.5 else _color("grey")
  draw.rectangle((x0, top, x1, h), fill=facade)
  draw.polygon(
      [(x0 - 0.03 * w, top), ((x0 + x1) / 2, top - 0.1 * h), (x1 + 0.03 * w, top)],
      fill=palette.accent,
  )
  window = _mix(_color("navy"), _color("sky blue"), 0.4)
  for wx in np.linspace(x0 + 0.1 * (x1 - x0), x1 - 0.18 * (x1 - x0), 5):
    for wy in np.linspace(top + 0.06 * h, 0.72 * h, 4):
      draw.rectangle((wx, wy, wx + 0.08 * (x1 - x0), wy + 0.08 * h), fill=window)
  draw.rectangle((0.45 * w, 0.82 * h, 0.55 * w, h), fill=_color("brown"))


def _heart(draw, w, h, rng, palette):
  _pale_backdrop(draw, w, h, palette, 0.7)
  draw.polygon(
      motifs.heart_polygon(0.5 * w, 0.5 * h, 0.38 * min(w, h)),
      fill=_color("red") if rng.random() < 0.5 else palette.accent,
  )
  for _ in range(4):
    x, y = rng.random(2) * [w, h]
    draw.polygon(motifs.heart_polygon(x, y, 0.06 * min(w, h)), fill=_color("pink"))


def _flower(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_mix(palette.background_2, _color("white"), 0.5))
  cx, cy, r = 0.5 * w, 0.4 * h, 0.13 * min(w, h)
  draw.line([(cx, cy), (cx, h)], fill=_color("green"), width=max(1, round(0.03 * w)))
  draw.ellipse((cx, 0.65 * h, cx + 0.25 * w, 0.75 * h), fill=_color("green"))
  petal = _color("pink") if rng.random() < 0.5 else palette.accent
  petals = rng.integers(5, 9)
  for k in range(petals):
    angle = 2 * np.pi * k / petals
    _disc(draw, cx + 1.3 * r * np.cos(angle), cy + 1.3 * r * np.sin(angle), 0.9 * r, petal)
  _disc(draw, cx, cy, 0.8 * r, _color("yellow"))


def _abstract(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_color("cream"))
  colors = (palette.accent, palette.background_2, _color("red"), _color("blue"), _color("yellow"))
  for k in range(rng.integers(4, 8)):
    color = colors[rng.integers(len(colors))]
    x, y = rng.random(2) * [w, h]
    size = rng.uniform(0.15, 0.35) * min(w, h)
    if k % 3 == 0:
      _disc(draw, x, y, size, color)
    elif k % 3 == 1:
      draw.rectangle((x - size, y - 0.6 * size, x + size, y + 0.6 * size), fill=color)
    else:
      draw.polygon([(x, y - size), (x + size, y + size), (x - size, y + size)], fill=color)


def _circuit(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_mix(_color("navy"), _color("teal"), 0.3))
  trace = _mix(palette.accent, _color("mint"), 0.3)
  width = max(1, round(0.012 * min(w, h)))
  for _ in range(rng.integers(6, 10)):
    x, y = rng.random(2) * [w, h]
    bend_x = rng.random() * w
    draw.line([(x, y), (bend_x, y), (bend_x, rng.random() * h)], fill=trace, width=width)
    _disc(draw, x, y, 2.5 * width, trace)
  for k in range(5):
    y = (0.38 + 0.06 * k) * h
    draw.line([(0.3 * w, y), (0.7 * w, y)], fill=_color("gold"), width=width)
  draw.rectangle((0.35 * w, 0.35 * h, 0.65 * w, 0.65 * h), fill=_color("black"))


def _crowd(draw, w, h, rng, palette):
  _vertical_gradient(draw, w, h, _mix(palette.accent, _color("white"), 0.4), palette.background_2)
  for row in range(3):
    count = 5 + row
    shade = _mix(_color("black"), palette.background, 0.15 * row)
    for k in range(count):
      x = (k + 0.5 + rng.uniform(-0.2, 0.2)) * w / count
      _person(draw, x, (0.35 + 0.18 * row) * h, 0.45 * h, shade)


def _dumbbell(draw, w, h, rng, palette):
  _pale_backdrop(draw, w, h, palette, 0.3)
  y = rng.uniform(0.4, 0.6) * h
  metal = _color("grey")
  draw.rectangle((0.15 * w, y - 0.03 * h, 0.85 * w, y + 0.03 * h), fill=metal)
  for x in (0.2, 0.7):
    draw.rectangle((x * w, y - 0.22 * h, (x + 0.1) * w, y + 0.22 * h), fill=_color("black"))
    draw.rectangle(
        ((x + 0.02) * w, y - 0.16 * h, (x + 0.08) * w, y + 0.16 * h), fill=palette.accent
    )


def _wedding_rings(draw, w, h, rng, palette):
  _vertical_gradient(draw, w, h, _color("white"), _mix(palette.background_2, _color("white"), 0.3))
  r = 0.22 * min(w, h)
  width = max(1, round(0.05 * min(w, h)))
  offset = rng.uniform(0.12, 0.18) * w
  for dx in (-offset, offset):
    draw.ellipse(
        (0.5 * w + dx - r, 0.55 * h - r, 0.5 * w + dx + r, 0.55 * h + r),
        outline=_color("gold"),
        width=width,
    )
  x, y = 0.5 * w - offset, 0.55 * h - r
  draw.polygon(
      [(x, y - 0.12 * h), (x + 0.06 * w, y - 0.05 * h), (x, y), (x - 0.06 * w, y - 0.05 * h)],
      fill=_color("sky blue"),
  )


def _runway(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_color("black"))
  draw.polygon(
      [(0.42 * w, 0.3 * h), (0.58 * w, 0.3 * h), (0.9 * w, h), (0.1 * w, h)], fill=_color("grey")
  )
  x = rng.uniform(0.42, 0.58) * w
  body = palette.accent
  _disc(draw, x, 0.2 * h, 0.05 * h, body)
  draw.polygon([(x, 0.26 * h), (x + 0.12 * w, 0.65 * h), (x - 0.12 * w, 0.65 * h)], fill=body)
  leg = max(1, round(0.02 * w))
  draw.line([(x - 0.03 * w, 0.65 * h), (x - 0.04 * w, 0.85 * h)], fill=body, width=leg)
  draw.line([(x + 0.03 * w, 0.65 * h), (x + 0.05 * w, 0.85 * h)], fill=body, width=leg)
  for _ in range(8):
    fx, fy = rng.random() * w, rng.uniform(0.1, 0.9) * h
    _disc(draw, fx, fy, 0.015 * min(w, h), _color("white"))


def _podium(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_mix(palette.background_2, _color("grey"), 0.4))
  draw.rectangle((0.08 * w, 0.08 * h, 0.62 * w, 0.5 * h), fill=_color("white"))
  for k in range(rng.integers(3, 6)):
    y = (0.15 + 0.07 * k) * h
    draw.line(
        [(0.14 * w, y), (rng.uniform(0.3, 0.56) * w, y)],
        fill=palette.accent,
        width=max(1, round(0.02 * h)),
    )
  _person(draw, 0.78 * w, 0.3 * h, 0.4 * h, _color("black"))
  draw.polygon(
      [(0.64 * w, 0.55 * h), (0.92 * w, 0.55 * h), (0.88 * w, h), (0.68 * w, h)],
      fill=_color("brown"),
  )


def _pulse(draw, w, h, rng, palette):
  draw.rectangle((0, 0, w, h), fill=_color("white"))
  grid = _mix(_color("mint"), _color("white"), 0.3)
  for t in np.linspace(0, 1, 9):
    draw.line([(t * w, 0), (t * w, h)], fill=grid)
    draw.line([(0, t * h), (w, t * h)], fill=grid)
  beat = rng.uniform(0.3, 0.6)
  xs = np.array([0, beat - 0.1, beat - 0.05, beat, beat + 0.05, beat + 0.1, 1]) * w
  ys = np.array([0.55, 0.55, 0.2, 0.85, 0.45, 0.55, 0.55]) * h
  draw.line(
      list(zip(xs, ys)),
      fill=_color("red") if rng.random() < 0.5 else palette.accent,
      width=max(1, round(0.025 * min(w, h))),
  )


PAINTERS: dict[str, Painter] = {
    "landscape": _landscape,
    "seaside": _seaside,
    "skyline": _skyline,
    "portrait": _portrait,
    "food": _food,
    "stage": _stage,
    "chart": _chart,
    "ball": _ball,
    "cake": _cake,
    "building": _building,
    "heart": _heart,
    "flower": _flower,
    "abstract": _abstract,
    "circuit": _circuit,
    "crowd": _crowd,
    "dumbbell": _dumbbell,
    "wedding_rings": _wedding_rings,
    "runway": _runway,
    "podium": _podium,
    "pulse": _pulse,
}


def draw_picture(
    name: str, size: tuple[int, int], rng: np.random.Generator, palette: catalog.Palette
) -> Image.Image:
  """Paints scene `name` (a key of `catalog.PICTURES`) on a new RGB image of `size` (w, h)."""
  image = Image.new("RGB", size)
  PAINTERS[name](ImageDraw.Draw(image), size[0], size[1], rng, palette)
  return image
