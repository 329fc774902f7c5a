r"""The seed's DDPM baseline: a text-conditioned DDPM at 64×64, then the same SR3 64→128→256
cascade as GAN_SR3 (configs/gan_sr3.py), so the two systems differ only in their first stage.

  python -m posergen_jax.main --config=configs/ddpm_baseline.py --workdir=runs/ddpm_baseline \
      --config.stage=text_ddpm          # then sr3_128 and sr3_256, as for gan_sr3
  python -m posergen_jax.generate --config=configs/ddpm_baseline.py --workdir=runs/ddpm_baseline \
      --prompt="A minimalist poster of a red circle" --out=posters/

The SR stages are GAN_SR3's: train them once and copy or link `runs/gan_sr3/sr3_128` and
`sr3_256` into this workdir. `:cfg` turns on classifier-free guidance; `:quick` runs 8→16→32 on
the tiny dataset.
"""

import ml_collections

from posergen_jax.config import stages
from posergen_jax.configs import common, gan_sr3, text_ddpm

SIZES = text_ddpm.SIZES
VARIANTS = text_ddpm.VARIANTS  # The first stage's; the SR stages take only the size.
STAGE_ORDER = ("text_ddpm", "sr3_128", "sr3_256")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The DDPM baseline config; `arg` is '[quick][,cfg]'."""
  size, _ = common.parse_arguments(
      arg, config_file="configs/ddpm_baseline.py", sizes=SIZES, variants=VARIANTS
  )
  first = text_ddpm.get_config(arg)
  chain = gan_sr3.get_config(size)
  config = ml_collections.ConfigDict()
  config.stage_order = STAGE_ORDER
  config.stage = "text_ddpm"  # The stage --mode=train|eval runs; generate.py chains them all.
  stages.unset_shared_data(config)  # Each stage names its dataset; set, every stage's.
  config.stages = ml_collections.ConfigDict(
      {
          "text_ddpm": stages.own_fields(first),
          **{name: chain.stages[name] for name in STAGE_ORDER[1:]},
      }
  )
  return config
