"""`cub_birds`: CUB-200-2011 birds with StackGAN's 10 captions per image.

Reads a user's manual_dir (see `manual_files.INSTRUCTIONS`). Each image is
cropped as StackGAN does (a square 1.5x the bird's bounding box, clamped to
the image; `image_files.stackgan_crop_box`) and resized to the config's size.

Configs: `64`, `128`, `256` (stored side), and `64_emb`, `128_emb`,
`256_emb`, which add StackGAN's char-CNN-RNN `embedding` [10, 1024] and need
its pickles. The default, `128`, is Gt-StackGAN's top stage; the input
pipeline's `center_square_resize` makes its 64x64 stage-1 targets. `256` keeps
room for StackGAN++-style random crops (76/64 upscale) or a 256 SR stage.
Embeddings get their own configs, not a zero-filled feature plus a flag, so a
build without the pickles stores no 40 KB of zeros per image.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from posergen_jax.data import image_files
from posergen_jax.data.cub_birds import manual_files

_DESCRIPTION = """\
Caltech-UCSD Birds-200-2011: 11,788 photos of 200 bird species (8,855 train /
2,933 test), each with the 10 English captions of Reed et al. (2016) as
StackGAN distributes them, cropped around the bird as StackGAN does.
"""

_CITATION = """\
@techreport{WahCUB_200_2011,
  title = {The Caltech-UCSD Birds-200-2011 Dataset},
  author = {Wah, C. and Branson, S. and Welinder, P. and Perona, P. and Belongie, S.},
  institution = {California Institute of Technology},
  number = {CNS-TR-2011-001},
  year = {2011}
}
"""


@dataclasses.dataclass(eq=False, kw_only=True)
class CubBirdsConfig(tfds.core.BuilderConfig):
  """Stored image side in pixels, and whether to add the char-CNN-RNN embeddings."""

  image_size: int = 128
  with_embeddings: bool = False


def _config(image_size: int, with_embeddings: bool) -> CubBirdsConfig:
  suffix, extra = ("_emb", " with char-CNN-RNN embeddings") if with_embeddings else ("", "")
  return CubBirdsConfig(
      name=f"{image_size}{suffix}",
      image_size=image_size,
      with_embeddings=with_embeddings,
      description=f"{image_size}x{image_size} bounding-box crops{extra}.",
  )


class CubBirds(tfds.core.GeneratorBasedBuilder):
  """CUB-200-2011 text-to-image dataset; see the module docstring."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release: StackGAN crops, text_c10 captions, embeddings."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = manual_files.INSTRUCTIONS
  BUILDER_CONFIGS = [
      _config(size, with_embeddings) for with_embeddings in (False, True) for size in (64, 128, 256)
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "128"

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    features = {
        "image": tfds.features.Image(shape=(config.image_size, config.image_size, 3)),
        "captions": tfds.features.Sequence(tfds.features.Text(), length=manual_files.NUM_CAPTIONS),
        "label": tfds.features.ClassLabel(num_classes=manual_files.NUM_CLASSES),
        "label_name": tfds.features.Text(),
        "filename": tfds.features.Text(),
    }
    if config.with_embeddings:
      features["embedding"] = tfds.features.Tensor(
          shape=(manual_files.NUM_CAPTIONS, manual_files.EMBEDDING_DIM), dtype=np.float32
      )
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict(features),
        supervised_keys=None,
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    birds = manual_files.read_birds(dl_manager.manual_dir)
    embeddings = (
        manual_files.read_embeddings(dl_manager.manual_dir, birds)
        if self.builder_config.with_embeddings
        else None
    )
    return {
        split: self._generate_examples(
            split, [b for b in birds if b.is_train == is_train], embeddings
        )
        for split, is_train in (("train", True), ("test", False))
    }

  def _generate_examples(
      self, split: str, birds: list[manual_files.Bird], embeddings: dict[str, np.ndarray] | None
  ):
    size = self.builder_config.image_size

    def prepare(bird: manual_files.Bird) -> np.ndarray:
      image = image_files.read_rgb(bird.path)
      return image_files.resize_box(
          image, image_files.stackgan_crop_box(bird.bbox, *image.size), size
      )

    for bird, image in image_files.read_images(birds, prepare, f"cub_birds {split}"):
      example = {
          "image": image,
          "captions": list(bird.captions),
          "label": bird.label,
          "label_name": bird.label_name,
          "filename": bird.filename,
      }
      if embeddings is not None:
        example["embedding"] = embeddings[bird.filename]
      yield bird.filename, example
