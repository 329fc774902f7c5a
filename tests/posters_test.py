"""Tests for the posters TFDS builder on a tiny fake poster collection."""

import json
import logging
import pathlib
import re
import shutil

import ml_collections
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from posergen_jax.data import image_files, input_pipeline, posters, preprocess
from posergen_jax.data.posters import captions_file
from posergen_jax.io import errors
from tests import helpers

_RED, _GREEN, _BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)
_TRUNCATED, _NOT_AN_IMAGE = "broken/truncated.jpg", "broken/not_an_image.png"
# (image, mode, width, height, JSON fields other than "image").
_POSTERS = (
    (
        "web/concert.jpg",
        "RGB",
        60,
        40,
        {"captions": ["a", "b", "c"], "category": "concert", "split": "train"},
    ),
    (
        "web/expo.png",
        "RGBA",
        40,
        60,
        {"captions": ["only one"], "category": "Tech Expo", "split": "test"},
    ),
    (
        "web/talk.jpg",
        "L",
        48,
        48,
        {"captions": [f"talk {k}" for k in range(12)], "category": "academic-conference"},
    ),
    (
        "movies/m1.jpg",
        "RGB",
        30,
        45,
        {"captions": [f"m1 {k}" for k in range(10)], "split": "train"},
    ),
    ("movies/m2.jpg", "RGB", 30, 45, {"captions": ["m2 a", "m2 b"]}),
    ("movies/m3.jpg", "RGB", 30, 45, {"captions": ["m3"], "category": None, "split": "test"}),
    ("movies/m4.jpg", "RGB", 30, 45, {"captions": ["m4"], "split": "train"}),
    ("movies/m5.jpg", "RGB", 30, 45, {"captions": ["m5"]}),
    (_TRUNCATED, "RGB", 40, 40, {"captions": ["bad"], "split": "train"}),
    (_NOT_AN_IMAGE, "RGB", 40, 40, {"captions": ["bad"], "split": "test"}),
)


# The fake collection's label names: its categories, normalized and sorted.
_NAMES = ("academic_conference", "concert", "tech_expo")


def _split_of(fields: dict, image: str) -> str:
  return fields.get("split") or captions_file.hash_split(image)


_SPLITS = {
    split: sum(
        _split_of(f, name) == split and name not in (_TRUNCATED, _NOT_AN_IMAGE)
        for name, _, _, _, f in _POSTERS
    )
    for split in captions_file.SPLITS
}


def _three_bands(mode: str, width: int, height: int) -> Image.Image:
  """Red, green, blue bands across the long side; the centre square is all green."""
  pixels = np.zeros((height, width, 3), np.uint8)
  long_side, short_side = max(width, height), min(width, height)
  band = (long_side - short_side) // 2
  view = pixels if width >= height else pixels.transpose(1, 0, 2)
  view[:, :band], view[:, band : long_side - band], view[:, long_side - band :] = (
      _RED,
      _GREEN,
      _BLUE,
  )
  return Image.fromarray(pixels).convert(mode)


def write_fake_posters(root: pathlib.Path) -> pathlib.Path:
  """Writes the fake manual_dir (images + captions.jsonl) under `root`; returns `root`."""
  lines = []
  for name, mode, width, height, fields in _POSTERS:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95, "subsampling": 0} if name.endswith(".jpg") else {}
    _three_bands(mode, width, height).save(path, **options)
    lines.append(json.dumps({"image": name, **fields}, ensure_ascii=False))
  (root / _TRUNCATED).write_bytes((root / _TRUNCATED).read_bytes()[:300])
  (root / _NOT_AN_IMAGE).write_bytes(b"\x89PNG but not really")
  (root / captions_file.CAPTIONS_FILE).write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n")
  return root


def write_fake_metadata(root: pathlib.Path) -> pathlib.Path:
  """The fake collection of `write_fake_posters` as Hugging Face's imagefolder: metadata.jsonl
  ("file_name", "text": one string where a poster has one caption, plus a key read by nothing)
  in place of captions.jsonl; returns `root`."""
  captions_path = write_fake_posters(root) / captions_file.CAPTIONS_FILE
  lines = []
  for line in captions_path.read_text().splitlines():
    record = json.loads(line) if line else {}
    if record:
      captions = record.pop("captions")
      record = {
          "file_name": record.pop("image"),
          "text": captions[0] if len(captions) == 1 else captions,
          "source": "scraped",
          **record,
      }
    lines.append(json.dumps(record, ensure_ascii=False) if record else "")
  (root / captions_file.METADATA_FILE).write_text("\n".join(lines) + "\n")
  captions_path.unlink()
  return root


def _prepare(manual_dir, data_dir, config: str = "64") -> tfds.core.DatasetBuilder:
  return helpers.build_from_folder(f"posters/{config}", manual_dir, data_dir)


class PostersBuilderTest(helpers.ManualFolderBuilderTest):
  """TFDS's own builder checks on the fake collection."""

  DATASET_CLASS = posters.Posters
  BUILDER_CONFIG_NAMES_TO_TEST = ["64"]
  SPLITS = _SPLITS
  write_folder = staticmethod(write_fake_posters)


@pytest.fixture(scope="module")
def fake_posters(tmp_path_factory) -> pathlib.Path:
  return write_fake_posters(tmp_path_factory.mktemp("posters_manual"))


def test_fixed_captions_repeat_in_order_or_cut():
  assert captions_file.fixed_captions(["a", "b", "c"]) == tuple("abcabcabca")
  assert captions_file.fixed_captions(["x"]) == ("x",) * 10
  assert captions_file.fixed_captions([str(k) for k in range(12)]) == tuple(map(str, range(10)))


def test_hash_split_is_fixed_by_name_and_about_ten_percent():
  names = [f"posters/{k:05d}.jpg" for k in range(4000)]
  splits = [captions_file.hash_split(n) for n in names]
  assert splits == [captions_file.hash_split(n) for n in names]
  assert set(splits) == {"train", "test"}
  assert 0.08 < splits.count("test") / len(splits) < 0.12


def _poster(category, line):
  return captions_file.Poster("x.jpg", None, ("c",) * 10, category, "train", line)


_GENRES = ("western", None, "film_noir", "western")


def test_category_labels_are_the_files_own_names_sorted_or_a_fixed_list():
  posters = [
      _poster("western", 1),
      _poster(None, 2),
      _poster("film_noir", 3),
      _poster("western", 4),
  ]
  assert captions_file.category_labels(posters, None, "c.jsonl") == (
      ("film_noir", "western"),
      [1, -1, 0, 1],
  )
  assert captions_file.category_labels(posters, ("western", "film_noir"), "c.jsonl")[1] == [
      0,
      -1,
      1,
      0,
  ]
  with pytest.raises(errors.InputError, match=re.escape("c.jsonl:3: unknown category 'film_noir'")):
    captions_file.category_labels(posters, ("western",), "c.jsonl")
  assert captions_file.normalize_category(" Tech-Expo ") == "tech_expo"


def test_center_square_box_hand_computed():
  assert image_files.center_square_box(60, 40) == (10, 0, 50, 40)
  assert image_files.center_square_box(31, 50) == (0, 9, 31, 40)


def test_build_crops_pads_labels_and_skips_bad_files(fake_posters, tmp_path, caplog):
  with caplog.at_level(logging.WARNING):
    builder = _prepare(fake_posters, tmp_path)
  examples = {
      split: {ex["filename"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}
      for split in captions_file.SPLITS
  }
  assert {split: len(ex) for split, ex in examples.items()} == _SPLITS
  assert builder.info.features["label"].names == list(_NAMES)
  for name, _, _, _, fields in _POSTERS:
    if name in (_TRUNCATED, _NOT_AN_IMAGE):
      assert name not in examples[fields["split"]]
      continue
    ex = examples[_split_of(fields, name)][name]
    assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
    if ex["image"].std(axis=-1).mean() > 5:  # Colour posters: the centre square is all green.
      assert np.abs(ex["image"].astype(int) - _GREEN).max() < 40, name
    assert tuple(c.decode() for c in ex["captions"]) == captions_file.fixed_captions(
        fields["captions"]
    )
    category = fields.get("category")
    assert ex["label"] == (
        -1 if not category else _NAMES.index(captions_file.normalize_category(category))
    )
  messages = " | ".join(r.getMessage() for r in caplog.records)
  assert "posters train: skipped 1 of" in messages and _TRUNCATED in messages
  assert "posters test: skipped 1 of" in messages and _NOT_AN_IMAGE in messages


def _with_line(manual_dir: pathlib.Path, line_number: int, line: str) -> None:
  path = manual_dir / captions_file.CAPTIONS_FILE
  lines = path.read_text().splitlines()
  lines[line_number - 1] = line
  path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "line_number, line, message",
    [
        (1, '{"image": "web/concert.jpg", "captions": ["a"]', "not valid JSON"),
        (1, '["web/concert.jpg"]', "expected a JSON object"),
        (1, '{"image": "web/concert.jpg", "captions": "a poster"}', '"captions" must be'),
        (1, '{"image": "web/concert.jpg", "captions": []}', '"captions" must be'),
        (1, '{"image": "../outside.jpg", "captions": ["a"]}', '"image" must be a path inside'),
        (1, '{"image": "web/concert.jpg", "captions": ["a"], "split": "val"}', '"split" must be'),
        (3, '{"image": "web/talk.jpg", "captions": ["a"], "category": 3}', '"category" must be'),
        (5, '{"image": "web/expo.png", "captions": ["a"]}', "'web/expo.png' is already on line 2"),
    ],
)
def test_malformed_line_error_names_the_line(tmp_path, line_number, line, message):
  manual_dir = write_fake_posters(tmp_path / "manual")
  path = manual_dir / captions_file.CAPTIONS_FILE
  lines = path.read_text().splitlines()
  lines[line_number - 1] = line
  path.write_text("\n".join(lines) + "\n")
  with pytest.raises(
      ValueError, match=re.escape(f"{path}:{line_number}: ") + ".*" + re.escape(message)
  ):
    _prepare(manual_dir, tmp_path / "tfds")


def test_missing_captions_file_names_the_path(tmp_path):
  manual_dir = write_fake_posters(tmp_path / "manual")
  (manual_dir / captions_file.CAPTIONS_FILE).unlink()
  with pytest.raises(
      FileNotFoundError, match=re.escape(f"expected {manual_dir / captions_file.CAPTIONS_FILE}")
  ):
    _prepare(manual_dir, tmp_path / "tfds")


def test_missing_image_names_the_path_and_line(tmp_path):
  manual_dir = write_fake_posters(tmp_path / "manual")
  (manual_dir / "movies" / "m2.jpg").unlink()
  path = manual_dir / captions_file.CAPTIONS_FILE
  with pytest.raises(
      FileNotFoundError,
      match=re.escape(f"{path}:6: expected the image {manual_dir / 'movies' / 'm2.jpg'}"),
  ):
    _prepare(manual_dir, tmp_path / "tfds")


def test_create_dataset_reads_config_manual_dir_and_yields_sr_batches(tmp_path):
  manual_dir = write_fake_posters(tmp_path / "my_posters")  # --config.data.manual_dir
  config = ml_collections.ConfigDict(
      {
          "name": "posters/64",
          "data_dir": str(tmp_path / "tfds"),
          "manual_dir": str(manual_dir),
          "shuffle_buffer": 8,
      }
  )
  ds = input_pipeline.create_dataset(
      config,
      "train",
      global_batch_size=2,
      train=True,
      seed=0,
      preprocess=preprocess.sr_pairs(image_key="image", hr_size=32, lr_size=16, random_flip=True),
  )
  batch = next(iter(ds))
  assert batch["target"].shape == (2, 32, 32, 3) and batch["cond"].shape == (2, 32, 32, 3)
  assert batch["lowres"].shape == (2, 16, 16, 3) and batch["label"].shape == (2,)
  assert -1.0 <= batch["target"].numpy().min() and batch["target"].numpy().max() <= 1.0


def test_split_without_lines_is_left_out(tmp_path):
  manual_dir = write_fake_posters(tmp_path / "manual")
  path = manual_dir / captions_file.CAPTIONS_FILE
  path.write_text(path.read_text().splitlines()[0] + "\n")  # web/concert.jpg, split train.
  builder = _prepare(manual_dir, tmp_path / "tfds")
  assert {name: split.num_examples for name, split in builder.info.splits.items()} == {"train": 1}


def test_no_lines_or_no_usable_image_is_an_error(tmp_path):
  manual_dir = write_fake_posters(tmp_path / "manual")
  path = manual_dir / captions_file.CAPTIONS_FILE
  path.write_text("\n")
  with pytest.raises(ValueError, match=re.escape(f"{path} lists no posters")):
    _prepare(manual_dir, tmp_path / "tfds")
  path.write_text(json.dumps({"image": _TRUNCATED, "captions": ["x"], "split": "train"}) + "\n")
  with pytest.raises(ValueError, match="posters train: none of the 1 image files could be used"):
    _prepare(manual_dir, tmp_path / "tfds2")


def _folder_b(root: pathlib.Path) -> pathlib.Path:
  """Another collection: other images, captions and (non-synthetic) categories."""
  root.mkdir(parents=True)
  lines = []
  for i, genre in enumerate(["western", "film noir", "western", None]):
    Image.new("RGB", (40, 40), (10 * i, 200, 30)).save(root / f"b{i}.png")
    fields = {"image": f"b{i}.png", "captions": [f"b poster {i}"], "split": "train"}
    lines.append(json.dumps({**fields, "category": genre}))
  (root / captions_file.CAPTIONS_FILE).write_text("\n".join(lines) + "\n")
  return root


def _train_filenames(manual_dir, data_dir) -> tuple[set[str], list[str]]:
  config = ml_collections.ConfigDict(
      {"name": "posters/64", "data_dir": str(data_dir), "manual_dir": str(manual_dir)}
  )
  builder = input_pipeline.get_builder(config)
  names = {ex["filename"].decode() for ex in tfds.as_numpy(builder.as_dataset(split="train"))}
  return names, builder.info.features["label"].names


def test_a_build_from_other_content_is_refused_naming_the_folder_never_the_old_data(tmp_path):
  folder_a = write_fake_posters(tmp_path / "a")
  folder_b = _folder_b(tmp_path / "b")
  data_dir = tmp_path / "tfds"
  names_a, labels_a = _train_filenames(folder_a, data_dir)
  assert "web/concert.jpg" in names_a and labels_a == list(_NAMES)
  assert _train_filenames(folder_a, data_dir)[0] == names_a  # Same content: read, not rebuilt.
  built = data_dir / "posters" / "64"
  with pytest.raises(errors.InputError, match=re.escape(f"in {built}/")) as raised:
    _train_filenames(folder_b, data_dir)
  assert f"data.manual_dir={folder_b}: posters/64" in str(raised.value)
  assert "Delete that folder to rebuild" in str(raised.value)
  # Editing the captions of the folder it was built from is other content too.
  path = folder_a / captions_file.CAPTIONS_FILE
  path.write_text(path.read_text().replace('"a", "b", "c"', '"a", "b", "d"'))
  with pytest.raises(errors.InputError, match="was built from other content"):
    _train_filenames(folder_a, data_dir)
  # Deleted as the message says: B's posters and B's own category names.
  shutil.rmtree(built)
  assert _train_filenames(folder_b, data_dir) == (
      {"b0.png", "b1.png", "b2.png", "b3.png"},
      ["film_noir", "western"],
  )


def test_fingerprint_changes_with_captions_or_an_image_size_only(tmp_path):
  folder = _folder_b(tmp_path / "b")
  first = captions_file.fingerprint(folder)
  (folder / "unlisted.txt").write_text("not read")
  assert captions_file.fingerprint(folder) == first
  Image.new("RGB", (41, 40)).save(folder / "b0.png")
  assert captions_file.fingerprint(folder) != first


def _examples(builder) -> dict[str, dict[str, tuple]]:
  """Per split, each example by file name: (image bytes, captions, label)."""
  return {
      split: {
          ex["filename"].decode(): (ex["image"].tobytes(), tuple(ex["captions"]), ex["label"])
          for ex in tfds.as_numpy(builder.as_dataset(split=split))
      }
      for split in captions_file.SPLITS
  }


def test_a_metadata_jsonl_folder_builds_the_same_examples(fake_posters, tmp_path):
  folder = write_fake_metadata(tmp_path / "imagefolder")
  assert not (folder / captions_file.CAPTIONS_FILE).exists()
  from_metadata = _prepare(folder, tmp_path / "tfds_metadata")
  from_captions = _prepare(fake_posters, tmp_path / "tfds_captions")
  assert from_metadata.info.features["label"].names == list(_NAMES)
  examples = _examples(from_metadata)
  assert {split: len(ex) for split, ex in examples.items()} == _SPLITS
  assert examples["test"]["web/expo.png"][1:] == ((b"only one",) * 10, _NAMES.index("tech_expo"))
  assert examples == _examples(from_captions)


@pytest.mark.parametrize(
    "line_number, line, error, message",
    [
        (1, '{"file_name": "web/concert.jpg", "text": ["a"]', ValueError, "not valid JSON"),
        (1, '{"file_name": "web/concert.jpg", "text": ""}', ValueError, '"text" must be a'),
        (1, '{"file_name": "web/concert.jpg", "text": ["a", 2]}', ValueError, '"text" must be a'),
        (1, '{"image": "web/concert.jpg", "captions": ["a"]}', ValueError, '"file_name" must be'),
        (
            5,
            '{"file_name": "movies/gone.jpg", "text": "a"}',
            FileNotFoundError,
            "expected the image",
        ),
    ],
)
def test_a_bad_metadata_jsonl_line_is_named(tmp_path, line_number, line, error, message):
  manual_dir = write_fake_metadata(tmp_path / "manual")
  path = manual_dir / captions_file.METADATA_FILE
  lines = path.read_text().splitlines()
  lines[line_number - 1] = line
  path.write_text("\n".join(lines) + "\n")
  with pytest.raises(error, match=re.escape(f"{path}:{line_number}: ") + ".*" + re.escape(message)):
    _prepare(manual_dir, tmp_path / "tfds")


def test_both_captions_and_metadata_jsonl_is_refused_naming_both(tmp_path):
  manual_dir = write_fake_metadata(tmp_path / "manual")
  (manual_dir / captions_file.CAPTIONS_FILE).write_text('{"image": "web/concert.jpg"}\n')
  both = f"{manual_dir} holds both captions.jsonl and metadata.jsonl"
  with pytest.raises(errors.InputError, match=re.escape(both)):
    _prepare(manual_dir, tmp_path / "tfds")
  with pytest.raises(errors.InputError, match=re.escape(both)):
    captions_file.fingerprint(manual_dir)


def test_the_fingerprint_covers_metadata_jsonl_and_its_images(tmp_path):
  folder = write_fake_metadata(tmp_path / "imagefolder")
  path = folder / captions_file.METADATA_FILE
  first = captions_file.fingerprint(folder)
  assert first != captions_file.fingerprint(tmp_path / "empty")
  path.write_text(path.read_text().replace('"only one"', '"only two"'))
  second = captions_file.fingerprint(folder)
  assert second != first
  Image.new("RGB", (41, 40)).save(folder / "web" / "expo.png")
  assert captions_file.fingerprint(folder) != second
