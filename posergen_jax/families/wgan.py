"""WGAN family (GAN_SR3's first stage): prompt vector ⊕ noise -> 64x64, for the trainer.

One train step is `config.loss.n_critic` critic updates then one generator update (WGAN's
schedule). As in the WGAN-GP reference, every critic update sees a real batch of its own, with
fresh noise (and fresh interpolation points for the gradient penalty), so a step reads n_critic
batches from the pipeline; the generator update reads the last one's captions.
The Lipschitz constraint is `config.loss.lipschitz`: 'gp' adds λ·E[(||∇D||-1)^2] (WGAN-GP,
λ = `gp_weight`, Adam in the paper) or 'clip' clips the critic's weights to ±`clip_value` after
each update (the original WGAN, RMSProp in the paper). The generator's loss is -E[D(G(z, c))]
plus `kl_weight` times conditioning augmentation's KL term.

G runs in train mode (batch statistics) in every update; only the generator update keeps its
new running statistics. Sampling and evaluation run the EMA generator in inference mode.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.families import gan_state, text_to_image
from posergen_jax.io import errors
from posergen_jax.models import conditioning_augmentation, wgan, wgan_losses
from posergen_jax.text import conditioning
from posergen_jax.training import family

LIPSCHITZ = ("gp", "clip")


def make_generator(config: ml_collections.ConfigDict) -> wgan.Generator:
  """The generator `config.model` describes."""
  m = config.model
  return wgan.Generator(
      image_size=m.image_size, gf_dim=m.gf_dim, c_dim=m.c_dim, dtype=jnp.dtype(m.dtype)
  )


def make_critic(config: ml_collections.ConfigDict) -> wgan.Critic:
  """The critic `config.model` describes."""
  m = config.model
  return wgan.Critic(image_size=m.image_size, df_dim=m.df_dim, dtype=jnp.dtype(m.dtype))


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

  def critic_update(state, real, sentence, rng):
    """One critic update on (real, fresh fakes) -> (state, its metrics)."""
    gen_rng, alpha_rng = jax.random.split(rng)
    (fake, _, _), _ = generate_train(state, state.params[gan_state.GEN], sentence, gen_rng)
    fake = jax.lax.stop_gradient(fake)
    alpha = jax.random.uniform(alpha_rng, (real.shape[0],))

    def objective(critic_params):
      score = lambda images: critic.apply({"params": critic_params}, images, sentence)
      real_scores, fake_scores = score(real), score(fake)
      penalty = (
          wgan_losses.gradient_penalty(score, real, fake, alpha)
          if loss.lipschitz == "gp"
          else jnp.zeros(())
      )
      return (
          wgan_losses.critic_loss(real_scores, fake_scores) + loss.gp_weight * penalty,
          {
              "wasserstein": wgan_losses.wasserstein_estimate(real_scores, fake_scores),
              "gradient_penalty": penalty,
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
    # Unrolled: XLA:CPU runs the critic's gradient-penalty update ~7x slower inside a while
    # loop than unrolled (0.66 vs 0.095 s per update, widths 16, batch 16); n_critic is small.
    state, critic_metrics = jax.lax.scan(
        lambda s, xs: critic_update(s, *xs),
        state,
        (reals, sentences, jax.random.split(critic_rng, loss.n_critic)),
        unroll=True,
    )
    sentence = sentences[-1]

    def objective(gen_params):
      (images, mu, logvar), stats = generate_train(state, gen_params, sentence, gen_rng)
      scores = critic.apply({"params": state.params[gan_state.DISC]}, images, sentence)
      adversarial = wgan_losses.generator_loss(scores)
      kl = conditioning_augmentation.kl_loss(mu, logvar)
      return adversarial + loss.kl_weight * kl, (stats, {"g_adversarial": adversarial, "kl": kl})

    (g_loss, (stats, g_terms)), grads = jax.value_and_grad(objective, has_aux=True)(
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
