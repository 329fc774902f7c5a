r"""Prompts → poster PNGs with a JSON sidecar each, from a trained GAN_SR3 workdir or an
exported pipeline.

  python -m posergen_jax.generate --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --prompt="一张音乐会海报，背景是紫色到藏青色的渐变" \
      --prompt="A concert poster on a purple to navy gradient" \
      --out=posters/ [--prompts_file=F] [--sampler=ddim --steps=50] [--seed=0] \
      [--title="夏日音乐节" --subtitle="Summer Music Festival"]
  python -m posergen_jax.generate --pretrained=exported/gan_sr3 --prompt=... --out=posters/

`--config` is the staged config the workdir was trained with (same arguments and overrides);
`--pretrained` is a folder written by python -m posergen_jax.export (the same posters).
Writes OUT/0000.png, OUT/0000.json (prompt, seed, sampler and steps, checkpoint steps, seconds
per poster per stage), ... in prompt order, batch by batch, and OUT/generate.json with the
seconds per poster per stage. The same prompts, seed and batch size give the same posters.
"""

import os
import sys

from absl import app, flags, logging
from etils import epath
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.diffusion import samplers  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.poster import outputs, pipeline  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "The staged config (configs/gan_sr3.py[:arg]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "The trained workdir (one folder per stage).")
flags.DEFINE_string(
    "pretrained",
    None,
    "An exported pipeline (python -m posergen_jax.export), instead of --config and --workdir.",
)
flags.DEFINE_multi_string("prompt", [], "A prompt (Chinese or English); repeatable.")
flags.DEFINE_string("prompts_file", None, "A UTF-8 text file, one prompt per line.")
flags.DEFINE_string("out", None, "Folder for the PNGs and JSON sidecars.")
flags.DEFINE_enum(
    "sampler",
    None,
    list(samplers.SAMPLERS),
    "Super-resolution sampler; default: each stage's config.",
)
flags.DEFINE_integer(
    "steps", None, "Super-resolution sampling steps; default: each stage's.", lower_bound=1
)
flags.DEFINE_integer(
    "seed",
    0,
    "Random seed; batch i uses fold_in(key(seed), i).",
    lower_bound=0,
    upper_bound=2**32 - 1,
)
flags.DEFINE_integer(
    "batch_size",
    8,
    "Prompts per batch, at most the number of prompts, "
    "rounded up to a multiple of the devices (the last batch is padded).",
    lower_bound=1,
)
flags.DEFINE_string("title", None, "A title set over every poster (Chinese or English).")
flags.DEFINE_string("subtitle", None, "A smaller line under the title.")
flags.DEFINE_string("font", None, "Font file for the title; default Noto Sans CJK.")
flags.DEFINE_bool("overwrite", False, "Replace posters already in --out.")
cli.define_jax_flags()
flags.mark_flags_as_required(["out"])
cli.require_text("workdir", "out", "pretrained")
flags.register_multi_flags_validator(
    ["config", "workdir", "pretrained"],
    lambda values: (values["pretrained"] is None)
    == (values["config"] is not None and values["workdir"] is not None),
    "pass --pretrained=DIR, or --config and --workdir (not both)",
)


def _source():
  """(prompts -> tokens, which raises InputError on a bad prompt; () -> the open pipeline)
  of --pretrained, or of --config and --workdir."""
  if FLAGS.pretrained:
    return (
        pipeline.pretrained_prompt_tokenizer(FLAGS.pretrained),
        lambda: pipeline.PosterPipeline.from_pretrained(
            FLAGS.pretrained, FLAGS.sampler, FLAGS.steps
        ),
    )
  config = pipeline.with_sampling(FLAGS.config, FLAGS.sampler, FLAGS.steps)
  registry.check_config(config, jax.device_count())
  return pipeline.prompt_tokenizer(config), lambda: pipeline.PosterPipeline(config, FLAGS.workdir)


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  cli.set_up_jax()
  try:
    prompts = outputs.read_prompts(FLAGS.prompt, FLAGS.prompts_file)
    outputs.check_title(FLAGS.title, FLAGS.font)
    tokenize, open_pipeline = _source()
    tokenize(prompts)  # Bad prompts fail before any model loads.
    out = epath.Path(FLAGS.out)
    outputs.check_out_dir(out, len(prompts), FLAGS.overwrite)
    with open_pipeline() as posters:
      summary = outputs.write_posters(
          posters,
          prompts,
          out,
          seed=FLAGS.seed,
          batch_size=FLAGS.batch_size,
          title=FLAGS.title,
          subtitle=FLAGS.subtitle,
          font=FLAGS.font,
      )
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  logging.info("Wrote %d posters to %s: %s", len(prompts), out, summary)
  print(
      f"Wrote {len(prompts)} posters ({summary['size']}x{summary['size']}) to {out}; seconds "
      f"per image: {summary['seconds_per_image']}"
  )


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
