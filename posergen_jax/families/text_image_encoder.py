"""In-domain text–image encoder family: a CLIP-style dual encoder trained on image–caption pairs.

The image tower is a small CNN (`models/dual_encoder.ImageEncoder`); the text tower is
`config.text.tower`:
- 'char_cnn_rnn': Reed et al.'s char-CNN-RNN over character ids, trained from scratch (the
  encoder StackGAN's embeddings come from);
- 'bert': a BERT tower, initialised from `config.text.weights` (e.g. the offline
  all-MiniLM-L6-v2) or at random ('random:<preset>'), and fine-tuned.
Each side is projected into a `config.model.emb_dim` joint space and L2-normalised.
`config.loss.name` is 'clip' (CLIP's symmetric InfoNCE with a learnt temperature) or 'sje'
(Reed's structured joint embedding hinge, which needs class labels `config.loss.label_key`).

Evaluation scores retrieval inside each eval batch of B pairs (chance: 1/B): for every image,
whether its own caption is the best (top1) or among the best five (top5) of the B captions, and
the same for every caption among the B images. Sample grids show, for each caption, its own
image and the three images it retrieves first.
"""

from collections.abc import Callable
import dataclasses
import logging
from typing import Any

from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import optax
import tensorflow as tf

from posergen_jax.config import schema
from posergen_jax.data import preprocess
from posergen_jax.io import errors
from posergen_jax.models import dual_encoder
from posergen_jax.text import caption_inputs, char_cnn_rnn, frozen_tower
from posergen_jax.text import tokenizer as tokenizer_lib
from posergen_jax.training import checkpoint, family, optimizers, train_state

TEXT_TOWERS = ("char_cnn_rnn", "bert")
LOSSES = ("clip", "sje")
IMAGE_KEY = "image"
LABEL_KEY = "label"
# Images a caption retrieves in the sample grid (after its own image).
RETRIEVED_PER_ROW = 3
TEXT_TOWER = "text_tower"  # The text tower's entry in the dual encoder's params.
# `config.text.char_cnn_rnn.pools`: max-pool (window, stride) per convolution, () for none.
POOLS = schema.Rule(
    lambda v: isinstance(v, (tuple, list))
    and all(
        isinstance(p, (tuple, list))
        and (len(p) == 0 or (len(p) == 2 and all(schema.is_int(x) and x >= 1 for x in p)))
        for p in v
    ),
    "a tuple of (window, stride) pairs of integers >= 1, or () for no pooling",
)
# Every field the family reads beyond the data, optimizer and trainer sections and the text
# fields it shares with the text-to-image families (config/schema.py).
FIELD_RULES = {
    "model.dtype": schema.DTYPE,
    "model.image_size": schema.integer(8),
    "model.emb_dim": schema.POSITIVE,
    "model.image_widths": schema.integers(1),
    "model.init_temperature": schema.number(0, open_low=True),
    "loss.name": schema.one_of(LOSSES),
    "loss.label_key": schema.TEXT,
    "text.tower": schema.one_of(TEXT_TOWERS),
    **schema.prefixed(
        "text.char_cnn_rnn",
        {
            "cell": schema.one_of(char_cnn_rnn.CELLS),
            "cnn_dim": schema.POSITIVE,
            "emb_dim": schema.POSITIVE,
            "kernel_size": schema.POSITIVE,
            "conv_features": schema.integers(1),
            "pools": POOLS,
        },
    ),
}

Params = Any


@dataclasses.dataclass(frozen=True)
class TextSide:
  """A text tower, its caption op for tf.data and its pretrained params (or None)."""

  tower: object
  caption_op: caption_inputs.CaptionOp
  input_keys: tuple[str, ...]
  pretrained: dict | None


def make_text_side(config: ml_collections.ConfigDict) -> TextSide:
  """The text tower `config` (the `text` section) names; see the module docstring."""
  if config.tower == "char_cnn_rnn":
    c = config.char_cnn_rnn
    tower = char_cnn_rnn.CharCnnRnn(
        emb_dim=c.emb_dim,
        conv_features=tuple(c.conv_features),
        cnn_dim=c.cnn_dim,
        kernel_size=c.kernel_size,
        pools=tuple(tuple(p) if p else None for p in c.pools),
        cell=c.cell,
    )
    return TextSide(
        tower, caption_inputs.char_ids_op(config.max_length), (caption_inputs.CHAR_IDS_KEY,), None
    )
  if config.tower == "bert":
    tokenizer = tokenizer_lib.PromptTokenizer.from_file(config.tokenizer)
    tower, params = frozen_tower.load_text_encoder(config, tokenizer.vocab_size)
    pretrained = None if config.weights.startswith(frozen_tower.RANDOM_PREFIX) else params
    return TextSide(
        tower,
        caption_inputs.tokenize_op(tokenizer, config.max_length),
        caption_inputs.TOKEN_KEYS,
        pretrained,
    )
  raise errors.ConfigError(f"config.text.tower={config.tower!r} is not one of {TEXT_TOWERS}.")


def make_model(config: ml_collections.ConfigDict, text_tower) -> dual_encoder.DualEncoder:
  """The dual encoder of `config.model` around `text_tower`."""
  m = config.model
  return dual_encoder.DualEncoder(
      image_encoder=dual_encoder.ImageEncoder(
          widths=tuple(m.image_widths), dtype=jnp.dtype(m.dtype)
      ),
      text_tower=text_tower,
      emb_dim=m.emb_dim,
      init_temperature=m.init_temperature,
  )


def retrieval_metrics(image_emb: jax.Array, text_emb: jax.Array) -> dict[str, jax.Array]:
  """In-batch retrieval of B pairs of unit embeddings [B,E] -> per-example float32 [B] hits:
  image_to_text_top1/top5 (the image's own caption ranks first / in the first five among the B
  captions) and text_to_image_top1/top5."""
  scores = image_emb @ text_emb.T
  metrics = {}
  for name, ranks in (
      ("image_to_text", dual_encoder.retrieval_ranks(scores)),
      ("text_to_image", dual_encoder.retrieval_ranks(scores.T)),
  ):
    metrics[f"{name}_top1"] = (ranks < 1).astype(jnp.float32)
    metrics[f"{name}_top5"] = (ranks < 5).astype(jnp.float32)
  return metrics


@dataclasses.dataclass(frozen=True, kw_only=True)
class EncoderFamily(family.Family):
  """The family, plus what scoring other models' images needs (evaluation/r_precision.py).

  Attributes:
    embed: (params, batch with 'image' [B,S,S,3] in [-1, 1] and the caption inputs) -> unit
      (image_emb, text_emb) [B, emb_dim] each.
    caption_preprocess: tf.data function (example, seed) -> the caption inputs of the
      example's first caption in `config.text.language` (what evaluation conditions on).
  """

  embed: Callable[[Params, dict[str, jax.Array]], tuple[jax.Array, jax.Array]]
  caption_preprocess: Callable[[dict, tf.Tensor], dict]


def make_family(config: ml_collections.ConfigDict) -> EncoderFamily:
  """The text–image encoder family from the full config (data, text, model, loss, optimizer)."""
  caption_inputs.check_language(config.text.language)
  if config.loss.name not in LOSSES:
    raise errors.ConfigError(f"config.loss.name={config.loss.name!r} is not one of {LOSSES}.")
  text = make_text_side(config.text)
  model = make_model(config, text.tower)
  tx, learning_rate_fn = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
  size = config.model.image_size
  one_caption = caption_inputs.one_caption(
      config.text.captions_key, config.text.language, text.caption_op
  )

  def make_preprocess(train: bool):
    caption = one_caption(train)

    def preprocess_fn(example, seed):
      image = preprocess.scaled_square(example, config.data.image_key, size)
      if train and config.data.random_flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seed)
      features = {IMAGE_KEY: image, **caption(example, seed)}
      if config.loss.name == "sje":
        if config.loss.label_key not in example:
          raise KeyError(
              f"config.loss.label_key={config.loss.label_key!r} is not a feature of "
              f"this dataset (the 'sje' loss needs class labels); it has "
              f"{sorted(example)}."
          )
        features[LABEL_KEY] = tf.cast(example[config.loss.label_key], tf.int32)
      return features

    return preprocess_fn

  def text_inputs(batch):
    return {key: batch[key] for key in text.input_keys}

  def embed(params, batch):
    image_emb, text_emb, _ = model.apply({"params": params}, batch[IMAGE_KEY], text_inputs(batch))
    return image_emb, text_emb

  def init_state(rng, batch):
    params = model.init(rng, batch[IMAGE_KEY], text_inputs(batch))["params"]
    if text.pretrained is not None:
      params = {**params, TEXT_TOWER: jax.tree.map(jnp.asarray, text.pretrained)}
    return train_state.TrainState.create(params=params, tx=tx)

  def loss_fn(params, batch):
    image_emb, text_emb, logit_scale = model.apply(
        {"params": params}, batch[IMAGE_KEY], text_inputs(batch)
    )
    if config.loss.name == "clip":
      value = dual_encoder.contrastive_loss(image_emb, text_emb, logit_scale)
    else:
      value = char_cnn_rnn.joint_embedding_loss(text_emb, image_emb, batch[LABEL_KEY])
    return value, (image_emb, text_emb, logit_scale)

  def train_step(state, batch, rng):
    del rng  # Deterministic: no dropout, no noise.
    (loss, (image_emb, text_emb, logit_scale)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch
    )
    state = state.apply_gradients(grads, ema_decay=config.ema.decay)
    hits = retrieval_metrics(image_emb, text_emb)
    return state, {
        "loss": loss,
        "logit_scale": logit_scale,
        "image_to_text_top1": jnp.mean(hits["image_to_text_top1"]),
        "grad_norm": optax.global_norm(grads),
    }

  def eval_step(params, batch, rng):
    del rng
    return retrieval_metrics(*embed(params, batch))

  def retrieved(params, batch, count):
    """The `count` batch images each caption ranks highest, best first: count × [B,S,S,3]."""
    image_emb, text_emb = embed(params, batch)
    order = jnp.argsort(-(text_emb @ image_emb.T), axis=1)
    return [batch[IMAGE_KEY][order[:, rank]] for rank in range(count)]

  def sample_columns(params, batch, rng):
    """The caption's own image | the RETRIEVED_PER_ROW batch images it ranks highest."""
    del rng
    return [batch[IMAGE_KEY], *retrieved(params, batch, RETRIEVED_PER_ROW)]

  return EncoderFamily(
      embed=embed,
      caption_preprocess=one_caption(False),
      make_preprocess=make_preprocess,
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
  )


def restore_for_scoring(
    config: ml_collections.ConfigDict, workdir: str, sharding: jax.sharding.Sharding
) -> tuple[EncoderFamily, Params]:
  """A trained encoder's family and EMA params (placed with `sharding`), from the newest
  checkpoint of the run of `config` in `workdir`.

  Raises:
    FileNotFoundError naming the folder when it holds no checkpoint.
  """
  encoder = make_family(config)
  manager = checkpoint.make_manager(str(epath.Path(workdir).absolute()), max_to_keep=1)
  try:
    if manager.latest_step() is None:
      raise errors.MissingFileError(
          f"The text–image encoder has no checkpoint in {manager.directory};"
          " train it first with --config=configs/text_image_encoder.py."
      )
    size, length = config.model.image_size, config.text.max_length
    example = {
        IMAGE_KEY: jnp.zeros((1, size, size, 3), jnp.float32),
        **{
            key: jnp.zeros((1, length), jnp.int32)
            for key in (
                caption_inputs.TOKEN_KEYS
                if config.text.tower == "bert"
                else (caption_inputs.CHAR_IDS_KEY,)
            )
        },
    }
    if config.loss.name == "sje":
      example[LABEL_KEY] = jnp.zeros((1,), jnp.int32)
    state = jax.jit(encoder.init_state, out_shardings=sharding)(jax.random.key(0), example)
    state = checkpoint.restore_latest(manager, state)
    logging.info("Text–image encoder for scoring: step %d of %s.", int(state.step), workdir)
    return encoder, state.ema_params
  finally:
    manager.close()
