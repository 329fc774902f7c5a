"""--mode=eval_system: a whole prompt → poster chain scored on test captions."""

import json

import pytest
import tensorflow_datasets as tfds

from posergen_jax import main
from posergen_jax.config import stages
from posergen_jax.configs import sr3_cascade
from posergen_jax.poster import eval_system


def test_test_captions_are_the_ones_each_stage_evaluates_on(gan_sr3_trained):
  config, _ = gan_sr3_trained
  first = stages.unlocked_copy(stages.stage_config(config, "wgan"))
  examples = list(
      tfds.as_numpy(
          tfds.builder(first.data.name, data_dir=first.data.data_dir).as_dataset(
              split="test[:4]", shuffle_files=False
          )
      )
  )
  assert eval_system.test_captions(first, 4) == [ex["captions"][0].decode() for ex in examples]
  first.text.language = "en"  # 5 Chinese captions come first.
  assert eval_system.test_captions(first, 4) == [ex["captions"][5].decode() for ex in examples]
  with pytest.raises(ValueError, match="has 16"):
    eval_system.test_captions(first, 17)


def test_eval_system_scores_the_final_posters(gan_sr3_trained):
  config, workdir = gan_sr3_trained
  config = stages.unlocked_copy(config)
  config.stages.sr3_256.evals.image_metrics = ("kid",)
  metrics = main.run_mode("eval_system", config, str(workdir))
  report = json.loads((workdir / "eval_system.json").read_text())
  assert report["metrics"] == pytest.approx(metrics)
  assert report["checkpoint_steps"] == {"wgan": 1, "sr3_128": 1, "sr3_256": 1}
  assert metrics["num_examples"] == 16 and metrics["kid"] > 0
  per_stage = [metrics[f"seconds_per_image_{name}"] for name in config.stage_order]
  assert all(s > 0 for s in per_stage)
  assert metrics["seconds_per_image"] == pytest.approx(sum(per_stage))
  assert (workdir / "eval_system.md").is_file()


def test_eval_system_needs_a_prompt_to_poster_config(tmp_path):
  with pytest.raises(stages.StageError, match="eval_system evaluates a staged prompt"):
    main.run_mode("eval_system", sr3_cascade.get_config("quick"), str(tmp_path))
