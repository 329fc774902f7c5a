"""`posters`: a user's poster collection with captions (movie posters, web posters).

Reads a manual_dir of images plus `captions.jsonl` (see `captions_file`).
Each image is centre-cropped to a square and resized to the config's size,
like `synthetic_posters` and the input pipeline's `center_square_resize`.

Labels: a config carries a fixed list of categories, by default the 20 poster
types of `synthetic_posters` (`POSTER_TYPES`; the web-poster categories), so
a label means the same in both datasets. A line's "category" is matched after
`normalize_category` ('Tech Expo' -> 'tech_expo'); a poster without one (e.g.
movie posters) gets label -1; an unknown one is an error naming the line. For
other categories build with your own `PostersConfig(categories=...)`.

Splits: a line's "split" field when given, else `captions_file.hash_split`
(a hash of the image path sends ~10% to test, the same on every machine). A
split no line falls in is left out (TFDS cannot write an empty split).

Configs `64`, `128`, `256`, `512` (stored side); the default `256` serves the 64x64
GAN and each SR3 stage up to 256 through the pipeline's resizing, `512` the paper-scale third
SR3 stage.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from posergen_jax.data import image_files
from posergen_jax.data.posters import captions_file
from posergen_jax.data.synthetic_posters import catalog

_DESCRIPTION = """\
A user-collected set of poster images, each with up to 10 captions (repeated
to 10) and an optional category, read from a manual_dir with captions.jsonl.
"""


@dataclasses.dataclass(eq=False, kw_only=True)
class PostersConfig(tfds.core.BuilderConfig):
  """Stored image side in pixels and the category names (normalized) of `label`."""

  image_size: int = 256
  categories: tuple[str, ...] = catalog.POSTER_TYPES


def _config(image_size: int) -> PostersConfig:
  return PostersConfig(
      name=str(image_size),
      image_size=image_size,
      description=f"{image_size}x{image_size} centre crops, 20 poster types.",
  )


class Posters(tfds.core.GeneratorBasedBuilder):
  """Poster text-to-image dataset from a manual_dir; see the module docstring."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release: captions.jsonl, centre crops, 10 captions."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = captions_file.INSTRUCTIONS
  BUILDER_CONFIGS = [_config(64), _config(128), _config(256), _config(512)]
  DEFAULT_BUILDER_CONFIG_NAME = "256"

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(config.image_size, config.image_size, 3)),
                "captions": tfds.features.Sequence(
                    tfds.features.Text(), length=captions_file.NUM_CAPTIONS
                ),
                "label": tfds.features.ClassLabel(names=config.categories),
                "filename": tfds.features.Text(),
            }
        ),
        supervised_keys=None,
        homepage=None,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    posters = captions_file.read_posters(dl_manager.manual_dir, self.builder_config.categories)
    by_split = {split: [p for p in posters if p.split == split] for split in captions_file.SPLITS}
    return {
        split: self._generate_examples(split, entries)
        for split, entries in by_split.items()
        if entries
    }

  def _generate_examples(self, split: str, posters: list[captions_file.Poster]):
    size = self.builder_config.image_size

    def prepare(poster: captions_file.Poster) -> np.ndarray:
      image = image_files.read_rgb(poster.path)
      return image_files.resize_box(image, image_files.center_square_box(*image.size), size)

    for poster, image in image_files.read_images(posters, prepare, f"posters {split}"):
      yield poster.filename, {
          "image": image,
          "captions": list(poster.captions),
          "label": poster.label,
          "filename": poster.filename,
      }
