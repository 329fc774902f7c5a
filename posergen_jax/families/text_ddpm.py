"""Text-conditioned DDPM family: the seed's diffusion baseline, caption vector -> 64×64 image.

The SR3 U-Net without a low-resolution input (`cond=None`), reading the caption's sentence
vector (`config.text`, as the WGAN stage) through `text_conditioning`; trained with SR3's loss at
continuous noise levels and sampled by the SR3 samplers (DDPM or DDIM, `config.diffusion`).

Classifier-free guidance (Ho & Salimans 2022): with probability `config.guidance.drop_prob` a
training example's sentence vector is replaced by zeros (no text); sampling combines the two
predictions as eps_uncond + scale · (eps_cond − eps_uncond), `config.guidance.scale` (1: plain
conditional sampling, one network call per step; above 1: guided, two).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.config import schema
from posergen_jax.diffusion import losses
from posergen_jax.families import sr3, text_to_image
from posergen_jax.io import errors
from posergen_jax.text import conditioning
from posergen_jax.training import family, optimizers, train_state

DenoiseFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

# Every field the text DDPM reads beyond the data, text, optimizer and trainer sections
# (config/schema.py): SR3's U-Net and diffusion fields, the image size and guidance.
FIELD_RULES = {
    **sr3.UNET_RULES,
    **sr3.DIFFUSION_RULES,
    **text_to_image.FIELD_RULES,
    "guidance.drop_prob": schema.PROBABILITY_BELOW_ONE,
    "guidance.scale": schema.NOT_NEGATIVE,
}


def guided(denoise: DenoiseFn, scale: float) -> DenoiseFn:
  """Classifier-free guidance of `denoise` (x [B,H,W,C], text [B,E], level [B]) -> eps.

  scale 1 returns `denoise` itself; otherwise one call on the batch twice (with the text, then
  with zeros) gives eps_uncond + scale * (eps_cond - eps_uncond).
  """
  if scale == 1.0:
    return denoise

  def guided_denoise(x, text, level):
    both = denoise(
        jnp.concatenate([x, x]),
        jnp.concatenate([text, jnp.zeros_like(text)]),
        jnp.concatenate([level, level]),
    )
    cond, uncond = jnp.split(both, 2)
    return uncond + scale * (cond - uncond)

  return guided_denoise


def drop_text(text: jax.Array, rng: jax.Array, drop_prob: float) -> jax.Array:
  """Sentence vectors [B,E] with each row zeroed with probability `drop_prob`."""
  keep = jax.random.uniform(rng, text.shape[:1]) >= drop_prob
  return jnp.where(keep[:, None], text, jnp.zeros_like(text))


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """The text DDPM family from the full config (data, text, model, diffusion, guidance, ...)."""
  if config.diffusion.cond_aug.max_level > 0:
    raise errors.ConfigError(
        "config.diffusion.cond_aug is for super-resolution inputs; the text DDPM "
        "has none (set max_level=0)."
    )
  if not 0.0 <= config.guidance.drop_prob < 1.0:
    raise errors.ConfigError(
        f"config.guidance.drop_prob={config.guidance.drop_prob} must be in [0, 1)."
    )
  size = config.model.image_size
  image_key = text_to_image.image_key(config)
  model = sr3.make_model(config, text_conditioning=True)
  text = conditioning.make_text_conditioning(config.text, data=config.data)
  train_schedule = sr3.schedule_from_config(config.diffusion.train_schedule)
  sampler = sr3.make_sampler(config)
  tx, learning_rate_fn = optimizers.make_optimizer(config.optimizer, config.train.num_steps)

  def denoise_fn(params, *, train=False, dropout_rng=None) -> DenoiseFn:
    rngs = {"dropout": dropout_rng} if train else None
    return lambda x, sentence, level: model.apply(
        {"params": params}, x, None, level, train=train, rngs=rngs, context=sentence
    )

  def init_state(rng, batch):
    images = batch[image_key]
    params = model.init(
        {"params": rng},
        images,
        None,
        jnp.ones(images.shape[:1]),
        train=False,
        context=text.encode(batch),
    )["params"]
    return train_state.TrainState.create(params=params, tx=tx)

  def train_step(state, batch, rng):
    noise_rng, dropout_rng, drop_rng = jax.random.split(jax.random.fold_in(rng, state.step), 3)
    sentence = drop_text(text.encode(batch), drop_rng, config.guidance.drop_prob)

    def loss_fn(params):
      return losses.sr3_loss(
          denoise_fn(params, train=True, dropout_rng=dropout_rng),
          batch[image_key],
          sentence,
          noise_rng,
          train_schedule,
          loss_type=config.diffusion.loss_type,
          prediction=config.diffusion.prediction,
          weighting=config.diffusion.weighting,
          log_snr_range=sr3.training_log_snr_range(config),
      )

    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, ema_decay=config.ema.decay)
    return state, {**aux, "grad_norm": optax.global_norm(grads)}

  def sample(params, batch, rng):
    """Images [B,S,S,3] in [-1, 1] for the batch's text, guided by `config.guidance.scale`."""
    sentence = text.encode(batch)
    shape = (sentence.shape[0], size, size, 3)
    return sampler(guided(denoise_fn(params), config.guidance.scale), sentence, rng, shape=shape)

  return text_to_image.make_family(
      config,
      text,
      init_state=init_state,
      train_step=train_step,
      sample=sample,
      learning_rate_fn=learning_rate_fn,
  )
