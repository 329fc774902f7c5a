r"""GAN_SR3, the whole prompt → poster system: WGAN at 64×64, then SR3 64→128→256.

Three stages, each a full config of its own (configs/wgan.py and the two stages of
configs/sr3_cascade.py), trained one by one into WORKDIR/<stage>, after the Chinese student of
the text tower (docs/usage.md, "Chinese prompts"), which the first stage reads Chinese with:

  python -m posergen_jax.distil --config=configs/gan_sr3.py --out=runs/gan_sr3/zh_student
  python -m posergen_jax.main --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --config.stage=wgan \
      --config.stages.wgan.text.zh_student=runs/gan_sr3/zh_student/zh_student.npz
  python -m posergen_jax.main --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --config.stage=sr3_128
  python -m posergen_jax.main --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --config.stage=sr3_256

then turn prompts into posters (posergen_jax/generate.py):

  python -m posergen_jax.generate --config=configs/gan_sr3.py --workdir=runs/gan_sr3 \
      --config.stages.wgan.text.zh_student=runs/gan_sr3/zh_student/zh_student.npz \
      --prompt="A concert poster on a purple to navy gradient" --out=posters/

A stage's fields are overridden through its entry, e.g.
`--config.stages.wgan.train.num_steps=2000`; `--config.data.name=posters/256
--config.data.manual_dir=DIR` points every stage at your posters. `:quick` keeps the stage names
and runs 8→16→32 on the tiny dataset with a random tiny text tower, each stage in seconds.
"""

import ml_collections

from posergen_jax.config import stages
from posergen_jax.configs import common, sr3_cascade, wgan

SIZES = ("quick",)
VARIANTS = ()
STAGE_ORDER = ("wgan", "sr3_128", "sr3_256")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The GAN_SR3 config; `arg='quick'` gives the tiny CPU size."""
  size, _ = common.parse_arguments(
      arg, config_file="configs/gan_sr3.py", sizes=SIZES, variants=VARIANTS
  )
  cascade = sr3_cascade.get_config(size)
  config = ml_collections.ConfigDict()
  config.stage_order = STAGE_ORDER
  config.stage = "wgan"  # The stage --mode=train|eval runs; generate.py chains them all.
  stages.unset_shared_data(config)  # Each stage names its dataset; set, every stage's.
  config.stages = ml_collections.ConfigDict(
      {
          "wgan": stages.own_fields(wgan.get_config(size)),
          **{
              name: stages.own_fields(stages.stage_config(cascade, name))
              for name in cascade.stage_order
          },
      }
  )
  return config
