r"""Generated posters beside the real test posters of their captions, as one picture.

  python benchmarks/poster_grid.py --pretrained=pretrained/gan_sr3 --out=docs/gan_sr3_posters.jpg

Takes the first `--count` posters of the test split of `--data` (synthetic_posters at the
pipeline's output size), and for each the first caption of one language, alternating Chinese and
English. The exported pipeline draws a poster from each caption (seed `--seed`); the picture shows,
for every caption, the generated poster, the real test poster, and the caption under both.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import posergen_jax.data  # noqa: E402,F401  (registers the builders)
from posergen_jax.data.synthetic_posters import captions as caption_lib  # noqa: E402
from posergen_jax.io import images as image_io  # noqa: E402
from posergen_jax.poster import outputs, pipeline, typeset  # noqa: E402

CAPTION_PX = 13  # Caption font size.
CAPTION_LINES = 4


def test_captions(data: str, count: int) -> tuple[list[str], np.ndarray]:
  """(count captions alternating Chinese and English, uint8 [count, S, S, 3] real posters)."""
  examples = list(tfds.as_numpy(tfds.load(data, split=f"test[:{count}]")))
  if len(examples) < count:
    raise SystemExit(f"{data} has {len(examples)} test posters; asked for {count}.")
  half = caption_lib.NUM_CAPTIONS_PER_LANGUAGE
  captions = [ex["captions"][0 if i % 2 == 0 else half].decode() for i, ex in enumerate(examples)]
  return captions, np.stack([ex["image"] for ex in examples])


def compose(generated: np.ndarray, real: np.ndarray, captions: list[str], columns: int):
  """uint8 [N,S,S,3] pairs and their captions -> one PIL image, `columns` pairs per row."""
  size = generated.shape[1]
  font = typeset.load_font(typeset.font_file(), CAPTION_PX)
  cell_w, cell_h = 2 * size + 12, size + CAPTION_LINES * (CAPTION_PX + 4) + 14
  rows = -(-len(captions) // columns)
  sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
  draw = ImageDraw.Draw(sheet)
  for i, caption in enumerate(captions):
    x, y = (i % columns) * cell_w + 4, (i // columns) * cell_h + 4
    sheet.paste(Image.fromarray(generated[i]), (x, y))
    sheet.paste(Image.fromarray(real[i]), (x + size + 4, y))
    lines = typeset.wrap(caption, font, 2 * size + 4)[:CAPTION_LINES]
    for j, line in enumerate(lines):
      draw.text((x, y + size + 4 + j * (CAPTION_PX + 4)), line, fill="black", font=font)
  return sheet


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--pretrained", required=True, help="An exported pipeline.")
  parser.add_argument("--out", required=True, help="The picture to write (.jpg or .png).")
  parser.add_argument(
      "--data", default="synthetic_posters/256", help="TFDS dataset of the posters."
  )
  parser.add_argument("--count", type=int, default=8, help="Captions, half of them Chinese.")
  parser.add_argument("--columns", type=int, default=2, help="Caption pairs per row.")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  captions, real = test_captions(args.data, args.count)
  with pipeline.PosterPipeline.from_pretrained(args.pretrained) as posters:
    generated = []
    for start, batch in outputs.batches(captions, posters.batch_multiple * 4):
      key = jax.random.fold_in(jax.random.key(args.seed), start)
      images = posters.generate(batch, key).stage_images[-1]
      generated.append(images[: len(captions) - start])
  generated = image_io.to_uint8(np.concatenate(generated)[: len(captions)])
  if generated.shape[1:] != real.shape[1:]:
    raise SystemExit(
        f"--data posters are {real.shape[1:]}; the pipeline draws {generated.shape[1:]}."
    )
  compose(generated, real, captions, args.columns).save(args.out, quality=90)
  print(f"Wrote {args.out}: {len(captions)} captions, generated | real.")


if __name__ == "__main__":
  main()
