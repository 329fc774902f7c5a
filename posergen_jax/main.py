r"""Entry point: `python -m posergen_jax.main --config=configs/X.py --workdir=DIR [--mode=...]`.

Intentionally short: parse flags, set up JAX, hand over to the trainer.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.poster import eval_system, pipeline, stage_runs  # noqa: E402
from posergen_jax.training import trainer  # noqa: E402
from posergen_jax.training import workdir as workdir_lib  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py[:arg]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard events, samples and eval.json.")
flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval", "sample", "eval_system"],
    "train (then evaluate), eval or sample the newest checkpoint; eval_system: "
    "posters from test captions through every stage of a prompt → poster config, "
    "scored (FID/KID/IS, seconds per image).",
)
cli.define_jax_flags()
flags.mark_flags_as_required(["config", "workdir"])
cli.require_text("workdir")

MODES = {
    "train": trainer.train_and_evaluate,
    "eval": trainer.evaluate_checkpoint,
    "sample": trainer.sample_checkpoint,
}


def run_mode(mode: str, config, workdir: str):
  """Runs `mode` on `config`; a staged config runs its `config.stage` in `workdir/STAGE`.

  `--mode=sample` on a staged config chains every stage (the cascade) instead;
  `--mode=eval_system` evaluates a prompt → poster config's whole chain.
  """
  if mode == "eval_system":
    return eval_system.evaluate_system(config, workdir)
  if stages.is_staged(config):
    if mode == "sample":
      if stages.stage_config(config, config.stage_order[0]).family in pipeline.TEXT_TO_IMAGE:
        raise stages.StageError(
            "--mode=sample chains super-resolution stages only; this config starts from "
            "prompts: run python -m posergen_jax.generate with the same --config and --workdir."
        )
      return stage_runs.sample_cascade(config, workdir)
    config, workdir = (
        stages.stage_config(config, config.stage),
        str(stages.stage_workdir(workdir, config.stage)),
    )
  return MODES[mode](config, workdir, registry.get_family(config))


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  cli.set_up_jax()
  logging.info(
      "JAX process %d/%d, local devices %s",
      jax.process_index(),
      jax.process_count(),
      jax.local_devices(),
  )
  try:
    registry.check_config(FLAGS.config, jax.device_count())  # Before anything is written.
    workdir_lib.ensure_writable(FLAGS.workdir)
    run_mode(FLAGS.mode, FLAGS.config, FLAGS.workdir)
  except trainer.DiskFullError as e:
    # Orbax's failed writes leave threads and coroutines that print tracebacks at any moment
    # until the process ends; everything that could be saved is closed, so point stderr at
    # /dev/null for them, write this one line to the real stderr and skip the interpreter exit.
    sys.stdout.flush()
    sys.stderr.flush()
    real_stderr = os.dup(2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    os.write(real_stderr, f"error: {e}\n".encode())
    os._exit(1)
  except errors.UserError as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
