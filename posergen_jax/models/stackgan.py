"""StackGAN++ generator tree and per-scale discriminators, with Gt-StackGAN's dual attention.

The generator follows StackGAN++'s G_NET (Zhang et al. 2018): conditioning augmentation turns the
sentence vector into a text code c; the first stage maps z ⊕ c to 64x64 features; each next stage
joins the spatially tiled c with the previous features, refines them and doubles the resolution;
every stage emits an image. Gt-StackGAN adds position and channel attention (DANet) after the joint
conv of the second stage. Discriminators are StackGAN++'s D_NET64/128/256: each scores an image
unconditionally and jointly with the text code.

Layers are StackGAN++'s: 3x3 convs without bias, BatchNorm, GLU in the generator, LeakyReLU(0.2) in
the discriminators. BatchNorm keeps running statistics in the `batch_stats` collection: with
train=True call apply with mutable=['batch_stats'] and keep the returned statistics; with
train=False the running averages are used. Parameter initialisation is Flax's default (StackGAN++
uses orthogonal init).
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from posergen_jax.models.conditioning_augmentation import ConditioningAugmentation
from posergen_jax.models.dual_attention import DualAttention

# Side of the first stage's feature map and of every discriminator's final feature map.
BASE_SIDE = 4
# Side of the first stage's output image.
BASE_IMAGE_SIZE = 64
LEAKY_SLOPE = 0.2
# Residual blocks per next stage (StackGAN++ GAN.R_NUM).
NUM_RESIDUAL = 2


def _layers(dtype: Any, train: bool):
  """Bias-free conv, Dense and BatchNorm (torch defaults) computing in `dtype`, float32 params."""
  return (
      functools.partial(nn.Conv, use_bias=False, dtype=dtype, param_dtype=jnp.float32),
      functools.partial(nn.Dense, dtype=dtype, param_dtype=jnp.float32),
      functools.partial(
          nn.BatchNorm,
          use_running_average=not train,
          momentum=0.9,
          epsilon=1e-5,
          dtype=dtype,
          param_dtype=jnp.float32,
      ),
  )


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour x2: [B,H,W,C] -> [B,2H,2W,C]."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _tile(code: jax.Array, side: int) -> jax.Array:
  """Text code [B,E] repeated over a side x side grid: -> [B,side,side,E]."""
  return jnp.broadcast_to(code[:, None, None, :], (code.shape[0], side, side, code.shape[-1]))


class GLUBlock(nn.Module):
  """[nearest x2 ->] 3x3 conv to 2 out_ch -> BN -> GLU: [B,H,W,C] -> [B,H',W',out_ch].

  StackGAN++'s upBlock (upsample=True, H' = 2H) and Block3x3_relu (upsample=False, H' = H).
  """

  out_ch: int
  upsample: bool
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv, _, norm = _layers(self.dtype, train)
    if self.upsample:
      x = _upsample(x)
    x = norm()(conv(2 * self.out_ch, (3, 3))(x))
    return jax.nn.glu(x, axis=-1)


class ResBlock(nn.Module):
  """x + BN(conv(GLU(BN(conv(x))))) with 3x3 convs: [B,H,W,C] -> [B,H,W,C]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv, _, norm = _layers(self.dtype, train)
    channels = x.shape[-1]
    h = GLUBlock(channels, upsample=False, dtype=self.dtype)(x, train=train)
    return x + norm()(conv(channels, (3, 3))(h))


class InitStage(nn.Module):
  """StackGAN++ INIT_STAGE_G: z [B,Z], c [B,E] -> features [B,64,64,channels/16].

  (c ⊕ z) -> Dense (no bias) -> BN -> GLU -> [B,4,4,channels] -> 4 GLU upsample blocks halving the
  width each time.

  Attributes:
    channels: width at 4x4 (StackGAN++: 16 GF_DIM); must be divisible by 16.
  """

  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, c: jax.Array, *, train: bool) -> jax.Array:
    _, dense, norm = _layers(self.dtype, train)
    h = jnp.concatenate([c, z], axis=-1)
    h = norm()(dense(2 * self.channels * BASE_SIDE**2, use_bias=False)(h))
    h = jax.nn.glu(h, axis=-1).reshape(-1, BASE_SIDE, BASE_SIDE, self.channels)
    for level in range(1, 5):
      h = GLUBlock(self.channels // 2**level, upsample=True, dtype=self.dtype)(h, train=train)
    return h


class NextStage(nn.Module):
  """StackGAN++ NEXT_STAGE_G with attention: h [B,S,S,C], c [B,E] -> [B,2S,2S,C/2].

  (tiled c ⊕ h) -> joint GLU conv to C -> DualAttention(attention) -> NUM_RESIDUAL residual
  blocks -> GLU upsample block to C/2.

  Attributes:
    attention: DualAttention mode ('none' | 'pam' | 'cam' | 'dual').
  """

  attention: str = "none"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, c: jax.Array, *, train: bool) -> jax.Array:
    channels = h.shape[-1]
    h = jnp.concatenate([_tile(c, h.shape[1]).astype(h.dtype), h], axis=-1)
    h = GLUBlock(channels, upsample=False, dtype=self.dtype, name="joint")(h, train=train)
    h = DualAttention(self.attention, self.dtype, name="attention")(h)
    for _ in range(NUM_RESIDUAL):
      h = ResBlock(self.dtype)(h, train=train)
    return GLUBlock(channels // 2, upsample=True, dtype=self.dtype)(h, train=train)


class GetImage(nn.Module):
  """StackGAN++ GET_IMAGE_G: 3x3 conv (no bias) to RGB -> tanh. [B,H,W,C] -> float32 [B,H,W,3]."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    conv, _, _ = _layers(self.dtype, train=False)
    return jnp.tanh(conv(3, (3, 3))(h)).astype(jnp.float32)


class Generator(nn.Module):
  """Gt-StackGAN generator: z, sentence -> ([images per stage], mu, logvar).

  Stage i (0-based) emits an image of side 64 * 2**i in [-1, 1]: 2 stages give 64 and 128, 3 give
  64, 128 and 256. Dual attention runs in the second stage only (the paper's place): at the third
  stage's 128x128 input PAM's affinity would be 16384^2 per image.

  Attributes:
    gf_dim: base width (StackGAN++ GAN.GF_DIM, 64); the first stage works at 16 gf_dim at 4x4 and
      ends at gf_dim at 64x64, each next stage halves it. Must be divisible by 2**(num_stages - 1).
    c_dim: text code size (StackGAN++ GAN.EMBEDDING_DIM, 128).
    num_stages: number of stages and of output images (>= 1).
    attention: DualAttention mode of the second stage ('none' | 'pam' | 'cam' | 'dual').
    dtype: compute dtype; parameters and outputs are float32.
  """

  gf_dim: int = 64
  c_dim: int = 128
  num_stages: int = 2
  attention: str = "dual"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self, z: jax.Array, sentence: jax.Array, eps: jax.Array | None = None, *, train: bool
  ) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """z [B,Z], sentence [B,E], eps [B,c_dim] | None -> ([B,64·2^i,64·2^i,3] f32 ...), mu, logvar.

    mu and logvar are float32 [B,c_dim]. Without `eps`, apply needs rngs={'noise': key} for the
    conditioning augmentation sample; with train=True also mutable=['batch_stats'].
    """
    if self.num_stages < 1 or self.gf_dim % 2 ** (self.num_stages - 1):
      raise ValueError(
          f"Generator needs num_stages >= 1 and gf_dim divisible by "
          f"2**(num_stages-1); got gf_dim={self.gf_dim}, num_stages={self.num_stages}"
      )
    if z.ndim != 2 or sentence.ndim != 2 or z.shape[0] != sentence.shape[0]:
      raise ValueError(
          f"Generator z [B,Z] and sentence [B,E] must share B; "
          f"got shapes {z.shape} and {sentence.shape}"
      )
    c, mu, logvar = ConditioningAugmentation(self.c_dim, self.dtype, name="ca")(sentence, eps)
    c = c.astype(self.dtype)
    h = InitStage(16 * self.gf_dim, self.dtype)(z.astype(self.dtype), c, train=train)
    images = [GetImage(self.dtype)(h)]
    for stage in range(1, self.num_stages):
      attention = self.attention if stage == 1 else "none"
      h = NextStage(attention, self.dtype)(h, c, train=train)
      images.append(GetImage(self.dtype)(h))
    return images, mu, logvar


class Discriminator(nn.Module):
  """StackGAN++ D_NET64 / D_NET128 / D_NET256: image, text code -> (cond, uncond) logits.

  The image is encoded to [B,4,4,8 df_dim]: four 4x4 stride-2 convs (BN after all but the first)
  to side/16, then for each doubling of `image_size` above 64 one more stride-2 conv doubling the
  width, then 3x3 conv blocks halving it back to 8 df_dim (all with LeakyReLU 0.2). The
  unconditional logit is a 4x4 stride-4 conv of that code; the conditional one is the same on a
  3x3 conv block of (tiled text code ⊕ code). Logits are pre-sigmoid (StackGAN++ ends in Sigmoid).

  Attributes:
    image_size: input side, 64 * 2**n (64, 128, 256 are D_NET64/128/256).
    df_dim: base width (StackGAN++ GAN.DF_DIM, 64).
    dtype: compute dtype; parameters and logits are float32.
  """

  image_size: int = 64
  df_dim: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
      self, images: jax.Array, c: jax.Array, *, train: bool
  ) -> tuple[jax.Array, jax.Array]:
    """images [B,S,S,3] in [-1, 1], text code c [B,E] -> cond, uncond logits, float32 [B] each.

    With train=True apply needs mutable=['batch_stats'].
    """
    extra = (self.image_size // BASE_IMAGE_SIZE).bit_length() - 1
    if extra < 0 or self.image_size != BASE_IMAGE_SIZE * 2**extra:
      raise ValueError(f"Discriminator image_size must be 64 * 2**n; got {self.image_size}")
    if images.ndim != 4 or images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(
          f"Discriminator({self.image_size}) images must be "
          f"[B,{self.image_size},{self.image_size},C]; got shape {images.shape}"
      )
    conv, _, norm = _layers(self.dtype, train)
    leaky = functools.partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)
    down = lambda width: conv(width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
    block3x3 = lambda h, width: leaky(norm()(conv(width, (3, 3))(h)))
    logits = lambda h, name: nn.Conv(
        1,
        (4, 4),
        strides=(4, 4),
        padding="VALID",
        dtype=self.dtype,
        param_dtype=jnp.float32,
        name=name,
    )(h).reshape(-1)

    h = leaky(down(self.df_dim)(images.astype(self.dtype)))
    for level in range(1, 4 + extra):
      h = leaky(norm()(down(self.df_dim * 2**level)(h)))
    for level in reversed(range(3, 3 + extra)):
      h = block3x3(h, self.df_dim * 2**level)
    uncond = logits(h, "uncond_logits")
    joint = jnp.concatenate([_tile(c, BASE_SIDE).astype(h.dtype), h], axis=-1)
    cond = logits(block3x3(joint, 8 * self.df_dim), "cond_logits")
    return cond.astype(jnp.float32), uncond.astype(jnp.float32)
