r"""Distils the Chinese text student onto the English tower's space from a bilingual dataset.

  python -m posergen_jax.distil --config=configs/wgan.py --out=runs/zh_student

`--config` is a text-to-image config whose `data` is a dataset with captions in both halves
(Chinese then English, as synthetic_posters) and whose `text` is the frozen tower (the teacher).
The teacher's vectors of every caption come from the caption embedding cache beside the dataset
(built here the first time, then shared with training's `text.source='cache'`). Caption k of
a poster in Chinese is fitted onto the teacher's vector of caption k in English
(text/zh_student.py). Writes OUT/zh_student.npz, to pass as `--config.text.zh_student`, and
OUT/eval.json: on the test split, how often a Chinese caption's vector finds its parallel
English caption (top-1 among all of them) and their mean cosine.
"""

import json
import os
import sys
import time

from absl import app, flags, logging
from etils import epath
from ml_collections import config_flags
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.text import caption_inputs, embedding_cache, frozen_tower, zh_student  # noqa: E402

STUDENT_FILE = "zh_student.npz"
REPORT_FILE = "eval.json"

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "A text-to-image config (configs/wgan.py[:arg]).", lock_config=True
)
flags.DEFINE_string("out", None, "Folder to write zh_student.npz and eval.json to.")
flags.DEFINE_float("l2", 1e-2, "Ridge penalty on the student's weights.", lower_bound=0.0)
flags.DEFINE_integer("min_count", 2, "Fewest occurrences of an n-gram it reads.", lower_bound=1)
cli.define_jax_flags()
flags.mark_flags_as_required(["config", "out"])
cli.require_text("out")


def parallel_pairs(
    embeddings: np.ndarray, captions: list[list[str]]
) -> tuple[list[str], np.ndarray]:
  """(Chinese captions, float32 [P, E] teacher vectors of their parallel English captions).

  Args:
    embeddings: [N, C, E], the teacher's vectors of every caption (C even: Chinese, then English).
    captions: N lists of C captions.
  """
  num_captions = embeddings.shape[1]
  _, parts = caption_inputs.LANGUAGES["zh"]
  if num_captions % parts:
    raise errors.ConfigError(
        f"Distillation needs captions in Chinese then English halves; the dataset has "
        f"{num_captions} per example."
    )
  half = num_captions // parts
  texts = [row[k] for row in captions for k in range(half)]
  return texts, embeddings[:, half:].reshape(-1, embeddings.shape[-1])


def _split_pairs(config, split: str, teacher: frozen_tower.FrozenTower):
  _, embeddings, captions = embedding_cache.load_with_captions(
      config.data, split, config.text, teacher
  )
  return parallel_pairs(embeddings, captions)


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  cli.set_up_jax()
  config = FLAGS.config
  try:
    if stages.is_staged(config):
      config = stages.stage_config(config, config.stage_order[0])
    if "text" not in config or "weights" not in config.text:
      raise errors.ConfigError(f"--config (family {config.get('family')!r}) has no text tower.")
    out = epath.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    teacher = frozen_tower.FrozenTower.load(config.text)
    train_texts, train_targets = _split_pairs(config, config.data.train_split, teacher)
    test_texts, test_targets = _split_pairs(config, config.data.eval_split, teacher)
    teacher_seconds = time.perf_counter() - start
    student = zh_student.fit(train_texts, train_targets, l2=FLAGS.l2, min_count=FLAGS.min_count)
    fit_seconds = time.perf_counter() - start - teacher_seconds
    student.save(out / STUDENT_FILE)
    report = {
        "test": zh_student.parallel_retrieval(student.encode(test_texts), test_targets),
        "train": zh_student.parallel_retrieval(student.encode(train_texts), train_targets),
        "test_pairs": len(test_texts),
        "train_pairs": len(train_texts),
        "vocabulary": len(student.vocabulary),
        "teacher_seconds": round(teacher_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2))
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  logging.info("Chinese text student: %s", report)
  print(
      f"Wrote {out / STUDENT_FILE}: {report['vocabulary']} n-grams; test zh->en top-1 "
      f"{report['test']['top1']:.3f} over {len(test_texts)} pairs, cosine "
      f"{report['test']['cosine']:.3f}"
  )


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
