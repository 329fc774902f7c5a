"""R-precision: closed forms, and scoring a text-to-image family with a trained encoder."""

import copy
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from posergen_jax.configs import text_image_encoder as encoder_config_lib
from posergen_jax.configs import wgan as wgan_config
from posergen_jax.evaluation import r_precision
from posergen_jax.families import r_precision_scorer, registry
from posergen_jax.text import char_cnn_rnn
from posergen_jax.training import sharding, trainer

ENCODER_CONFIG = encoder_config_lib.__file__ + ":quick"


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_images_closest_to_their_own_captions_score_one():
  emb = _unit(np.random.default_rng(0).normal(size=(200, 16)))
  assert r_precision.r_precision(emb, emb) == 1.0


def test_images_closest_to_another_caption_score_zero():
  emb = _unit(np.random.default_rng(0).normal(size=(200, 16)))
  # Each image equals caption i+1's vector; with all 199 others as candidates, caption i+1 is
  # always among them and beats the image's own caption.
  assert r_precision.r_precision(emb, np.roll(emb, -1, axis=0), num_candidates=200) == 0.0


def test_unrelated_embeddings_score_chance():
  rng = np.random.default_rng(1)
  images, texts = (_unit(rng.normal(size=(4000, 32))) for _ in range(2))
  assert abs(r_precision.r_precision(images, texts, num_candidates=10) - 0.1) < 0.015


def test_ties_count_as_misses():
  emb = np.ones((50, 4)) / 2
  assert r_precision.r_precision(emb, emb, num_candidates=5) == 0.0


def test_more_candidates_than_captions_is_an_error():
  emb = np.eye(4)
  with pytest.raises(ValueError, match="needs at least 4 captions of other images"):
    r_precision.r_precision(emb, emb, num_candidates=5)


def test_captions_of_the_same_image_are_never_candidates():
  groups = np.repeat(np.arange(6), 5)  # 6 images, 5 captions each.
  others = r_precision.candidate_indices(groups, 26, np.random.default_rng(0))
  assert others.shape == (30, 25)
  assert not np.any(groups[others] == groups[:, None])
  assert all(len(set(row)) == 25 for row in others)
  with pytest.raises(ValueError, match="needs at least 26 captions of other images"):
    r_precision.candidate_indices(groups, 27, np.random.default_rng(0))


def test_an_image_is_not_penalised_for_matching_its_poster_s_other_captions():
  # 5 captions per image, each image's captions all equal to its own embedding: with the other
  # captions of the same image as candidates, ties would make every image miss.
  emb = _unit(np.random.default_rng(0).normal(size=(40, 16)))
  images, texts, groups = (
      np.repeat(emb, 5, axis=0),
      np.repeat(emb, 5, axis=0),
      np.repeat(np.arange(40), 5),
  )
  assert r_precision.r_precision(images, texts, num_candidates=20, groups=groups) == 1.0


def test_the_mean_over_draws_has_a_standard_error_over_captions():
  rng = np.random.default_rng(2)
  images, texts = (_unit(rng.normal(size=(640, 8))) for _ in range(2))
  groups = np.repeat(np.arange(128), 5)
  score, stderr = r_precision.r_precision_over_draws(images, texts, groups, 10, num_draws=5)
  # Unrelated embeddings: chance, 0.1, with the binomial error sqrt(0.1 * 0.9 / 640) / ~sqrt(5)
  # at most (draws average out part of it).
  assert abs(score - 0.1) < 0.04
  assert 0.003 < stderr < np.sqrt(0.09 / 640) + 1e-9
  perfect, zero = r_precision.r_precision_over_draws(images, images, groups, 10, num_draws=5)
  assert (perfect, zero) == (1.0, 0.0)


def test_the_accumulator_scores_real_images_as_the_ceiling():
  emb = _unit(np.random.default_rng(3).normal(size=(12, 8)))
  embed = lambda images, batch: (images, batch["text"])
  scorer = r_precision.RPrecision(embed, num_candidates=3, num_draws=2, real_key="real")
  noise = _unit(np.random.default_rng(4).normal(size=(12, 8)))
  for rows in (slice(0, 6), slice(6, 12)):
    groups = np.arange(12)[rows] // 2
    scorer.add(noise[rows], {"text": emb[rows], r_precision.GROUP_KEY: groups, "real": emb[rows]})
  result = scorer.result()
  assert result["r_precision_real"] == 1.0 and result["r_precision_real_stderr"] == 0.0
  assert result["r_precision_captions"] == 12 and result["r_precision_draws"] == 2
  assert result["r_precision_candidates"] == 3


@pytest.fixture(scope="module")
def trained(tiny_data_dir, tmp_path_factory):
  """A quick text-image encoder and a quick WGAN, trained on the tiny dataset."""
  workdir = tmp_path_factory.mktemp("r_precision")
  encoder_config = encoder_config_lib.get_config("quick")
  encoder_config.data.data_dir = tiny_data_dir
  encoder_config.evals.after_train = False
  trainer.train_and_evaluate(
      encoder_config, str(workdir / "encoder"), registry.get_family(encoder_config)
  )
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.text.language = "en"  # Prompts in the language the encoder reads.
  config.evals.after_train = False
  trainer.train_and_evaluate(config, str(workdir / "wgan"), registry.get_family(config))
  config.evals.r_precision.encoder_workdir = str(workdir / "encoder")
  config.evals.r_precision.encoder_config = ENCODER_CONFIG
  return config, workdir


def test_eval_reports_r_precision_of_the_generated_images(trained):
  config, workdir = trained
  trainer.evaluate_checkpoint(config, str(workdir / "wgan"), registry.get_family(config))
  metrics = json.loads((workdir / "wgan" / "eval.json").read_text())["metrics"]
  # 16 evaluated captions: every other one is a candidate.
  assert metrics["r_precision_candidates"] == 16
  assert 0.0 <= metrics["r_precision"] <= 1.0
  assert {"psnr", "ssim"} <= set(metrics)


@pytest.mark.parametrize("text_language, language", [("en", None), ("any", "en")])
def test_encoder_reads_the_caption_the_image_was_generated_from(
    trained, tiny_data_dir, text_language, language
):
  """The encoder reads English: with no r_precision.language, the first English caption, the one
  an English-prompted WGAN generates from; with r_precision.language=en, the first English
  caption of the poster, whatever the WGAN was prompted with."""
  config, _ = trained
  config = copy.deepcopy(config)
  config.text.language = text_language
  config.evals.r_precision.language = language
  scoring = r_precision_scorer.make_scoring(
      config, sharding.make_shardings(sharding.make_mesh((("data", -1),))).replicated
  )
  example = next(
      iter(tfds.builder(config.data.name, data_dir=tiny_data_dir).as_dataset(split="test"))
  )
  features = scoring.preprocess(example, tf.constant([0, 0], tf.int64))
  captions = [c.decode() for c in example["captions"].numpy()]
  expected = captions[len(captions) // 2]  # The second half of a poster's captions is English.
  np.testing.assert_array_equal(
      features["r_precision_ids"], char_cnn_rnn.encode_chars([expected], 201)[0]
  )


def test_missing_encoder_checkpoint_names_the_folder(tmp_path):
  config = wgan_config.get_config("quick")
  config.text.language = "en"  # What the encoder reads.
  config.evals.r_precision.encoder_workdir = str(tmp_path / "nothing")
  config.evals.r_precision.encoder_config = ENCODER_CONFIG
  with pytest.raises(FileNotFoundError, match="nothing/checkpoints"):
    r_precision_scorer.make_scoring(config, None)


@pytest.mark.parametrize(
    "encoder_config, error, match",
    [
        ("configs/no_such.py", FileNotFoundError, "encoder_config='configs/no_such.py'"),
        (wgan_config.__file__ + ":quick", ValueError, "not a text_image_encoder"),
    ],
)
def test_bad_encoder_config_is_named(encoder_config, error, match, tmp_path):
  config = wgan_config.get_config("quick")
  config.evals.r_precision.encoder_workdir = str(tmp_path)
  config.evals.r_precision.encoder_config = encoder_config
  with pytest.raises(error, match=match):
    r_precision_scorer.make_scoring(config, None)


def test_captions_the_encoder_cannot_read_are_refused_naming_the_fix(tmp_path):
  """The full encoder config reads English; the WGAN's default evaluates each poster's first
  caption, a Chinese one, which an English encoder would score as ties (R-precision 0)."""
  config = wgan_config.get_config("quick")
  config.evals.r_precision.encoder_workdir = str(tmp_path)
  config.evals.r_precision.encoder_config = encoder_config_lib.__file__
  with pytest.raises(ValueError, match="reads 'en' captions.*r_precision.language=en"):
    r_precision_scorer.make_scoring(config, None)
