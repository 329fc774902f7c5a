"""WGAN family (GAN_SR3's first stage): prompt vector ⊕ noise -> 64x64, for the trainer.

One train step is `config.loss.n_critic` critic updates then one generator update (WGAN's
schedule). As in the WGAN-GP reference, every critic update sees a real batch of its own, with
fresh noise (and fresh interpolation points for the gradient penalty), so a step reads n_critic
batches from the pipeline; the generator update reads the last one's captions.
The Lipschitz constraint is `config.loss.lipschitz`: 'gp' adds λ·E[(||∇D||-1)^2] (WGAN-GP,
λ = `gp_weight`, Adam in the paper), 'clip' clips the critic's weights to ±`clip_value` after
each update (the original WGAN, RMSProp in the paper), or 'magp' adds DF-GAN's matching-aware
penalty `magp_weight`·E[‖∇_(x,s) D‖^`magp_power`] on the real pairs. The critic's objective is
`config.loss.objective` ('wasserstein' or 'hinge'); with `mismatch_weight` m > 0 it also scores
real images under another example's caption (the batch's captions rolled by one) as fakes, with
weight m (and 1 - m on the generated ones), which is how it learns to read the text. With
`config.loss.augment` (DiffAugment policies) every image the critic scores is augmented first.
The generator's loss is -E[D(G(z, c))] plus `kl_weight` times conditioning augmentation's KL term.
With `config.loss.contrastive_weight` w > 0 (XMC-GAN's sentence contrastive term, Zhang et al.
2021), the critic also embeds images and captions, and both players add w times CLIP's InfoNCE
loss at temperature `contrastive_temperature` over the batch: the critic on the real images and
their captions, the generator on its images and theirs.
Sampling may truncate the noise: with `config.model.truncation` t > 0, z and the conditioning
augmentation's eps are drawn from N(0, I) truncated to [-t, t] (0: untruncated).

G runs in train mode (batch statistics) in every update; only the generator update keeps its
new running statistics. Sampling and evaluation run the EMA generator in inference mode.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.config import schema
from posergen_jax.families import gan_state, text_to_image
from posergen_jax.io import errors
from posergen_jax.models import (
    conditioning_augmentation,
    diff_augment,
    dual_encoder,
    wgan,
    wgan_losses,
)
from posergen_jax.text import conditioning
from posergen_jax.training import family

LIPSCHITZ = ("gp", "clip", "magp")

# The fields the WGAN reads beyond the data, text and trainer sections (config/schema.py).
FIELD_RULES = {
    **gan_state.FIELD_RULES,
    **text_to_image.FIELD_RULES,
    "model.text_modulation": schema.BOOL,
    "model.truncation": schema.NOT_NEGATIVE,
    "loss.lipschitz": schema.one_of(LIPSCHITZ),
    "loss.objective": schema.one_of(wgan_losses.OBJECTIVES),
    "loss.mismatch_weight": schema.FRACTION,
    "loss.magp_weight": schema.NOT_NEGATIVE,
    "loss.magp_power": schema.number(0, open_low=True),
    "loss.contrastive_weight": schema.NOT_NEGATIVE,
    "loss.contrastive_temperature": schema.number(0, open_low=True),
    "loss.augment": schema.subset(diff_augment.POLICIES),
    "loss.clip_value": schema.number(0, open_low=True),
    "loss.gp_weight": schema.NOT_NEGATIVE,
    "loss.n_critic": schema.POSITIVE,
}


def check_fields(fields: schema.Fields) -> None:
  """Raises ConfigError unless a WGAN config's `model.image_size` is a power of two >= 8 (the
  generator doubles a 4×4 map up to it)."""
  v = fields.values
  if v.get("family") == "wgan":
    try:
      wgan.num_resamples(v["model.image_size"])
    except ValueError:
      raise fields.fail("model.image_size", "a power of two >= 8") from None


def make_generator(config: ml_collections.ConfigDict) -> wgan.Generator:
  """The generator `config.model` describes."""
  m = config.model
  return wgan.Generator(
      image_size=m.image_size,
      gf_dim=m.gf_dim,
      c_dim=m.c_dim,
      text_modulation=m.get("text_modulation", False),
      dtype=jnp.dtype(m.dtype),
  )


def make_critic(config: ml_collections.ConfigDict) -> wgan.Critic:
  """The critic `config.model` describes."""
  m = config.model
  return wgan.Critic(
      image_size=m.image_size,
      df_dim=m.df_dim,
      contrastive=config.loss.get("contrastive_weight", 0.0) > 0,
      dtype=jnp.dtype(m.dtype),
  )


def split_batches(x: jax.Array, n: int) -> jax.Array:
  """[n·B, ...] -> [n, B, ...]: batch i holds rows i, n + i, 2n + i, ...

  Each device's contiguous block of a data-sharded input then stays on it: no data moves.
  """
  return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """The WGAN family from the full config (data, text, model, loss, optimizer, ema)."""
  loss = config.loss
  if loss.lipschitz not in LIPSCHITZ:
    raise errors.ConfigError(f"config.loss.lipschitz={loss.lipschitz!r} is not one of {LIPSCHITZ}.")
  if loss.n_critic < 1:
    raise errors.ConfigError(f"config.loss.n_critic={loss.n_critic} must be at least 1.")
  critic_objective = loss.get("objective", "wasserstein")
  if critic_objective not in wgan_losses.OBJECTIVES:
    raise errors.ConfigError(
        f"config.loss.objective={critic_objective!r} is not one of {wgan_losses.OBJECTIVES}."
    )
  mismatch_weight = loss.get("mismatch_weight", 0.0)
  contrastive_weight = loss.get("contrastive_weight", 0.0)
  policies = tuple(loss.get("augment", ()))
  truncation = config.model.get("truncation")
  image_key = text_to_image.image_key(config)
  generator, critic = make_generator(config), make_critic(config)
  text = conditioning.make_text_conditioning(config.text, data=config.data)
  txs, learning_rate_fn = gan_state.make_optimizers(config.optimizer, config.train.num_steps)
  noise = functools.partial(
      gan_state.generator_noise, z_dim=config.model.z_dim, c_dim=config.model.c_dim
  )

  def init_state(rng, batch):
    gen_rng, critic_rng, noise_rng = jax.random.split(rng, 3)
    sentence = text.encode(batch)
    z, eps = noise(noise_rng, sentence.shape[0])
    gen_vars = generator.init(gen_rng, z, sentence, eps, train=False)
    critic_vars = critic.init(critic_rng, batch[image_key], sentence)
    return gan_state.GanState.create(
        params={gan_state.GEN: gen_vars["params"], gan_state.DISC: critic_vars["params"]},
        batch_stats={gan_state.GEN: gen_vars["batch_stats"], gan_state.DISC: {}},
        txs=txs,
    )

  def generate_train(state, gen_params, sentence, rng):
    """G in train mode: ((images, mu, logvar), new batch statistics)."""
    z, eps = noise(rng, sentence.shape[0])
    variables = {"params": gen_params, "batch_stats": state.batch_stats[gan_state.GEN]}
    return gan_state.apply_in_train_mode(generator, variables, z, sentence, eps)

  def augment(images, rng):
    return diff_augment.augment(images, rng, policies) if policies else images

  def scores_and_contrastive_loss(critic_params, images, sentence):
    """(critic scores [B], the contrastive loss of images and their captions; 0 when off)."""
    variables = {"params": critic_params}
    if not contrastive_weight:
      return critic.apply(variables, images, sentence), jnp.zeros(())
    scores, sown = critic.apply(variables, images, sentence, mutable=["intermediates"])
    (image_embedding,), (text_embedding,) = (
        sown["intermediates"][name] for name in ("image_embedding", "text_embedding")
    )
    return scores, dual_encoder.contrastive_loss(
        image_embedding, text_embedding, 1.0 / loss.contrastive_temperature
    )

  def critic_update(state, real, sentence, rng):
    """One critic update on (real, fresh fakes, real with rolled captions) -> (state, metrics)."""
    gen_rng, alpha_rng = jax.random.split(rng)
    aug_rng = jax.random.fold_in(rng, 2)
    (fake, _, _), _ = generate_train(state, state.params[gan_state.GEN], sentence, gen_rng)
    fake = jax.lax.stop_gradient(fake)
    alpha = jax.random.uniform(alpha_rng, (real.shape[0],))
    real, fake = augment(real, aug_rng), augment(fake, jax.random.fold_in(aug_rng, 1))

    def objective(critic_params):
      critic_fn = lambda images, s: critic.apply({"params": critic_params}, images, s)
      score = lambda images: critic_fn(images, sentence)
      real_scores, contrastive = scores_and_contrastive_loss(critic_params, real, sentence)
      fake_scores = score(fake)
      mismatched_scores = (
          critic_fn(real, jnp.roll(sentence, 1, axis=0)) if mismatch_weight else real_scores
      )
      penalty, weight = jnp.zeros(()), 0.0
      if loss.lipschitz == "gp":
        penalty, weight = wgan_losses.gradient_penalty(score, real, fake, alpha), loss.gp_weight
      elif loss.lipschitz == "magp":
        penalty = wgan_losses.matching_gradient_penalty(critic_fn, real, sentence, loss.magp_power)
        weight = loss.magp_weight
      value = wgan_losses.matching_critic_loss(
          real_scores,
          fake_scores,
          mismatched_scores,
          objective=critic_objective,
          mismatch_weight=mismatch_weight,
      )
      return (
          value + weight * penalty + contrastive_weight * contrastive,
          {
              "wasserstein": wgan_losses.wasserstein_estimate(real_scores, fake_scores),
              "mismatch_gap": wgan_losses.wasserstein_estimate(real_scores, mismatched_scores),
              "gradient_penalty": penalty,
              "critic_contrastive": contrastive,
          },
      )

    (value, terms), grads = jax.value_and_grad(objective, has_aux=True)(
        state.params[gan_state.DISC]
    )
    state = state.apply_disc_gradients(grads, batch_stats={})
    if loss.lipschitz == "clip":
      clipped = wgan_losses.clip_weights(state.params[gan_state.DISC], loss.clip_value)
      state = state.replace(params={**state.params, gan_state.DISC: clipped})
    return state, {"critic_loss": value, **terms, "critic_grad_norm": optax.global_norm(grads)}

  def train_step(state, batch, rng):
    """n_critic critic updates and one generator update; `batch` holds n_critic batches."""
    rng = jax.random.fold_in(rng, state.step)
    critic_rng, gen_rng = jax.random.split(rng)
    sentences = split_batches(text.encode(batch), loss.n_critic)
    reals = split_batches(batch[image_key], loss.n_critic)
    # Unrolled: XLA:CPU runs the critic's gradient-penalty update several times slower inside a
    # while loop than unrolled, and n_critic is small.
    state, critic_metrics = jax.lax.scan(
        lambda s, xs: critic_update(s, *xs),
        state,
        (reals, sentences, jax.random.split(critic_rng, loss.n_critic)),
        unroll=True,
    )
    sentence = sentences[-1]

    def gen_objective(gen_params):
      (images, mu, logvar), stats = generate_train(state, gen_params, sentence, gen_rng)
      images = augment(images, jax.random.fold_in(gen_rng, 1))
      scores, contrastive = scores_and_contrastive_loss(
          state.params[gan_state.DISC], images, sentence
      )
      adversarial = wgan_losses.generator_loss(scores)
      kl = conditioning_augmentation.kl_loss(mu, logvar)
      value = adversarial + loss.kl_weight * kl + contrastive_weight * contrastive
      return value, (stats, {"g_adversarial": adversarial, "kl": kl, "g_contrastive": contrastive})

    (g_loss, (stats, g_terms)), grads = jax.value_and_grad(gen_objective, has_aux=True)(
        state.params[gan_state.GEN]
    )
    state = state.apply_gen_gradients(grads, batch_stats=stats, ema_decay=config.ema.decay)
    last_critic = jax.tree.map(lambda values: values[-1], critic_metrics)
    return state, {
        **last_critic,
        "g_loss": g_loss,
        **g_terms,
        "g_grad_norm": optax.global_norm(grads),
    }

  def sample(params, batch, rng):
    """The EMA generator's images [B,S,S,3] in [-1, 1] for the batch's text."""
    sentence = text.encode(batch)
    if truncation:
      z_rng, eps_rng = jax.random.split(rng)
      size = sentence.shape[0]
      z = jax.random.truncated_normal(z_rng, -truncation, truncation, (size, config.model.z_dim))
      eps = jax.random.truncated_normal(
          eps_rng, -truncation, truncation, (size, config.model.c_dim)
      )
    else:
      z, eps = noise(rng, sentence.shape[0])
    images, _, _ = generator.apply(params, z, sentence, eps, train=False)
    return images

  return text_to_image.make_family(
      config,
      text,
      init_state=init_state,
      train_step=train_step,
      sample=sample,
      learning_rate_fn=learning_rate_fn,
      batches_per_step=loss.n_critic,
  )
