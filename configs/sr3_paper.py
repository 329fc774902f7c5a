r"""SR3 cascade at paper scale: 64→128→256→512 on the `posters` dataset, for TPU pods / GPU boxes.

Same stages and commands as configs/sr3_cascade.py, plus a third stage `sr3_512`:

  python -m posergen_jax.main --config=configs/sr3_paper.py --workdir=gs://BUCKET/sr3 \
      --config.stage=sr3_128     # then sr3_256, sr3_512; then --mode=sample chains all three

Only scale differs from configs/sr3_cascade.py (as flax's `tpu.py` differs from `default.py`).
The U-Nets follow the SR3 paper's 64→256 model (Saharia et al. 2021, appendix): base width 128,
BigGAN residual blocks changing resolution, residual sums scaled by 1/sqrt(2), 3 residual blocks
per level, self-attention at 16×16, channel multipliers (1, 2, 4, 4, 8, 8) from 256×256 down to
8×8 ((1, 2, 4, 8, 8) at 128, (1, 1, 2, 4, 4, 8, 8) at 512); Adam at 1e-4 with 10k warm-up
steps, batch 256, 1M steps, EMA 0.9999, T = 2000 linear 1e-6→1e-2 for training and 100 sampling
steps; bfloat16 compute with float32 parameters. Memory: FSDP, block remat and per-stage
microbatches (2 / 4 / 4) by default, with which every stage fits a v5e-8 chip's memory and
without which sr3_256 does not (`python -m posergen_jax.aot --config=configs/sr3_paper.py
--stage=sr3_256 --topology=v5e:2x4`; docs/results.md, section "TPU fit"); the microbatch counts
also divide the batches over 16 chips. Parameters (from this code): sr3_128 574.8M,
sr3_256 633.6M, sr3_512 638.2M (the paper lists 625M for its 64→256 model; it does not give every
layer detail, e.g. the conditioning MLP). Needs the `posters` dataset built at 256 and 512
(docs/usage.md, Datasets).
"""

import ml_collections

from posergen_jax.configs import common, sr3_cascade

SIZES = ("quick",)
VARIANTS = ()


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The paper-scale cascade; `arg="quick"` gives a tiny 4→8→16→32 cascade (tests)."""
  size, _ = common.parse_arguments(
      arg, config_file="configs/sr3_paper.py", sizes=SIZES, variants=VARIANTS
  )
  config = sr3_cascade.get_config(size)
  if size == "quick":  # 4→8→16→32 on the tiny dataset: the tiny cascade, one stage longer.
    config.stages.sr3_128.data.update(hr_size=8, lr_size=4)
    config.stages.sr3_256.data.update(hr_size=16, lr_size=8)
    config.stage_order = (*config.stage_order, "sr3_512")
    config.stages.sr3_512 = ml_collections.ConfigDict(
        dict(data=dict(name="synthetic_posters/tiny", hr_size=32, lr_size=16))
    )
    return config

  config.model.update(
      ch=128,
      num_res_blocks=3,
      attn_resolutions=(16,),
      dropout=0.0,
      num_groups=32,
      resblock_updown=True,
      skip_rescale=True,
      dtype="bfloat16",
      remat="block",  # Keep each residual block's inputs only; recompute the rest.
  )
  # Parameters, Adam moments and the EMA copy split over the data axis (FSDP).
  config.fsdp = True
  config.diffusion.sample_schedule.num_steps = 100
  config.train.update(batch_size=256, num_steps=1_000_000, log_every=1000, sample_every=20_000)
  config.optimizer.update(learning_rate=1e-4, warmup_steps=10_000)
  config.ema.decay = 0.9999
  config.ckpt.update(every=5000, max_to_keep=5)
  config.evals.update(num_examples=1024, batch_size=256, grid_size=16, image_metrics=("fid", "kid"))
  config.data.shuffle_buffer = 50_000

  config.stage_order = ("sr3_128", "sr3_256", "sr3_512")
  config.stages = ml_collections.ConfigDict(
      {
          "sr3_128": dict(
              data=dict(name="posters/256", hr_size=128, lr_size=64),
              model=dict(ch_mult=(1, 2, 4, 8, 8)),
              train=dict(microbatches=2),
          ),
          "sr3_256": dict(
              data=dict(name="posters/256", hr_size=256, lr_size=128),
              model=dict(ch_mult=(1, 2, 4, 4, 8, 8)),
              diffusion=dict(cond_aug=dict(max_level=0.2, sample_level=0.05)),
              train=dict(microbatches=4),
          ),
          "sr3_512": dict(
              data=dict(name="posters/512", hr_size=512, lr_size=256),
              model=dict(ch_mult=(1, 1, 2, 4, 4, 8, 8)),
              diffusion=dict(cond_aug=dict(max_level=0.2, sample_level=0.05)),
              train=dict(batch_size=64, microbatches=4),
          ),
      }
  )
  return config
