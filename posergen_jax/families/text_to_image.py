"""What one-scale text-to-image families (WGAN, text DDPM) share: data, evaluation, sample grid.

A family supplies its train state, train step and sampler; `make_family` adds the preprocess
(the real image at `config.model.image_size` and the caption's text features), an eval step that
scores samples against the caption's own image, and the sample grid.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections

from posergen_jax.config import schema
from posergen_jax.data import preprocess
from posergen_jax.evaluation import image_metrics, report
from posergen_jax.text import conditioning
from posergen_jax.training import family

# Generated images per caption in the sample grid (real | samples...).
SAMPLES_PER_ROW = 3
# `config.model.image_size`, the side of the generated images (config/schema.py).
FIELD_RULES = {"model.image_size": schema.integer(8)}

# (params, batch, rng) -> images [B,S,S,3] in [-1, 1] for the batch's text.
SampleFn = Callable[[Any, family.Batch, jax.Array], jax.Array]


def image_key(config: ml_collections.ConfigDict) -> str:
  """The batch feature holding the real image at the generated size."""
  return preprocess.image_key_for_size(config.model.image_size)


def make_family(
    config: ml_collections.ConfigDict,
    text: conditioning.TextConditioning,
    *,
    init_state,
    train_step,
    sample: SampleFn,
    learning_rate_fn,
    batches_per_step: int = 1,
) -> family.Family:
  """The family around a model's `init_state`, `train_step` and `sample` (see family.Family)."""
  real_key = image_key(config)

  def eval_step(params, batch, rng):
    """PSNR and SSIM [B] of the sample against the caption's real image, and both images
    (FID/KID/IS)."""
    images = sample(params, batch, rng)
    return {
        **image_metrics.psnr_ssim(images, batch[real_key]),
        report.GENERATED: images,
        report.REAL: batch[real_key],
    }

  def sample_columns(params, batch, rng) -> Sequence[jax.Array]:
    """Real image | SAMPLES_PER_ROW samples for its caption (different noise)."""
    keys = jax.random.split(rng, SAMPLES_PER_ROW)
    return [batch[real_key], *(sample(params, batch, key) for key in keys)]

  return family.Family(
      make_preprocess=lambda train: preprocess.text_to_image(
          image_key=config.data.image_key,
          sizes=(config.model.image_size,),
          random_flip=train and config.data.random_flip,
          text_preprocess=text.preprocess_fn(train),
      ),
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample=sample,
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
      batches_per_step=batches_per_step,
  )
