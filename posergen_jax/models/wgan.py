"""GAN_SR3's first stage: a text-conditioned generator to 64x64 and its Wasserstein critic.

Generator (GAN_SR3: "text vector ⊕ 1-D Gaussian noise → upsample + conv → 64×64"): conditioning
augmentation turns the sentence vector into a text code c (as in StackGAN, so nearby prompts give
nearby codes); z ⊕ c goes through a Dense layer to a 4x4 map, then upsampling blocks (nearest x2,
3x3 conv, BatchNorm, ReLU) that halve the channels, and a 3x3 conv + tanh to RGB. With
`text_modulation` (DF-GAN's affine fusion, Tao et al. 2022), every block's normalised map is also
scaled and shifted per channel by (1 + γ(c), β(c)), two small MLPs of the text code whose last
layers start at zero, so the text reaches every resolution rather than the input layer alone.

Critic (WGAN-GP, Gulrajani et al. 2017): strided 4x4 convs with LeakyReLU(0.2) down to 4x4, with
LayerNorm rather than BatchNorm (the gradient penalty is per example, so the critic must not mix
examples); the text enters by projection (Miyato & Koyama 2018):
score = w·flat(h) + <V s, Σ_ij h_ij>, with h the last 4x4 feature map and s the sentence vector:
an unbounded real score per example, float32 [B]. With `contrastive` (XMC-GAN's sentence
contrastive heads, Zhang et al. 2021), it also sows two unit embeddings into the 'intermediates'
collection: 'image_embedding', a Dense of h averaged over space, and 'text_embedding', a Dense
of s, both [B,C] with C the last map's channels, for a contrastive loss between image and caption.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from posergen_jax.models import dual_encoder, strided_conv
from posergen_jax.models.conditioning_augmentation import ConditioningAugmentation

# Side of the generator's first feature map and of the critic's last.
BASE_SIDE = 4
LEAKY_SLOPE = 0.2


def num_resamples(image_size: int) -> int:
  """Upsampling blocks from BASE_SIDE to `image_size` (a power of two >= 8), e.g. 64 -> 4."""
  steps = math.log2(image_size / BASE_SIDE)
  if image_size < 2 * BASE_SIDE or steps != int(steps):
    raise ValueError(
        f"WGAN image_size must be a power of two >= {2 * BASE_SIDE}; got {image_size}."
    )
  return int(steps)


class Generator(nn.Module):
  """(z [B,z_dim], sentence [B,E], eps [B,c_dim]) -> (images [B,S,S,3] in [-1,1], mu, logvar).

  Attributes:
    image_size: S, a power of two >= 8 (64 in GAN_SR3).
    gf_dim: channels of the last upsampling block; the 4x4 map has gf_dim * 2**(blocks - 1).
    c_dim: size of the text code from conditioning augmentation.
    text_modulation: scale and shift every block's normalised map by MLPs of the text code.
    dtype: compute dtype; parameters, images, mu and logvar are float32.
  """

  image_size: int = 64
  gf_dim: int = 64
  c_dim: int = 128
  text_modulation: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self, z: jax.Array, sentence: jax.Array, eps: jax.Array, *, train: bool
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """With train=True, apply needs mutable=['batch_stats']; mu, logvar are [B,c_dim]."""
    blocks = num_resamples(self.image_size)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=jnp.float32)
    conv = functools.partial(nn.Conv, kernel_size=(3, 3), dtype=self.dtype, param_dtype=jnp.float32)
    norm = functools.partial(
        nn.BatchNorm,
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        dtype=self.dtype,
        param_dtype=jnp.float32,
    )
    code, mu, logvar = ConditioningAugmentation(self.c_dim, self.dtype, name="ca")(sentence, eps)
    channels = self.gf_dim * 2 ** (blocks - 1)
    h = dense(BASE_SIDE * BASE_SIDE * channels, use_bias=False, name="fc")(
        jnp.concatenate([z.astype(jnp.float32), code], axis=-1)
    )
    h = jax.nn.relu(norm(name="fc_norm")(h.reshape(-1, BASE_SIDE, BASE_SIDE, channels)))
    for i in range(blocks):
      h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
      h = conv(max(self.gf_dim, channels // 2 ** (i + 1)), use_bias=False, name=f"up{i}")(h)
      h = norm(name=f"up{i}_norm")(h)
      if self.text_modulation:
        h = TextAffine(h.shape[-1], self.dtype, name=f"up{i}_text")(h, code)
      h = jax.nn.relu(h)
    images = jnp.tanh(conv(3, name="to_rgb")(h))
    return images.astype(jnp.float32), mu, logvar


class TextAffine(nn.Module):
  """DF-GAN's affine text fusion: (h [B,H,W,C], code [B,D]) -> h * (1 + γ(code)) + β(code).

  γ and β are each Dense(C) -> ReLU -> Dense(C) of the code, with the last layer initialised to
  zero, so the block starts as the identity.
  """

  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, code: jax.Array) -> jax.Array:
    def mlp(name):
      hidden = nn.Dense(self.channels, dtype=self.dtype, param_dtype=jnp.float32, name=f"{name}0")
      out = nn.Dense(
          self.channels,
          dtype=self.dtype,
          param_dtype=jnp.float32,
          kernel_init=nn.initializers.zeros,
          name=f"{name}1",
      )
      return out(jax.nn.relu(hidden(code)))[:, None, None, :]

    return h * (1.0 + mlp("gamma")) + mlp("beta")


class Critic(nn.Module):
  """(images [B,S,S,3], sentence [B,E]) -> Wasserstein scores float32 [B].

  Attributes:
    image_size: S, a power of two >= 8.
    df_dim: channels of the first conv; each next conv doubles them.
    contrastive: also sow the image and text embeddings (apply with mutable=['intermediates']).
    dtype: compute dtype; parameters and scores are float32.
  """

  image_size: int = 64
  df_dim: int = 64
  contrastive: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, sentence: jax.Array) -> jax.Array:
    blocks = num_resamples(self.image_size)
    if images.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(
          f"Critic images must be [B,{self.image_size},{self.image_size},3]; "
          f"got {images.shape}."
      )
    h = images.astype(self.dtype)
    for i in range(blocks):
      h = nn.Conv(
          self.df_dim * 2**i,
          (4, 4),
          strides=(2, 2),
          padding=((1, 1), (1, 1)),
          dtype=self.dtype,
          param_dtype=jnp.float32,
          conv_general_dilated=strided_conv.conv_general_dilated,
          name=f"down{i}",
      )(h)
      if i:  # As DCGAN/WGAN-GP: no normalisation on the first layer.
        h = nn.LayerNorm(
            reduction_axes=(-3, -2, -1),
            dtype=self.dtype,
            param_dtype=jnp.float32,
            name=f"down{i}_norm",
        )(h)
      h = nn.leaky_relu(h, LEAKY_SLOPE)
    h = h.astype(jnp.float32)
    score = nn.Dense(1, name="score")(h.reshape(h.shape[0], -1))[:, 0]
    text = nn.Dense(h.shape[-1], use_bias=False, name="text_projection")(
        sentence.astype(jnp.float32)
    )
    if self.contrastive:
      channels = h.shape[-1]
      image_embedding = nn.Dense(channels, name="image_head")(jnp.mean(h, axis=(1, 2)))
      text_embedding = nn.Dense(channels, name="text_head")(sentence.astype(jnp.float32))
      self.sow("intermediates", "image_embedding", dual_encoder.unit(image_embedding))
      self.sow("intermediates", "text_embedding", dual_encoder.unit(text_embedding))
    return score + jnp.sum(text * jnp.sum(h, axis=(1, 2)), axis=-1)
