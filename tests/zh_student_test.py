"""The Chinese text student: features, fit, retrieval, files, and routing prompts by script."""

import logging

import numpy as np
import pytest

from posergen_jax.configs import wgan as wgan_config
from posergen_jax.io import errors
from posergen_jax.poster import pipeline, pretrained, stage_runs
from posergen_jax.text import conditioning, embedding_cache, frozen_tower, zh_student


def test_script_detection_and_ngrams():
  assert zh_student.has_cjk("一张生日海报") and zh_student.has_cjk("A 海报")
  assert not zh_student.has_cjk("A birthday poster, 100% fun!")
  assert zh_student.ngrams("生日 海Ab") == ["生", "日", "海", "a", "b", "生日", "日海", "海a", "ab"]


def test_features_weigh_repeats_and_are_unit_rows():
  student = zh_student.CharNgramStudent(("海", "报", "海报"), np.zeros((3, 2)), np.zeros(2))
  features = student.features(["海报海", "猫"])
  expected = np.array([1 + np.log(2), 1, 1]) / np.linalg.norm([1 + np.log(2), 1, 1])
  np.testing.assert_allclose(features[0], expected, rtol=1e-6)
  np.testing.assert_array_equal(features[1], 0)  # Nothing known: the zero vector (the bias).


def test_fit_recovers_a_linear_map_of_the_features():
  rng = np.random.default_rng(0)
  alphabet = "红橙黄绿蓝紫黑白海报音乐会议旅行婚礼"
  texts = ["".join(rng.choice(list(alphabet), size=8)) for _ in range(400)]
  vocabulary = zh_student.build_vocabulary(texts, min_count=2)
  truth = rng.normal(size=(len(vocabulary), 6))
  index = {gram: i for i, gram in enumerate(vocabulary)}
  targets = zh_student.bag_of_ngrams(texts, index) @ truth + 0.5
  student = zh_student.fit(texts, targets, l2=1e-6, min_count=2)
  assert student.vocabulary == vocabulary
  np.testing.assert_allclose(student.encode(texts), targets, atol=1e-3)
  new = ["".join(rng.choice(list(alphabet), size=8)) for _ in range(20)]
  np.testing.assert_allclose(
      student.encode(new), zh_student.bag_of_ngrams(new, index) @ truth + 0.5, atol=1e-2
  )


def test_parallel_retrieval_counts_the_own_caption_first():
  teacher = np.eye(4)
  assert zh_student.parallel_retrieval(teacher, teacher) == {"top1": 1.0, "cosine": 1.0}
  swapped = zh_student.parallel_retrieval(teacher[[1, 0, 2, 3]], teacher)
  assert swapped["top1"] == 0.5 and swapped["cosine"] == 0.5


def test_save_load_round_trip_and_errors(tmp_path):
  student = zh_student.fit(["红色海报", "蓝色海报", "红色音乐"], np.eye(3, 4), min_count=1)
  student.save(tmp_path / "s.npz")
  loaded = zh_student.CharNgramStudent.load(tmp_path / "s.npz")
  assert loaded.vocabulary == student.vocabulary
  np.testing.assert_array_equal(loaded.encode(["红色"]), student.encode(["红色"]))
  with pytest.raises(errors.MissingFileError, match="nothing.npz"):
    zh_student.CharNgramStudent.load(tmp_path / "nothing.npz")
  (tmp_path / "bad.npz").write_bytes(b"not a student")
  with pytest.raises(errors.InputError, match="bad.npz is not a Chinese text student"):
    zh_student.CharNgramStudent.load(tmp_path / "bad.npz")


def test_unseen_characters_are_named_in_order():
  student = zh_student.fit(["红色海报", "蓝色海报"], np.eye(2, 3), min_count=1)
  assert student.unseen_characters("一张红色圆形的海报") == ["一", "张", "圆", "形", "的"]
  assert student.unseen_characters("red poster") == []


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
  """A random tiny tower with a student whose outputs are easy to tell apart (all +1)."""
  path = tmp_path_factory.mktemp("student") / "zh_student.npz"
  config = wgan_config.get_config("quick").text
  dim = frozen_tower.FrozenTower.load(config).encode_prompts(["x"]).shape[-1]
  zh_student.fit(["红色海报", "蓝色海报"], np.ones((2, dim)), min_count=1).save(path)
  config.zh_student = str(path)
  return frozen_tower.FrozenTower.load(config), frozen_tower.FrozenTower.load(
      wgan_config.get_config("quick").text
  )


def test_prompts_are_read_by_script(routed, caplog):
  with_student, tower_only = routed
  prompts = ["a red poster", "红色海报", "一张蓝色圆形海报"]
  with caplog.at_level(logging.WARNING):
    vectors = np.asarray(with_student.encode_prompts(prompts))
    with_student.encode_prompts(prompts)  # The same prompts again: no second warning.
  np.testing.assert_allclose(
      vectors[0], np.asarray(tower_only.encode_prompts(prompts[:1]))[0], atol=1e-5
  )
  np.testing.assert_allclose(vectors[1:], 1.0, atol=1e-5)
  warnings = [r.getMessage() for r in caplog.records if "never saw" in r.getMessage()]
  assert warnings == [
      "Prompt '一张蓝色圆形海报': the Chinese text student never saw 一 张 圆 形 in training; "
      "they carry no meaning for this model."
  ]


def test_cache_rows_of_chinese_captions_come_from_the_student(routed):
  with_student, _ = routed
  embeddings = np.zeros((2, 2, with_student.student.dim), np.float32)
  captions = [["红色海报", "a red poster"], ["蓝色", "blue"]]
  out = embedding_cache.with_student_rows(embeddings, captions, with_student.student)
  np.testing.assert_allclose(out[:, 0], 1.0, atol=1e-5)
  np.testing.assert_array_equal(out[:, 1], 0.0)
  np.testing.assert_array_equal(embeddings, 0.0)  # The input is left as it was.


def test_the_student_reads_chinese_training_captions_only_from_the_cache():
  config = wgan_config.get_config("quick")
  config.text.zh_student = "student.npz"
  config.text.source = "encoder"
  with pytest.raises(errors.ConfigError, match="text.source='cache'"):
    conditioning.make_text_conditioning(config.text, data=config.data)


def test_an_export_carries_the_student_and_reads_prompts_with_it(routed, tmp_path):
  """A first stage with text.source='cache': the export copies the student beside the stage,
  and the exported pipeline's prompt reader sends a Chinese prompt through it."""
  with_student, _ = routed
  config = wgan_config.get_config("quick")
  config.text.update(source="cache", zh_student=str(tmp_path / "trained" / "zh_student.npz"))
  with_student.student.save(tmp_path / "trained" / "zh_student.npz")
  with config.unlocked():
    config.stage = "wgan"
  stage = stage_runs.SamplingStage(config, None, None, {"w": np.zeros(2)}, None, 1)
  exported = tmp_path / "exported"
  pretrained.save([stage], exported, card="card")
  (tmp_path / "trained" / "zh_student.npz").unlink()  # The export no longer needs it.
  loaded = pretrained.stage_config(exported, "wgan")
  assert loaded.text.zh_student == str(exported / "wgan" / pretrained.STUDENT_FILE)
  read = pipeline.pretrained_prompt_tokenizer(str(exported))(["红色海报", "a red poster"])
  np.testing.assert_allclose(read[conditioning.EMBEDDING_KEY][0], 1.0, atol=1e-5)
  assert not np.allclose(read[conditioning.EMBEDDING_KEY][1], 1.0)
