"""Captions for a rendered poster: 5 Chinese then 5 English sentences.

Each caption names the poster type and quotes the title, and adds what was
drawn: colours by name, the layout, the picture, the motifs, the background.
"""

from posergen_jax.data.synthetic_posters import catalog

NUM_CAPTIONS_PER_LANGUAGE = 5


def _english_list(words: list[str]) -> str:
  return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _with_article(phrase: str) -> str:
  return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _words(description: dict, language: int) -> dict:
  """Colour, layout, picture and gradient words; `language` 0 = English, 1 = Chinese."""
  return {
      "color": {
          k: (catalog.COLORS[v].en, catalog.COLORS[v].zh)[language]
          for k, v in description["colors"].items()
      },
      "layout": catalog.LAYOUTS[description["layout"]][language],
      "picture": catalog.PICTURES[description["picture"]][language],
      "gradient": catalog.GRADIENTS[description["gradient"]][language],
  }


def _chinese(description: dict) -> list[str]:
  words = _words(description, 1)
  color, layout, picture, gradient = (words[k] for k in ("color", "layout", "picture", "gradient"))
  motif_words = "和".join(catalog.MOTIFS[m][1] for m in description["motifs"])
  poster, title = catalog.TYPES[description["label"]].zh_phrase, description["title_zh"]
  return [
      f'一张{poster}，标题为“{title}”，背景是{color["background"]}到{color["background_2"]}的{gradient}。',
      f'这张{poster}{layout}，{color["text"]}的标题写着“{title}”。',
      f'{color["background"]}背景的{poster}，{color["frame"]}边框里是{picture}，标题“{title}”。',
      f'“{title}”{poster}，以{color["background"]}、{color["background_2"]}和{color["accent"]}为主色，'
      f"点缀着{motif_words}。",
      f'{poster}：{layout}，画面中有{picture}，中文标题“{title}”，英文标题“{description["title_en"]}”。',
  ]


def _english(description: dict) -> list[str]:
  words = _words(description, 0)
  color, layout, picture, gradient = (words[k] for k in ("color", "layout", "picture", "gradient"))
  texture = catalog.TEXTURES[description["texture"]][0]
  motif_words = _english_list([catalog.MOTIFS[m][0] for m in description["motifs"]])
  poster, title = catalog.TYPES[description["label"]].en_phrase, description["title_en"]
  return [
      f'{_with_article(poster).capitalize()} titled "{title}" on a {texture} {color["background"]} '
      f'to {color["background_2"]} {gradient}.',
      f'{_with_article(poster).capitalize()} with {layout}; the title "{title}" is written in '
      f'{color["text"]}.',
      f'{_with_article(color["background"]).capitalize()} {poster} showing {picture} in '
      f'{_with_article(color["frame"])} frame, with the words "{title}".',
      f'"{title}": {_with_article(poster)} in {color["background"]}, {color["background_2"]} and '
      f'{color["accent"]}, decorated with {motif_words}.',
      f'{_with_article(poster).capitalize()} for "{title}" with {layout}, {picture} and '
      f'{color["text"]} lettering.',
  ]


def make_captions(description: dict) -> list[str]:
  """Captions of a poster from its `render.describe_poster` record.

  Returns:
    10 str: `NUM_CAPTIONS_PER_LANGUAGE` Chinese captions, then as many English.
  """
  return _chinese(description) + _english(description)
