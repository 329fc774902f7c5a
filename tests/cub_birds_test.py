"""Tests for the cub_birds TFDS builder on a tiny fake CUB + StackGAN tree."""

import io
import logging
import pathlib
import pickle
import re
import struct

import ml_collections
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from posergen_jax.data import cub_birds, image_files, input_pipeline
from posergen_jax.data.cub_birds import manual_files
from tests import helpers

_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross")
_BIRD_COLORS = ((200, 30, 30), (30, 200, 30), (30, 30, 200))
_BACKGROUND = (128, 128, 128)
_IMAGE_SIZE = (48, 40)  # (width, height)
_BBOX = (12, 10, 16, 12)  # x, y, w, h: crop box (8, 4, 32, 28), a third of it bird.
_NUM_IMAGES = 12  # Ids 1..12, 4 per class; id % 4 == 0 is test: 9 train / 3 test.
_TRUNCATED_ID, _NOT_AN_IMAGE_ID = 2, 8  # One bad file in each split.
_SPLITS = {"train": 8, "test": 2}


def _filename(image_id: int) -> str:
  name = _CLASSES[(image_id - 1) // 4]
  return f"{name}/{name.split('.')[1]}_{image_id:04d}_{100 + image_id}.jpg"


def _captions(image_id: int) -> list[str]:
  return [f"caption {k} of bird {image_id}." for k in range(10)]


def _embeddings(image_id: int) -> np.ndarray:
  return np.random.default_rng(image_id).normal(size=(10, 1024)).astype(np.float32)


def _bird_jpeg(image_id: int) -> bytes:
  pixels = np.full((_IMAGE_SIZE[1], _IMAGE_SIZE[0], 3), _BACKGROUND, np.uint8)
  x, y, w, h = _BBOX
  pixels[y : y + h, x : x + w] = _BIRD_COLORS[(image_id - 1) // 4]
  data = io.BytesIO()
  Image.fromarray(pixels).save(data, "JPEG", quality=95, subsampling=0)
  return data.getvalue()


class _Python2Pickler(pickle._Pickler):  # pylint: disable=protected-access
  """Writes bytes as Python 2 `str` (BINSTRING), as StackGAN's pickles hold them."""

  dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access

  def _save_bytes_as_str(self, obj):
    self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
    self.memoize(obj)

  dispatch[bytes] = _save_bytes_as_str


def _write_python2_pickle(path: pathlib.Path, obj) -> None:
  with path.open("wb") as f:
    _Python2Pickler(f, protocol=2).dump(obj)


def write_fake_cub(root: pathlib.Path, with_embeddings: bool = True) -> pathlib.Path:
  """Writes the fake manual_dir under `root`; returns `root`."""
  cub, ids = root / "CUB_200_2011", range(1, _NUM_IMAGES + 1)
  for image_id in ids:
    image, text = cub / "images" / _filename(image_id), root / "text_c10" / _filename(image_id)
    image.parent.mkdir(parents=True, exist_ok=True)
    data = _bird_jpeg(image_id)
    image.write_bytes(
        {_TRUNCATED_ID: data[: len(data) * 3 // 4], _NOT_AN_IMAGE_ID: b"<html>404</html>"}.get(
            image_id, data
        )
    )
    text = text.with_suffix(".txt")
    text.parent.mkdir(parents=True, exist_ok=True)
    lines = _captions(image_id)
    if image_id == 1:  # Blank lines and stray spaces are dropped; lines past 10 ignored.
      lines = ["", lines[0] + "  ", *lines[1:5], "   ", *lines[5:], "an 11th caption"]
    text.write_text("\n".join(lines) + "\n")
  tables = {
      "images.txt": [_filename(i) for i in ids],
      "train_test_split.txt": [int(i % 4 != 0) for i in ids],
      "bounding_boxes.txt": [" ".join(f"{v}.0" for v in _BBOX) for _ in ids],
      "image_class_labels.txt": [(i - 1) // 4 + 1 for i in ids],
  }
  for name, values in tables.items():
    (cub / name).write_text("".join(f"{i} {v}\n" for i, v in zip(ids, values)))
  (cub / "classes.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(_CLASSES)))
  if with_embeddings:
    for split, is_test in (("train", False), ("test", True)):
      split_ids = [i for i in reversed(ids) if (i % 4 == 0) == is_test]  # Not images.txt order.
      folder = root / "birds" / split
      folder.mkdir(parents=True)
      _write_python2_pickle(
          folder / "filenames.pickle", [_filename(i)[:-4].encode() for i in split_ids]
      )
      _write_python2_pickle(
          folder / "char-CNN-RNN-embeddings.pickle", np.stack([_embeddings(i) for i in split_ids])
      )
  return root


def _prepare(manual_dir, data_dir, config: str = "64") -> tfds.core.DatasetBuilder:
  return helpers.build_from_folder(f"cub_birds/{config}", manual_dir, data_dir)


def _examples(builder, split: str) -> dict[str, dict]:
  return {ex["filename"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}


class CubBirdsBuilderTest(helpers.ManualFolderBuilderTest):
  """TFDS's own builder checks on the fake tree, without and with embeddings."""

  DATASET_CLASS = cub_birds.CubBirds
  BUILDER_CONFIG_NAMES_TO_TEST = ["64", "64_emb"]
  SPLITS = _SPLITS
  write_folder = staticmethod(write_fake_cub)


@pytest.fixture(scope="module")
def fake_cub(tmp_path_factory) -> pathlib.Path:
  return write_fake_cub(tmp_path_factory.mktemp("cub_manual"))


@pytest.fixture(scope="module")
def built_emb(fake_cub, tmp_path_factory) -> dict[str, dict[str, dict]]:
  builder = _prepare(fake_cub, tmp_path_factory.mktemp("tfds"), "64_emb")
  return {split: _examples(builder, split) for split in _SPLITS}


def test_stackgan_crop_box_hand_computed():
  # centre (25, 40), R = int(40 * 0.75) = 30 -> (-5, 10, 55, 70), clamped at the left.
  assert image_files.stackgan_crop_box((10, 20, 30, 40), 100, 80) == (0, 10, 55, 70)
  # Clamped at the bottom and right: centre (85, 55), R = int(20 * 0.75) = 15.
  assert image_files.stackgan_crop_box((80, 45, 10, 20), 95, 60) == (70, 40, 95, 60)
  # Odd sizes truncate as StackGAN's int(): centre ((2*3 + 7) // 2, (2*4 + 5) // 2) = (6, 6), R = 5.
  assert image_files.stackgan_crop_box((3, 4, 7, 5), 50, 50) == (1, 1, 11, 11)
  with pytest.raises(image_files.BadImageError, match="outside"):
    image_files.stackgan_crop_box((300, 300, 10, 10), 100, 80)


def test_resize_box_takes_exactly_the_box():
  x, y = np.meshgrid(np.arange(100), np.arange(80))
  image = Image.fromarray(np.stack([x, y, np.zeros_like(x)], -1).astype(np.uint8))
  crop = image_files.resize_box(image, (0, 10, 60, 70), 60)  # 60x60 box, no scaling.
  assert crop.shape == (60, 60, 3) and crop.dtype == np.uint8
  np.testing.assert_array_equal(crop[0, 0], (0, 10, 0))
  np.testing.assert_array_equal(crop[-1, -1], (59, 69, 0))


def test_split_counts_labels_and_crops(built_emb):
  assert {split: len(examples) for split, examples in built_emb.items()} == _SPLITS
  for split, examples in built_emb.items():
    for filename, ex in examples.items():
      image_id = int(filename.split("_")[-2])
      assert (image_id % 4 != 0) == (split == "train")
      assert ex["label"] == (image_id - 1) // 4
      assert ex["label_name"].decode() == _CLASSES[ex["label"]]
      assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
      # The crop is 24x24 around a 16x12 bird: a third of it bird-coloured (a full-image
      # resize would be a tenth), the bird at the centre, background in the corners.
      bird = np.abs(ex["image"].astype(int) - _BIRD_COLORS[ex["label"]]).max(-1) < 40
      assert 0.28 < bird.mean() < 0.38, bird.mean()
      assert bird[32, 32] and not bird[0, 0] and not bird[-1, -1]


def test_captions_in_file_order(built_emb):
  for examples in built_emb.values():
    for filename, ex in examples.items():
      image_id = int(filename.split("_")[-2])
      assert [c.decode() for c in ex["captions"]] == _captions(image_id)


def test_embeddings_matched_by_filename(built_emb):
  for examples in built_emb.values():
    for filename, ex in examples.items():
      assert ex["embedding"].dtype == np.float32
      np.testing.assert_array_equal(ex["embedding"], _embeddings(int(filename.split("_")[-2])))


def test_plain_config_skips_bad_images_logs_them_and_has_no_embedding(fake_cub, tmp_path, caplog):
  with caplog.at_level(logging.WARNING):
    builder = _prepare(fake_cub, tmp_path)
  assert "embedding" not in builder.info.features
  assert {split: builder.info.splits[split].num_examples for split in _SPLITS} == _SPLITS
  warnings = [r.getMessage() for r in caplog.records if "cub_birds" in r.getMessage()]
  assert len(warnings) == 2, warnings
  train, test = sorted(warnings, key=lambda m: "test" in m)
  assert "cub_birds train: skipped 1 of 9" in train and _filename(_TRUNCATED_ID) in train
  assert "cub_birds test: skipped 1 of 3" in test and _filename(_NOT_AN_IMAGE_ID) in test
  assert not _examples(builder, "train").keys() & {_filename(_TRUNCATED_ID)}


def test_emb_config_without_pickles_names_the_file(tmp_path):
  manual_dir = write_fake_cub(tmp_path / "manual", with_embeddings=False)
  expected = manual_dir / "birds" / "train" / "filenames.pickle"
  with pytest.raises(FileNotFoundError, match=re.escape(str(expected))):
    _prepare(manual_dir, tmp_path / "tfds", "64_emb")


def test_embeddings_must_cover_every_image(tmp_path):
  manual_dir = write_fake_cub(tmp_path / "manual")
  folder = manual_dir / "birds" / "test"
  _write_python2_pickle(folder / "filenames.pickle", [_filename(4)[:-4].encode()])
  _write_python2_pickle(folder / "char-CNN-RNN-embeddings.pickle", _embeddings(4)[None])
  with pytest.raises(ValueError, match=re.escape(_filename(8)[:-4])):
    _prepare(manual_dir, tmp_path / "tfds", "64_emb")


def test_embedding_reader_takes_a_list_of_arrays_and_checks_their_shape(tmp_path):
  # Read directly (no build): StackGAN's flowers pickles hold a list of [10, 1024] arrays.
  manual_dir = write_fake_cub(tmp_path / "manual")
  birds = manual_files.read_birds(manual_dir)
  pickled = manual_dir / "birds" / "train" / "char-CNN-RNN-embeddings.pickle"
  with pickled.open("rb") as f:
    stacked = pickle.load(f, encoding="latin1")
  _write_python2_pickle(pickled, list(stacked.astype(np.float64)))
  embeddings = manual_files.read_embeddings(manual_dir, birds)
  for bird in birds:
    assert embeddings[bird.filename].dtype == np.float32
    np.testing.assert_array_equal(
        embeddings[bird.filename], _embeddings(int(bird.stem.split("_")[-2]))
    )
  _write_python2_pickle(pickled, stacked[:, :, :8])
  with pytest.raises(ValueError, match=re.escape(f"{pickled} holds an array of shape (9, 10, 8)")):
    manual_files.read_embeddings(manual_dir, birds)


@pytest.mark.parametrize(
    "missing",
    [
        "CUB_200_2011/images.txt",
        "CUB_200_2011/train_test_split.txt",
        "CUB_200_2011/bounding_boxes.txt",
        "CUB_200_2011/image_class_labels.txt",
        "CUB_200_2011/classes.txt",
        f"CUB_200_2011/images/{_filename(5)}",
        f"text_c10/{_filename(7)[:-4]}.txt",
    ],
)
def test_missing_file_error_names_it(tmp_path, missing):
  manual_dir = write_fake_cub(tmp_path / "manual", with_embeddings=False)
  (manual_dir / missing).unlink()
  with pytest.raises(FileNotFoundError, match=re.escape(str(manual_dir / missing))):
    _prepare(manual_dir, tmp_path / "tfds")


def test_missing_text_folder_names_it_and_stackgan(tmp_path):
  manual_dir = write_fake_cub(tmp_path / "manual", with_embeddings=False)
  (manual_dir / "text_c10").rename(tmp_path / "elsewhere")
  pattern = re.escape(str(manual_dir / "text_c10")) + ".*StackGAN"
  with pytest.raises(FileNotFoundError, match=pattern):
    _prepare(manual_dir, tmp_path / "tfds")


def test_empty_manual_dir_gives_the_instructions(tmp_path):
  (tmp_path / "manual").mkdir()
  with pytest.raises(AssertionError, match="(?s)CUB_200_2011/.*images.txt"):
    _prepare(tmp_path / "manual", tmp_path / "tfds")


@pytest.mark.parametrize(
    "file, line, pattern",
    [
        ("bounding_boxes.txt", "3 6.0 5.0 8.0\n", "bounding_boxes.txt:3"),
        ("bounding_boxes.txt", "3 6.0 5.0 0.0 6.0\n", "bounding_boxes.txt:3"),
        ("image_class_labels.txt", "3 201\n", "image_class_labels.txt:3"),
        ("train_test_split.txt", "3 yes\n", "train_test_split.txt:3"),
        ("images.txt", "2 " + _filename(3) + "\n", "images.txt:3: id 2 appears twice"),
    ],
)
def test_malformed_line_error_names_file_and_line(tmp_path, file, line, pattern):
  manual_dir = write_fake_cub(tmp_path / "manual", with_embeddings=False)
  path = manual_dir / "CUB_200_2011" / file
  lines = path.read_text().splitlines(keepends=True)
  lines[2] = line
  path.write_text("".join(lines))
  with pytest.raises(ValueError, match=re.escape(pattern)):
    _prepare(manual_dir, tmp_path / "tfds")


def test_too_few_captions_names_the_file(tmp_path):
  manual_dir = write_fake_cub(tmp_path / "manual", with_embeddings=False)
  text = manual_dir / "text_c10" / f"{_filename(6)[:-4]}.txt"
  text.write_text("only one caption\n\n")
  with pytest.raises(ValueError, match=re.escape(str(text)) + " has 1 captions"):
    _prepare(manual_dir, tmp_path / "tfds")


def test_create_dataset_reads_the_default_manual_dir(tmp_path):
  write_fake_cub(tmp_path / "downloads" / "manual")  # TFDS's default manual_dir.
  config = ml_collections.ConfigDict(
      {"name": "cub_birds/64_emb", "data_dir": str(tmp_path), "shuffle_buffer": 8}
  )

  def keep(example, seed):
    del seed
    return {k: example[k] for k in ("image", "captions", "label", "embedding")}

  train = input_pipeline.create_dataset(
      config, "train", global_batch_size=4, preprocess=keep, train=True, seed=0
  )
  batch = next(iter(train))
  assert batch["image"].shape == (4, 64, 64, 3) and batch["image"].dtype.name == "uint8"
  assert batch["captions"].shape == (4, 10)
  assert batch["embedding"].shape == (4, 10, 1024) and batch["label"].shape == (4,)
  test = list(
      input_pipeline.create_dataset(
          config, "test", global_batch_size=2, preprocess=keep, train=False, seed=0
      )
  )
  assert len(test) == 1
  assert sorted(test[0]["label"].numpy().tolist()) == [0, 2]  # Ids 4 and 12; 8 is bad.
