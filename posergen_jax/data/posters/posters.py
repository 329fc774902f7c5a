"""`posters`: a user's poster collection with captions (movie posters, web posters).

Reads a manual_dir of images plus `captions.jsonl`, or Hugging Face imagefolder's
`metadata.jsonl` ("file_name", "text"): see `captions_file`.
Each image is centre-cropped to a square and resized to the config's size,
like `synthetic_posters` and the input pipeline's `center_square_resize`.

Labels: free-form. A line's "category" is normalized (`normalize_category`: 'Tech Expo' ->
'tech_expo'); the dataset's label names are every category the file names, sorted (movie
genres, web-poster types, ...); a poster without one gets label -1. A `PostersConfig` with its
own `categories` fixes the list instead (an unknown category is then an error naming the line).

Content: the build records `captions_file.fingerprint` of its manual_dir in the dataset's
metadata (`SOURCE_FINGERPRINT`); `input_pipeline.get_builder` refuses to read a build made from
other content than the manual_dir it is given.

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

# The dataset metadata key holding `captions_file.fingerprint` of the build's manual_dir.
SOURCE_FINGERPRINT = "source_fingerprint"

_DESCRIPTION = """\
A user-collected set of poster images, each with up to 10 captions (repeated
to 10) and an optional category, read from a manual_dir with captions.jsonl
or metadata.jsonl.
"""


@dataclasses.dataclass(eq=False, kw_only=True)
class PostersConfig(tfds.core.BuilderConfig):
  """Stored image side in pixels; the category names (normalized) of `label`, or None to take
  them from the captions file."""

  image_size: int = 256
  categories: tuple[str, ...] | None = None


def _config(image_size: int) -> PostersConfig:
  return PostersConfig(
      name=str(image_size),
      image_size=image_size,
      description=f"{image_size}x{image_size} centre crops, the captions file's categories.",
  )


class Posters(tfds.core.GeneratorBasedBuilder):
  """Poster text-to-image dataset from a manual_dir; see the module docstring."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release: captions.jsonl, centre crops, 10 captions.",
      "1.1.0": "Free-form categories; the source's fingerprint in the metadata.",
  }
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
                # Without fixed categories, the names are set from the captions file.
                "label": tfds.features.ClassLabel(names=config.categories),
                "filename": tfds.features.Text(),
            }
        ),
        supervised_keys=None,
        homepage=None,
        metadata=tfds.core.MetadataDict(),
    )

  @staticmethod
  def source_fingerprint(manual_dir: str) -> str:
    """What `SOURCE_FINGERPRINT` records for a build from `manual_dir`."""
    return captions_file.fingerprint(manual_dir)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    posters = captions_file.read_posters(dl_manager.manual_dir)
    names, labels = captions_file.category_labels(
        posters,
        self.builder_config.categories,
        captions_file.source_path(dl_manager.manual_dir),
    )
    if self.builder_config.categories is None:
      self.info.features["label"].names = list(names)
    self.info.metadata[SOURCE_FINGERPRINT] = self.source_fingerprint(dl_manager.manual_dir)
    labelled = list(zip(posters, labels))
    by_split = {
        split: [e for e in labelled if e[0].split == split] for split in captions_file.SPLITS
    }
    return {
        split: self._generate_examples(split, entries)
        for split, entries in by_split.items()
        if entries
    }

  def _generate_examples(self, split: str, posters: list[tuple[captions_file.Poster, int]]):
    size = self.builder_config.image_size

    def prepare(entry: tuple[captions_file.Poster, int]) -> np.ndarray:
      image = image_files.read_rgb(entry[0].path)
      return image_files.resize_box(image, image_files.center_square_box(*image.size), size)

    for (poster, label), image in image_files.read_images(posters, prepare, f"posters {split}"):
      yield poster.filename, {
          "image": image,
          "captions": list(poster.captions),
          "label": label,
          "filename": poster.filename,
      }
