"""Conditioning augmentation (StackGAN, Zhang et al.): a Gaussian text code around a sentence
vector.

A sentence vector is mapped by one Dense layer and a GLU to the mean and log-variance of a diagonal
Gaussian; the generator is conditioned on a reparameterised sample of it, and the KL divergence to
N(0, I) keeps that Gaussian smooth. Used by the StackGAN generators and the WGAN generator.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def kl_loss(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mu, exp(logvar)) || N(0, I)) as StackGAN++'s `KL_loss`: mu, logvar [B,D] -> scalar.

  StackGAN++ averages the per-element terms over batch *and* code dimensions:
  mean(-0.5 * (1 + logvar - mu^2 - exp(logvar))), i.e. the usual per-sample KL divided by D.
  """
  mu = mu.astype(jnp.float32)
  logvar = logvar.astype(jnp.float32)
  return jnp.mean(-0.5 * (1.0 + logvar - jnp.square(mu) - jnp.exp(logvar)))


class ConditioningAugmentation(nn.Module):
  """Sentence vector [B,E] -> (c, mu, logvar), each float32 [B,c_dim].

  As StackGAN++'s CA_NET: Dense(4 c_dim) -> GLU -> split into mu and logvar; then
  c = mu + exp(logvar / 2) * eps with eps ~ N(0, I).

  Attributes:
    c_dim: size of the text code (StackGAN++ GAN.EMBEDDING_DIM, 128).
    dtype: compute dtype; parameters and outputs are float32.
  """

  c_dim: int = 128
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self, sentence: jax.Array, eps: jax.Array | None = None
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """sentence [B,E], eps [B,c_dim] or None -> c, mu, logvar [B,c_dim] float32.

    Without `eps`, apply needs rngs={'noise': key} and draws eps ~ N(0, I) from it.
    """
    if sentence.ndim != 2:
      raise ValueError(
          f"ConditioningAugmentation sentence must be [B,E]; got shape {sentence.shape}"
      )
    h = nn.Dense(4 * self.c_dim, dtype=self.dtype, param_dtype=jnp.float32, name="fc")(sentence)
    mu, logvar = jnp.split(jax.nn.glu(h, axis=-1).astype(jnp.float32), 2, axis=-1)
    if eps is None:
      eps = jax.random.normal(self.make_rng("noise"), mu.shape, jnp.float32)
    elif eps.shape != mu.shape:
      raise ValueError(f"ConditioningAugmentation eps must have shape {mu.shape}; got {eps.shape}")
    return mu + jnp.exp(0.5 * logvar) * eps, mu, logvar
