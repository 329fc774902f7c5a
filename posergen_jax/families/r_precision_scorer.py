"""R-precision in evaluation: a trained text–image encoder scores a text-to-image family's images.

`config.evals.r_precision` names the encoder's config file and workdir. The eval batches then
also carry the encoder's inputs for the caption each image is generated from (the first caption
in the evaluated config's `text.language`, as the family's own text preprocess picks; or the
poster's first caption in `r_precision.language`, to score one language's prompts with an
encoder trained on another), under
keys prefixed with INPUT_PREFIX; generated images are resized to the encoder's image size.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import tensorflow as tf

from posergen_jax.config import files as config_files
from posergen_jax.config import schema
from posergen_jax.evaluation import r_precision
from posergen_jax.families import text_image_encoder, text_to_image
from posergen_jax.io import errors
from posergen_jax.text import caption_inputs, embedding_cache
from posergen_jax.training import family

INPUT_PREFIX = "r_precision_"
# `config.evals.r_precision` (config/schema.py).
FIELD_RULES = schema.prefixed(
    "evals.r_precision",
    {
        "encoder_workdir": schema.optional(schema.TEXT),
        "encoder_config": schema.TEXT,
        "num_draws": schema.POSITIVE,
        "num_candidates": schema.integer(2),
        "language": schema.optional(schema.one_of(caption_inputs.LANGUAGES)),
    },
)


def make_scoring(
    config: ml_collections.ConfigDict, replicated: jax.sharding.Sharding
) -> family.Scorer:
  """The R-precision of `config.evals.r_precision` by the encoder trained in its
  `encoder_workdir`, with the encoder's params placed `replicated`.

  Raises:
    ValueError: the config has no text (not a text-to-image family), the encoder config is not
      a text_image_encoder config, or the encoder reads another language than the one scored.
    FileNotFoundError: the encoder config file or checkpoint is missing (named).
  """
  options = config.evals.r_precision
  if "text" not in config:
    raise errors.ConfigError(
        f"config.evals.r_precision scores images generated from captions; "
        f"family {config.family!r} has no `text` section."
    )
  encoder_config = config_files.load(
      options.encoder_config, "config.evals.r_precision.encoder_config"
  )
  if encoder_config.get("family") != "text_image_encoder":
    raise errors.ConfigError(
        f"config.evals.r_precision.encoder_config={options.encoder_config!r} is a "
        f"{encoder_config.get('family')!r} config, not a text_image_encoder one."
    )
  # The caption generated from, or the same poster's first caption in options.language.
  scored = options.get("language") or config.text.language
  read = encoder_config.text.language
  if read != "any" and scored != read:
    raise errors.ConfigError(
        f"config.evals.r_precision: the encoder ({options.encoder_config}) reads {read!r} "
        f"captions, and this evaluation scores {scored!r} ones (config.text.language="
        f"{config.text.language!r}); set --config.text.language={read} to score {read!r} "
        f"prompts, or --config.evals.r_precision.language={read} to score each poster's "
        f"first {read!r} caption."
    )
  with encoder_config.unlocked():
    encoder_config.text.language = scored
  encoder, params = text_image_encoder.restore_for_scoring(
      encoder_config, options.encoder_workdir, replicated
  )
  size = encoder_config.model.image_size

  def embed(encoder_params, images, batch):
    images = jnp.clip(
        jax.image.resize(images, (images.shape[0], size, size, images.shape[-1]), "cubic"),
        -1.0,
        1.0,
    )
    inputs = {
        key[len(INPUT_PREFIX) :]: value
        for key, value in batch.items()
        if key.startswith(INPUT_PREFIX)
    }
    return encoder.embed(encoder_params, {text_image_encoder.IMAGE_KEY: images, **inputs})

  def preprocess(example, seed):
    features = {
        INPUT_PREFIX + key: value
        for key, value in encoder.caption_preprocess(example, seed).items()
    }
    if embedding_cache.TFDS_ID in example:  # The input pipeline adds it.
      # The image each caption describes: its other captions are never mismatches.
      features[r_precision.GROUP_KEY] = tf.cast(
          tf.strings.to_hash_bucket_fast(example[embedding_cache.TFDS_ID], 2**31 - 1), tf.int32
      )
    return features

  # The params are an argument, not a closure, so jit does not embed them in the program.
  embed_images = functools.partial(jax.jit(embed), params)
  return family.Scorer(
      r_precision.RPrecision(
          embed_images,
          options.num_candidates,
          options.get("num_draws", 1),
          real_key=text_to_image.image_key(config),
      ),
      preprocess,
  )
