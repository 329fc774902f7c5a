r"""Text-to-image GAN at 64×64: GAN_SR3's first stage, on the built-in synthetic posters.

Default (CPU; synthetic_posters/64, widths 16, batch 16, 36,000 steps). GAN_SR3's generator and
projection critic, trained with DF-GAN's recipe for reading the text (Tao et al. 2022): the
hinge loss with (real poster, another poster's caption) pairs as fakes, the text re-injected in
every generator block, geometric DiffAugment, the two-timescale update (one critic update at lr
4e-4 per generator update at 1e-4) and sampling at truncation 0.8; and XMC-GAN's sentence
contrastive term between the critic's embeddings of posters and captions (Zhang et al. 2021).
Captions of both languages come from the caption embedding cache; Chinese ones through the
Chinese student of the text tower (docs/usage.md, "Chinese prompts"), distilled first. Times
and scores: docs/results.md, "R-precision".

  python -m posergen_jax.distil --config=configs/wgan.py --out=runs/zh_student
  python -m posergen_jax.main --config=configs/wgan.py --workdir=runs/wgan \
      --config.text.zh_student=runs/zh_student/zh_student.npz

Quick size for tests and smoke runs (synthetic_posters/tiny at 8×8, a random tiny text tower run
in the step, 2 critic updates, 4 steps; docs/results.md, "`:quick` sizes"):

  python -m posergen_jax.main --config=configs/wgan.py:quick --workdir=/tmp/wgan_quick

Paper (`:paper`: GAN_SR3's WGAN-GP as the paper has it, on your posters at 64×64 (`posters/64`,
--config.data.manual_dir=DIR): the text at the generator's input only, WGAN-GP's 5 critic updates
per generator update at lr 1e-4, no mismatched captions, augmentation or contrastive term,
untruncated sampling; G and critic widths 64 (DCGAN's), batch 64, bfloat16 compute, 100k steps;
for TPU/GPU):

  python -m posergen_jax.main --config=configs/wgan.py:paper --workdir=gs://BUCKET/wgan \
      --config.data.manual_dir=/path/to/posters

Variants, combinable with the sizes as comma-separated arguments (e.g. `:quick,clip`):
  clip   the original WGAN: its loss, critic weights clipped to ±0.01, RMSProp lr 5e-5 (Arjovsky
         et al.), no mismatched captions, augmentation or contrastive term.

The paper's text tower is Chinese-CLIP's; with its weights (docs/usage.md, "Text encoders"):
  --config.text.weights=/path/to/clip_cn_vit-b-16.pt --config.text.tokenizer=/path/to/vocab.txt
configs/gan_sr3.py chains this stage with the SR3 cascade into the prompt → poster system.
"""

import ml_collections

from posergen_jax.configs import common

SIZES = ("quick", "paper")
VARIANTS = ("clip",)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the WGAN config; `arg` is '[quick|paper][,clip]'."""
  size, variant = common.parse_arguments(
      arg, config_file="configs/wgan.py", sizes=SIZES, variants=VARIANTS
  )
  config = ml_collections.ConfigDict()
  config.family = "wgan"  # Selects posergen_jax/families/wgan.py.
  config.seed = 0

  config.data = common.text_image_data("synthetic_posters/64")
  config.data.random_flip = False  # A flip mirrors the posters' lettering.

  # The sentence vector G and the critic are conditioned on (posergen_jax/text/conditioning.py):
  # captions of both languages, looked up in the caption embedding cache rather than run through
  # the tower in every step. all-MiniLM-L6-v2 reads English only; with --config.text.zh_student
  # its Chinese student reads the Chinese captions and prompts into the same space.
  config.text = common.text_encoder("any")
  config.text.source = "cache"

  config.model = ml_collections.ConfigDict()
  config.model.image_size = 64  # Generated side (GAN_SR3: 64); a power of two >= 8.
  # Widths 16 keep the CPU run short; GAN_SR3-scale runs use 64 (--config.model.gf_dim=64 ...).
  config.model.gf_dim = 16  # Channels of G's last upsampling block (x2 per block towards 4x4).
  config.model.df_dim = 16  # Channels of the critic's first conv (x2 per block).
  config.model.c_dim = 128  # Text code size after conditioning augmentation.
  config.model.z_dim = 100  # The 1-D Gaussian noise.
  # DF-GAN's affine text fusion in every upsampling block (models/wgan.py TextAffine); off: the
  # text enters at the input layer only, as in GAN_SR3.
  config.model.text_modulation = True
  # Sampling draws z and conditioning augmentation's eps from N(0, I) truncated to ±truncation
  # (DF-GAN samples at 0.8-0.88); 0: untruncated. Training always draws untruncated noise.
  config.model.truncation = 0.8
  config.model.dtype = "float32"  # Compute dtype ("bfloat16" on TPU/GPU); params stay f32.

  config.loss = ml_collections.ConfigDict()
  # "wasserstein": E[D(fake)] - E[D(real)] (WGAN); "hinge": DF-GAN's hinge loss.
  config.loss.objective = "hinge"
  # Weight m of (real image, another example's caption) pairs scored as fakes, beside 1 - m on
  # the generated images (DF-GAN's matching-aware critic: 0.5); 0: the critic sees no mismatch.
  config.loss.mismatch_weight = 0.5
  # "gp": gradient penalty (WGAN-GP); "clip": weight clipping; "magp": DF-GAN's matching-aware
  # gradient penalty on the real pairs, magp_weight * E[||grad_(image, text) D||^magp_power].
  config.loss.lipschitz = "gp"
  config.loss.gp_weight = 10.0  # λ of the gradient penalty.
  config.loss.clip_value = 0.01  # lipschitz="clip": weights clipped to ±clip_value.
  config.loss.magp_weight = 2.0  # DF-GAN's k.
  config.loss.magp_power = 6.0  # DF-GAN's p.
  # DiffAugment policies applied to every image the critic scores: () or some of
  # ("translation", "cutout"); no colour policy, since captions name colours.
  config.loss.augment = ("translation", "cutout")
  # XMC-GAN's sentence contrastive term (Zhang et al. 2021): weight w of an InfoNCE loss between
  # the critic's embeddings of images and captions, for the critic on real posters and for the
  # generator on its own; 0: off.
  config.loss.contrastive_weight = 1.0
  config.loss.contrastive_temperature = 0.1
  # Critic updates per generator update: one, with the critic's lr 4x the generator's (TTUR,
  # Heusel et al.), runs several times as many steps per CPU minute as WGAN-GP's 5 and reads the
  # text sooner (docs/results.md, "R-precision").
  config.loss.n_critic = 1
  config.loss.kl_weight = 1.0  # Conditioning augmentation's KL term in G's loss.

  common.add_trainer_sections(config)
  config.train.num_steps = 36_000
  config.train.log_every = 50
  config.train.sample_every = 1000
  config.ckpt.every = 1000
  config.ema.decay = 0.999
  config.evals.num_examples = 128  # Test examples scored (SSIM/PSNR, KID).

  config.optimizer = ml_collections.ConfigDict()
  # WGAN-GP's Adam, β = (0, 0.9); the critic's lr 4x the generator's (TTUR, with n_critic 1).
  config.optimizer.gen = common.optimizer_section(1e-4, b1=0.0, b2=0.9)
  config.optimizer.disc = common.optimizer_section(4e-4, b1=0.0, b2=0.9)  # The critic's.

  if size == "quick":
    config.data.name = "synthetic_posters/tiny"
    config.data.shuffle_buffer = 64
    config.text.weights = "random:tiny"
    config.text.source = "encoder"  # A tiny tower in the step: no cache to build for 4 steps.
    config.model.image_size = 8
    config.model.gf_dim = 8
    config.model.df_dim = 8
    config.model.c_dim = 16
    config.model.z_dim = 16
    config.loss.n_critic = 2
    common.quick_trainer_sections(config)
  if size == "paper":  # GAN_SR3's first stage at DCGAN widths on your posters, for TPU/GPU.
    config.data.name = "posters/64"
    config.data.random_flip = True
    config.text.source = "encoder"
    config.model.update(
        gf_dim=64, df_dim=64, dtype="bfloat16", text_modulation=False, truncation=0.0
    )
    # WGAN-GP as GAN_SR3 trains it: no mismatched captions, augmentation or contrastive term.
    config.loss.update(
        objective="wasserstein", mismatch_weight=0.0, augment=(), contrastive_weight=0.0
    )
    config.loss.n_critic = 5  # WGAN-GP's schedule and learning rate.
    config.optimizer.disc.learning_rate = 1e-4
    config.train.update(batch_size=64, num_steps=100_000, log_every=500, sample_every=5000)
    config.ckpt.every = 5000
    config.evals.update(num_examples=1024, batch_size=64)
  if variant == "clip":
    config.loss.update(
        objective="wasserstein", mismatch_weight=0.0, augment=(), contrastive_weight=0.0
    )
    config.loss.lipschitz = "clip"
    config.loss.n_critic = 5  # WGAN's schedule.
    # WGAN's RMSProp, lr 5e-5 (decay 0.99 as torch's RMSprop default alpha).
    config.optimizer.gen = common.optimizer_section(5e-5, name="rmsprop", b2=0.99)
    config.optimizer.disc = common.optimizer_section(5e-5, name="rmsprop", b2=0.99)
  return config
