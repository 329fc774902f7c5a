r"""SR3 super-resolution, one stage, 32→64 on the built-in `synthetic_posters` data.

Run (on a CPU; trains, checkpoints, writes a sample grid, evaluates; its time on two kinds of
2-core CPU: docs/results.md, section "SR3 on synthetic posters (the main job)"):

  python -m posergen_jax.main --config=configs/sr3.py --workdir=runs/sr3

Quick size for tests and smoke runs (docs/results.md, section "`:quick` sizes"):

  python -m posergen_jax.main --config=configs/sr3.py:quick --workdir=/tmp/sr3_quick

Running the same command again resumes from the last checkpoint in the workdir.
Expected result of the default run: docs/results.md ("SR3 on synthetic posters").
"""

import ml_collections

from posergen_jax.configs import common

SIZES = ("quick",)
VARIANTS = ()


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the SR3 config; `arg='quick'` gives the tiny CPU size."""
  size, _ = common.parse_arguments(
      arg, config_file="configs/sr3.py", sizes=SIZES, variants=VARIANTS
  )
  config = ml_collections.ConfigDict()
  config.family = "sr3"  # Selects posergen_jax/families/sr3.py.
  config.seed = 0

  config.data = common.text_image_data("synthetic_posters/64")  # SR3 reads only the images.
  # Fraction of training images replaced by dead-leaves images in their own colours
  # (data/dead_leaves.py): discs at every scale, as in photographs. A quarter trades a little
  # on the posters for a lot on real photographs (benchmarks/sr3_real_photos.py), where SR3 then
  # beats bicubic (docs/results.md, section "SR3 on real photographs").
  config.data.dead_leaves = 0.25
  config.data.hr_size = 64  # Target (high-res) side length.
  config.data.lr_size = 32  # Conditioning (low-res) side length.

  config.model = ml_collections.ConfigDict()
  config.model.ch = 16
  config.model.ch_mult = (1, 2, 2, 2)
  config.model.num_res_blocks = 1
  config.model.attn_resolutions = (8,)
  config.model.dropout = 0.0
  config.model.num_groups = 8
  config.model.resblock_updown = False  # BigGAN residual up/down blocks (SR3 paper: True).
  # Recompute the residual blocks in the backward pass: "none" | "block" | "block_save_dots"
  # (models/sr3_unet.py); less memory for about a third more compute.
  config.model.remat = "none"
  config.model.skip_rescale = False  # Residual sums / sqrt(2) (SR3 paper: True).
  # What the noise-level embedding reads: "level" (sqrt(gamma), SR3) | "log_snr" (log-SNR, VDM),
  # which tells apart the low noise levels (models/sr3_unet.py).
  config.model.noise_embedding = "level"
  config.model.dtype = "float32"  # Compute dtype ("bfloat16" on TPU/GPU); params stay f32.

  config.diffusion = ml_collections.ConfigDict()
  # What is diffused: "residual" (SRDiff/ResShift): (target − bicubic) / residual_scale, so an
  # untrained x0-predicting network returns the bicubic image exactly; "image": SR3's original.
  config.diffusion.target = "residual"
  # Larger scales shrink the diffused residual against the noise (its std on this data:
  # benchmarks/residual_std.py), trading sampled detail for a more deterministic,
  # regression-like output: at 8 the stochastic and deterministic samplers agree, at 4 sampling
  # still changes the result (docs/results.md, section "Residual scale").
  config.diffusion.residual_scale = 4.0
  # "mean": a sample takes the bicubic upsample's mean colour per image and channel (the low-res
  # input fixes it; StableSR's colour fix in its simplest form); "none": as sampled, whose mean
  # colour drifts further than bicubic's (docs/results.md, section "The SR stages with the
  # residual recipe").
  config.diffusion.colour_fix = "mean"
  # Training: SR3's linear schedule; the model sees a continuous noise level.
  config.diffusion.train_schedule = ml_collections.ConfigDict(
      dict(name="linear", num_steps=2000, start=1e-6, end=1e-2)
  )
  # Noise levels trained on: "sampler": uniform in log-SNR over the levels the sampler visits;
  # "schedule": SR3's, drawn from train_schedule (half of them at SNR < 0.1 under this one).
  config.diffusion.train_levels = "sampler"
  # SR3's shorter inference schedule, for sampler="ddpm" (any schedule works, the model is
  # conditioned on the noise level, not on the step index).
  config.diffusion.sample_schedule = ml_collections.ConfigDict(
      dict(name="linear", num_steps=100, start=1e-4, end=0.1)
  )
  config.diffusion.loss_type = "l2"  # "l1" | "l2" on the network's output.
  # "x0" | "eps" (SR3) | "v" (Salimans & Ho 2022).
  config.diffusion.prediction = "x0"
  config.diffusion.weighting = "none"  # "none" | "min_snr" (Min-SNR-5 loss weights).
  # "ddpm": ancestral over sample_schedule; "ddim": DDIM over train_schedule.
  config.diffusion.sampler = "ddim"
  # Sampling steps: respaces sample_schedule (ddpm) or train_schedule (ddim); None = all steps.
  # 10 rather than 20 halves the sampling time for about the same scores (docs/results.md,
  # section "SR3 on synthetic posters (the main job)", "Sampling steps").
  config.diffusion.sample_steps = 10
  # 0: deterministic DDIM; 1: DDPM's ancestral noise. Evaluation also reports eta 0.
  config.diffusion.ddim_eta = 1.0
  # Noise-conditioning augmentation (Imagen): the low-res input is noised with std ~ U(0, max_level)
  # at train time and the network told the level; sampling uses sample_level. 0 turns it off.
  config.diffusion.cond_aug = ml_collections.ConfigDict(dict(max_level=0.0, sample_level=0.0))

  common.add_trainer_sections(config)
  # Gradient accumulation: each step runs the batch in this many microbatches, one after another
  # (activations of batch_size / microbatches examples at a time; the same update).
  config.train.microbatches = 1
  # Long enough for SR3 to pass bicubic clearly, short enough for a 2-core CPU (docs/results.md,
  # section "SR3 on synthetic posters (the main job)").
  config.train.num_steps = 1000
  config.evals.lpips = True  # LPIPS (VGG16) of SR3 and of bicubic against the targets.

  config.optimizer = common.optimizer_section(1e-3)  # name: "adam" (AdamW) | "rmsprop".
  config.optimizer.warmup_steps = 50
  config.optimizer.grad_clip_norm = 1.0

  if size == "quick":
    config.data.name = "synthetic_posters/tiny"
    config.data.hr_size = 32
    config.data.lr_size = 16
    config.data.shuffle_buffer = 64
    config.model.ch = 16
    config.model.ch_mult = (1, 2)
    config.model.attn_resolutions = (16,)
    config.model.num_groups = 4
    config.diffusion.train_schedule.num_steps = 100
    config.diffusion.sample_schedule.num_steps = 5
    config.diffusion.sample_schedule.end = 0.5
    config.diffusion.sample_steps = 5
    common.quick_trainer_sections(config)
    config.evals.lpips = False
    config.optimizer.warmup_steps = 2
  return config
