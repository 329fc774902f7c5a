r"""Text-conditioned DDPM at 64×64: the seed's diffusion baseline for GAN_SR3's first stage.

Default (CPU; synthetic_posters/64, captions in both languages through the frozen
all-MiniLM-L6-v2 tower, configs/sr3.py's U-Net without the low-res input, DDPM's linear schedule
over 1,000 steps, 100 respaced sampling steps, batch 16, 300 steps):

  python -m posergen_jax.main --config=configs/text_ddpm.py --workdir=runs/text_ddpm

Quick size for tests and smoke runs (synthetic_posters/tiny at 8×8, a random tiny text tower,
4 steps):

  python -m posergen_jax.main --config=configs/text_ddpm.py:quick --workdir=/tmp/ddpm_quick

Variants, combinable with the sizes as comma-separated arguments (e.g. `:quick,cfg`):
  cfg    classifier-free guidance: captions dropped 10% of the time in training, guidance scale 3
         when sampling (two network calls per step).

configs/ddpm_baseline.py chains this stage with the SR3 cascade, as configs/gan_sr3.py does the
WGAN.
"""

import ml_collections

from posergen_jax.configs import common
from posergen_jax.configs import sr3 as sr3_config

SIZES = ("quick",)
VARIANTS = ("cfg",)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the text DDPM config; `arg` is '[quick][,cfg]'."""
  size, variant = common.parse_arguments(
      arg, config_file="configs/text_ddpm.py", sizes=SIZES, variants=VARIANTS
  )
  unet = sr3_config.get_config(size)  # The U-Net, diffusion and optimizer sections of SR3.
  config = ml_collections.ConfigDict()
  config.family = "text_ddpm"  # Selects posergen_jax/families/text_ddpm.py.
  config.seed = 0
  config.data = common.text_image_data("synthetic_posters/64")
  # The sentence vector the U-Net reads (posergen_jax/text/conditioning.py).
  config.text = common.text_encoder("any")

  config.model = unet.model
  config.model.image_size = 64  # Generated side (the seed's: 64, then the SR3 cascade).

  config.diffusion = unet.diffusion
  # Generation from noise has no low-res image to add a residual to: the image is diffused.
  del config.diffusion.target
  del config.diffusion.residual_scale
  config.diffusion.prediction = "eps"  # DDPM's.
  config.diffusion.train_levels = "schedule"
  config.diffusion.sampler = "ddpm"
  # Generation from pure noise: DDPM's linear schedule (Ho et al. 2020), which ends at
  # signal level ~0.006 (SR3's super-resolution schedules keep more signal at the end).
  config.diffusion.train_schedule = ml_collections.ConfigDict(
      dict(name="linear", num_steps=1000, start=1e-4, end=0.02)
  )
  config.diffusion.sample_schedule = config.diffusion.train_schedule.copy_and_resolve_references()
  config.diffusion.sample_steps = 100
  config.diffusion.loss_type = "l2"  # DDPM's simple loss.

  # Classifier-free guidance (posergen_jax/families/text_ddpm.py); scale 1 and drop 0: off.
  config.guidance = ml_collections.ConfigDict(dict(drop_prob=0.0, scale=1.0))

  common.add_trainer_sections(config)
  config.train.num_steps = 300
  config.train.log_every = 50
  config.train.sample_every = 100
  config.ckpt.every = 100
  config.evals.num_examples = 128  # Test captions sampled (SSIM/PSNR, KID).
  config.optimizer = unet.optimizer

  if size == "quick":
    config.data.name = "synthetic_posters/tiny"
    config.data.shuffle_buffer = 64
    config.text.weights = "random:tiny"
    config.model.image_size = 8
    config.diffusion.train_schedule.num_steps = 100
    config.diffusion.sample_schedule.num_steps = 100
    config.diffusion.sample_steps = 5
    common.quick_trainer_sections(config)
  if variant == "cfg":
    config.guidance.drop_prob = 0.1
    config.guidance.scale = 3.0
  return config
