"""`synthetic_posters`: procedurally rendered bilingual posters with captions.

Needs no download: every example is rendered from a seed derived from
(split, index) alone, so each build gives the same content on any machine, and
the configs of different image sizes hold the same posters at different
resolutions (pairs for super-resolution).
"""

import dataclasses

import tensorflow_datasets as tfds

from posergen_jax.data.synthetic_posters import captions, catalog, render

_DESCRIPTION = """\
Synthetic posters of 20 types (concert, academic conference, travel, wedding,
...). Each poster has a gradient and textured background, decorative motifs of
its type, a framed picture scene, and a Chinese title, an English title and a
subtitle rendered with Noto Sans CJK. Each example carries 10 captions (5
Chinese, then 5 English) that name the type, the colours, the layout, the
picture and the title words.
"""

# Seeds of split s are _SPLIT_SEED_OFFSETS[s] + index: disjoint across splits.
_SPLIT_SEED_OFFSETS = {"train": 0, "test": 1 << 32}


@dataclasses.dataclass(eq=False, kw_only=True)
class SyntheticPostersConfig(tfds.core.BuilderConfig):
  """Image side in pixels and number of examples per split."""

  image_size: int = 64
  num_train: int = 1024
  num_test: int = 128


def example_seed(split: str, index: int) -> int:
  """The render seed of example `index` of `split` ('train' or 'test')."""
  return _SPLIT_SEED_OFFSETS[split] + index


def _config(name: str, image_size: int, num_train: int, num_test: int) -> SyntheticPostersConfig:
  return SyntheticPostersConfig(
      name=name,
      image_size=image_size,
      num_train=num_train,
      num_test=num_test,
      description=f"{image_size}x{image_size} posters, {num_train} train / {num_test} test.",
  )


class SyntheticPosters(tfds.core.GeneratorBasedBuilder):
  """Procedural text-to-poster dataset; see the module docstring."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release: 20 poster types, 5 zh + 5 en captions."}
  BUILDER_CONFIGS = [
      _config("64", 64, 1024, 128),
      _config("128", 128, 1024, 128),
      _config("256", 256, 1024, 128),
      _config("tiny", 32, 64, 16),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "64"

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(size, size, 3)),
                "label": tfds.features.ClassLabel(names=catalog.POSTER_TYPES),
                "captions": tfds.features.Sequence(
                    tfds.features.Text(), length=2 * captions.NUM_CAPTIONS_PER_LANGUAGE
                ),
                "title": tfds.features.Text(),
                "id": tfds.features.Text(),
            }
        ),
        supervised_keys=None,
        homepage=None,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    return {
        "train": self._generate_examples("train", config.num_train),
        "test": self._generate_examples("test", config.num_test),
    }

  def _generate_examples(self, split: str, num_examples: int):
    for index in range(num_examples):
      image, description = render.render_poster(
          example_seed(split, index), self.builder_config.image_size
      )
      key = f"{split}_{index:06d}"
      yield key, {
          "image": image,
          "label": description["label"],
          "captions": captions.make_captions(description),
          "title": description["title_en"],
          "id": key,
      }
