"""Tests for the synthetic_posters TFDS builder, its renderer and its captions."""

import pathlib
import re

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from posergen_jax.data import synthetic_posters
from posergen_jax.data.synthetic_posters import captions, catalog, motifs, pictures, render
from posergen_jax.io import fonts

_CJK = re.compile("[\u4e00-\u9fff]")
_TINY_SPLITS = {"train": 64, "test": 16}


class SyntheticPostersBuilderTest(tfds.testing.DatasetBuilderTestCase):
  """TFDS's own builder checks (registration, specs, counts, split overlap) on `tiny`."""

  DATASET_CLASS = synthetic_posters.SyntheticPosters
  BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
  SPLITS = _TINY_SPLITS
  # The builder downloads nothing; the test case only needs this folder to exist.
  EXAMPLE_DIR = str(pathlib.Path(__file__).parent)


def _build_tiny(data_dir) -> dict[str, dict[str, dict]]:
  """Builds the `tiny` config; returns {split: {id: numpy example}}."""
  builder = tfds.builder("synthetic_posters/tiny", data_dir=data_dir)
  builder.download_and_prepare()
  return {
      split: {ex["id"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}
      for split in _TINY_SPLITS
  }


@pytest.fixture(scope="module")
def tiny(tiny_data_dir):  # tiny_data_dir (conftest.py) already holds the built `tiny` config.
  return _build_tiny(tiny_data_dir)


def test_tiny_build_has_declared_features(tiny):
  for split, count in _TINY_SPLITS.items():
    assert len(tiny[split]) == count
    for ex in tiny[split].values():
      assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
      assert 0 <= ex["label"] < len(synthetic_posters.POSTER_TYPES)
      texts = [c.decode() for c in ex["captions"]]
      assert len(texts) == 10
      assert all(_CJK.search(t) for t in texts[:5])
      assert all(t.isascii() for t in texts[5:])
      kind = catalog.TYPES[ex["label"]]
      title = ex["title"].decode()
      assert all(kind.zh_phrase in t for t in texts[:5])
      assert all(kind.en_phrase in t and title in t for t in texts[5:])
  assert not set(tiny["train"]) & set(tiny["test"])


def test_tiny_builds_are_byte_identical(tiny, tmp_path):
  again = _build_tiny(tmp_path)
  for split in _TINY_SPLITS:
    assert again[split].keys() == tiny[split].keys()
    for key, ex in tiny[split].items():
      assert again[split][key]["image"].tobytes() == ex["image"].tobytes()
      assert list(again[split][key]["captions"]) == list(ex["captions"])


def test_class_label_names_are_the_poster_types(tmp_path):
  builder = synthetic_posters.SyntheticPosters(config="tiny", data_dir=tmp_path)
  assert builder.info.features["label"].names == list(synthetic_posters.POSTER_TYPES)
  assert synthetic_posters.POSTER_TYPES[0] == "concert"
  assert synthetic_posters.POSTER_TYPES[-1] == "academic_poster"
  assert len(synthetic_posters.POSTER_TYPES) == 20


@pytest.mark.parametrize("size", [32, 64, 128])
def test_render_shape_dtype_and_not_flat(size):
  image, description = render.render_poster(seed=7, size=size)
  assert image.shape == (size, size, 3) and image.dtype == np.uint8
  assert image.std() > 20
  assert description["type"] == synthetic_posters.POSTER_TYPES[description["label"]]


def test_render_is_a_pure_function_of_seed():
  first, description = render.render_poster(seed=3, size=32)
  second, _ = render.render_poster(seed=3, size=32)
  other, _ = render.render_poster(seed=4, size=32)
  np.testing.assert_array_equal(first, second)
  assert np.abs(first.astype(int) - other).mean() > 5
  assert render.render_poster(seed=3, size=64)[1] == description  # Same poster at every size.


@pytest.mark.parametrize("seed", range(0, 40, 7))
def test_title_band_holds_text_pixels(seed):
  image, description = render.render_poster(seed=seed, size=128)
  x0, y0, x1, y1 = (round(v * 128) for v in description["title_box"])
  band = image[y0:y1, x0:x1].astype(int)
  text_rgb = np.array(catalog.COLORS[description["colors"]["text"]].rgb)
  near_text = np.abs(band - text_rgb).max(axis=-1) < 40
  assert near_text.mean() > 0.03


@pytest.mark.parametrize("box_height", [1, 2, 3, 5, 12])
def test_long_text_shrinks_to_fit_tiny_boxes(box_height):
  canvas = Image.new("RGB", (80, 40), "black")
  box = (10, 10, 70, 10 + box_height)
  size = render.draw_fitted_text(
      canvas, "International Conference on 机器学习 " * 3, box, (255, 255, 255), bold=True
  )
  assert 1 <= size <= box_height
  ink = np.argwhere(np.asarray(canvas).max(axis=-1) > 0)
  if ink.size:
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)
    assert box[0] <= left and right < box[2] and box[1] <= top and bottom < box[3]


def test_missing_font_names_the_package(monkeypatch):
  monkeypatch.setattr(fonts, "_packaged_font_path", lambda: None)
  monkeypatch.setattr(fonts, "_DEBIAN_FONT", pathlib.Path("/nonexistent/font.ttc"))
  fonts.cjk_font_file.cache_clear()
  try:
    with pytest.raises(FileNotFoundError, match="noto-cjk-sans-otc"):
      fonts.cjk_font_file()
  finally:
    fonts.cjk_font_file.cache_clear()


def test_catalog_is_consistent_with_painters():
  assert set(motifs.PAINTERS) == set(catalog.MOTIFS)
  assert set(pictures.PAINTERS) == set(catalog.PICTURES)
  for kind in catalog.TYPES:
    assert all(c in catalog.COLORS for palette in kind.palettes for c in palette)
    assert set(kind.layouts) <= set(render.LAYOUT_BOXES)
    assert set(kind.motifs) <= set(catalog.MOTIFS)
    assert set(kind.pictures) <= set(catalog.PICTURES)


def test_captions_name_colours_layout_and_picture():
  description = render.describe_poster(seed=11)
  texts = captions.make_captions(description)
  colors = description["colors"]
  assert catalog.COLORS[colors["background"]].en in texts[5]
  assert catalog.COLORS[colors["background"]].zh in texts[0]
  assert catalog.LAYOUTS[description["layout"]][0] in texts[6]
  assert catalog.PICTURES[description["picture"]][0] in texts[7]
  assert description["title_zh"] in texts[4] and description["title_en"] in texts[4]
