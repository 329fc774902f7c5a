r"""SR3 cascade 64→128→256 on the built-in `synthetic_posters` data: two stages, trained one by one.

Train each stage (each in its own folder, WORKDIR/<stage>), then chain them:

  python -m posergen_jax.main --config=configs/sr3_cascade.py --workdir=runs/cascade \
      --config.stage=sr3_128
  python -m posergen_jax.main --config=configs/sr3_cascade.py --workdir=runs/cascade \
      --config.stage=sr3_256
  python -m posergen_jax.main --config=configs/sr3_cascade.py --workdir=runs/cascade --mode=sample

`--mode=sample` feeds 64×64 test images through sr3_128 then sr3_256 and writes
runs/cascade/samples/cascade.png and runs/cascade/cascade.json. The second stage trains with
noise-conditioning augmentation, so at sampling time it copes with the first stage's errors.
`:quick` keeps the stage names but runs 8→16→32 on the tiny dataset. Every field of
configs/sr3.py applies to all stages unless the stage's entry below sets it.
"""

import ml_collections

from posergen_jax.config import stages
from posergen_jax.configs import common, sr3

SIZES = ("quick",)
VARIANTS = ()


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The cascade config; `arg='quick'` gives the tiny CPU size."""
  size, _ = common.parse_arguments(
      arg, config_file="configs/sr3_cascade.py", sizes=SIZES, variants=VARIANTS
  )
  config = sr3.get_config(size)
  config.stage_order = ("sr3_128", "sr3_256")
  config.stage = "sr3_128"  # The stage --mode=train|eval runs; --mode=sample chains them all.
  stages.unset_shared_data(config)  # Each stage names its dataset; set, every stage's.
  # The stages upsample posters (real ones, or the first stage's), and their figures in
  # docs/results.md were measured on posters alone; configs/sr3.py mixes in dead leaves for photos.
  config.data.dead_leaves = 0.0
  quick = size == "quick"
  if not quick:  # A 128² or 256² step costs many 64² ones: the stages keep 300 steps each.
    config.train.num_steps = 300
  config.stages = ml_collections.ConfigDict(
      {
          "sr3_128": dict(
              data=dict(
                  name="synthetic_posters/tiny" if quick else "synthetic_posters/128",
                  hr_size=16 if quick else 128,
                  lr_size=8 if quick else 64,
              ),
              model=dict(
                  ch_mult=(1, 2) if quick else (1, 2, 2, 2, 4),
                  attn_resolutions=() if quick else (16,),
              ),
          ),
          "sr3_256": dict(
              data=dict(
                  name="synthetic_posters/tiny" if quick else "synthetic_posters/256",
                  hr_size=32 if quick else 256,
                  lr_size=16 if quick else 128,
              ),
              model=dict(
                  ch_mult=(1, 2) if quick else (1, 1, 2, 2, 2, 4),
                  attn_resolutions=() if quick else (16,),
              ),
              # Noise-conditioning augmentation: its input at sampling time is stage 1's output.
              diffusion=dict(cond_aug=dict(max_level=0.2, sample_level=0.05)),
              train=dict(batch_size=8),
          ),
      }
  )
  return config
