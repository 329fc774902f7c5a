r"""A trained poster pipeline → a folder that travels: EMA parameters, configs, model card.

  python -m posergen_jax.export --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --out=exported/gan_sr3 [--dtype=bfloat16]

`--config` is the staged config the workdir was trained with (same arguments and overrides).
Then, anywhere, with no dataset, training config or optimizer state:

  python -m posergen_jax.generate --pretrained=exported/gan_sr3 --prompt="..." --out=posters/
"""

import json
import os
import sys

from absl import app, flags
from etils import epath
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.evaluation import report  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.poster import pipeline, pretrained  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "The staged config (configs/gan_sr3.py[:arg]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "The trained workdir (one folder per stage).")
flags.DEFINE_string("out", None, "Folder to write the exported pipeline to.")
flags.DEFINE_enum(
    "dtype", "float32", pretrained.DTYPES, "Parameter dtype on disk (bfloat16: half the size)."
)
flags.DEFINE_string(
    "how_trained",
    None,
    "A Markdown file (the training commands, say) for the model card's 'How it was trained'.",
)
flags.DEFINE_bool("overwrite", False, "Replace an exported pipeline already in --out.")
cli.define_jax_flags()
flags.mark_flags_as_required(["config", "workdir", "out"])
cli.require_text("workdir", "out", "how_trained")


def _evaluations(workdir: str, names) -> dict[str, dict]:
  """Each stage's eval.json in the workdir, where it has one."""
  found = {}
  for name in names:
    path = epath.Path(stages.stage_workdir(workdir, name)) / report.REPORT_FILE
    if path.is_file():
      found[name] = json.loads(path.read_text())
  return found


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  cli.set_up_jax()
  out = epath.Path(FLAGS.out)
  try:
    registry.check_config(FLAGS.config, jax.device_count())
    if (out / pretrained.PIPELINE_FILE).exists() and not FLAGS.overwrite:
      raise errors.InputError(
          f"--out={out} already holds an exported pipeline; choose another --out or pass "
          "--overwrite."
      )
    how_trained = ""
    if FLAGS.how_trained:
      if not epath.Path(FLAGS.how_trained).is_file():
        raise errors.InputError(f"--how_trained={FLAGS.how_trained} is not a file.")
      how_trained = epath.Path(FLAGS.how_trained).read_text(encoding="utf-8")
    with pipeline.PosterPipeline(FLAGS.config, FLAGS.workdir) as posters:
      evals = _evaluations(FLAGS.workdir, posters.stage_names)
      pretrained.save(
          posters.stages,
          out,
          dtype=FLAGS.dtype,
          evals=evals,
          card=pretrained.model_card(posters.stages, evals, how_trained),
      )
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  folders = [out, *(out / name for name in posters.stage_names)]
  size = sum(f.stat().length for folder in folders for f in folder.iterdir() if f.is_file())
  print(f"Exported {' → '.join(posters.stage_names)} to {out} ({size / 2**20:.1f} MiB).")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
