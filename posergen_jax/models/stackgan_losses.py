"""Gt-StackGAN losses as pure functions: StackGAN++'s discriminator and generator terms, VGG L1.

Discriminator outputs are (cond, uncond) pairs of pre-sigmoid logits [B] (models/stackgan.py); the
losses use binary cross-entropy on logits where StackGAN++ uses Sigmoid + BCELoss. Weights follow
StackGAN++'s birds config (UNCOND_LOSS 1.0, TRAIN.COEFF.KL 2.0, COLOR_LOSS 0 for birds, colour terms
weighted 1 for means and 5 for covariances) and Gt-StackGAN's fidelity weight µ = 0.001.

As in StackGAN++, discriminators see the CA mean mu (with stop_gradient when training D), not the
sampled code; a mismatched pair is a sample's text code with the real image of a sample of another
class (StackGAN++ draws a `wrong_ix` of a different `class_id`).
"""

from collections.abc import Sequence
import itertools

import jax
import jax.numpy as jnp
import optax

from posergen_jax.models.conditioning_augmentation import kl_loss

# StackGAN++ defaults (birds_3stages.yml over miscc/config.py).
UNCOND_WEIGHT = 1.0
KL_WEIGHT = 2.0
COLOR_WEIGHT = 0.0
# StackGAN++ compute_mean_covariance terms: weight of the mean and of the covariance MSE.
COLOR_MEAN_WEIGHT = 1.0
COLOR_COV_WEIGHT = 5.0
# Gt-StackGAN's weight µ of the VGG feature L1 fidelity loss.
FIDELITY_WEIGHT = 0.001
FIDELITY_REDUCTIONS = ("mean", "sum")  # fidelity_loss's ways of reducing the feature L1.

Logits = tuple[jax.Array, jax.Array]  # (cond, uncond), each [B]


def _bce(logits: jax.Array, label: float) -> jax.Array:
  """Mean binary cross-entropy of logits [B] against a constant label: -> scalar."""
  logits = logits.astype(jnp.float32)
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def mismatched_indices(labels: jax.Array) -> jax.Array:
  """For each sample of class `labels` [B] (int; -1: unknown), another sample of another class:
  (i − k) mod B for the smallest k ≥ 1 whose label differs (an unknown label differs from every
  label), or k = 1 when the whole batch is one class. -> int32 [B]."""
  size = labels.shape[0]
  index = jnp.arange(size)
  if size == 1:
    return index
  candidates = (index[:, None] - jnp.arange(1, size)[None, :]) % size  # [B, B-1]
  other = labels[candidates]
  differs = (other != labels[:, None]) | (other < 0) | (labels[:, None] < 0)
  return candidates[index, jnp.argmax(differs, axis=1)].astype(jnp.int32)  # argmax 0: k = 1


def discriminator_loss(
    real: Logits, wrong: Logits, fake: Logits, uncond_weight: float = UNCOND_WEIGHT
) -> jax.Array:
  """StackGAN++ train_Dnet for one scale: logits of (real, text), (wrong real, text), (fake, text),
  the wrong real image being another class's.

  Conditional logits: real -> 1, wrong -> 0, fake -> 0. With uncond_weight > 0 the unconditional
  logits add uncond_weight * BCE (real -> 1, wrong -> 1 since its image is real, fake -> 0) and the
  three parts are summed; with uncond_weight = 0 StackGAN++ uses real + (wrong + fake) / 2.
  Each argument is (cond [B], uncond [B]); returns a float32 scalar.
  """
  err_real, err_wrong, err_fake = _bce(real[0], 1.0), _bce(wrong[0], 0.0), _bce(fake[0], 0.0)
  if uncond_weight <= 0:
    return err_real + 0.5 * (err_wrong + err_fake)
  err_real += uncond_weight * _bce(real[1], 1.0)
  err_wrong += uncond_weight * _bce(wrong[1], 1.0)
  err_fake += uncond_weight * _bce(fake[1], 0.0)
  return err_real + err_wrong + err_fake


def generator_adversarial_loss(fake: Logits, uncond_weight: float = UNCOND_WEIGHT) -> jax.Array:
  """BCE of (cond [B], uncond [B]) fake logits against "real": cond + uncond_weight * uncond."""
  return _bce(fake[0], 1.0) + uncond_weight * _bce(fake[1], 1.0)


def mean_covariance(images: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per-image colour mean [B,C] and covariance [B,C,C] over pixels of images [B,H,W,C].

  Covariance divides by the pixel count (StackGAN++ compute_mean_covariance).
  """
  images = images.astype(jnp.float32)
  mu = jnp.mean(images, axis=(1, 2))
  centred = (images - mu[:, None, None, :]).reshape(images.shape[0], -1, images.shape[-1])
  return mu, jnp.einsum("bnc,bnd->bcd", centred, centred) / centred.shape[1]


def color_consistency_loss(images: Sequence[jax.Array]) -> jax.Array:
  """StackGAN++ colour-consistency loss over consecutive stages' images [B,H_i,W_i,3]: -> scalar.

  For each pair (lower, higher) of consecutive scales: MSE of colour means + 5 * MSE of colour
  covariances, with the lower scale held fixed (stop_gradient). Zero for a single stage. Scale by
  StackGAN++'s COLOR_LOSS coefficient (`color_weight` in generator_loss).
  """
  total = jnp.zeros((), jnp.float32)
  for lower, higher in itertools.pairwise(images):
    mu_lo, cov_lo = jax.lax.stop_gradient(mean_covariance(lower))
    mu_hi, cov_hi = mean_covariance(higher)
    total += COLOR_MEAN_WEIGHT * jnp.mean(jnp.square(mu_hi - mu_lo)) + COLOR_COV_WEIGHT * jnp.mean(
        jnp.square(cov_hi - cov_lo)
    )
  return total


def fidelity_loss(
    fake_features: jax.Array, real_features: jax.Array, reduction: str = "mean"
) -> jax.Array:
  """L1 between VGG features of generated and real images, both [B,h,w,C]: -> scalar.

  reduction "mean": the mean over every element (torch's nn.L1Loss()); "sum": each image's L1
  norm ||φ(fake) − φ(real)||_1 (the sum over h, w and C), averaged over the batch, which is
  h·w·C times larger. The real features are held fixed (stop_gradient).
  """
  real_features = jax.lax.stop_gradient(real_features.astype(jnp.float32))
  distance = jnp.abs(fake_features.astype(jnp.float32) - real_features)
  if reduction == "mean":
    return jnp.mean(distance)
  if reduction == "sum":
    return jnp.mean(jnp.sum(distance, axis=(1, 2, 3)))
  raise ValueError(f"fidelity reduction {reduction!r} is not one of {FIDELITY_REDUCTIONS}")


def generator_loss(
    fake_logits: Sequence[Logits],
    mu: jax.Array,
    logvar: jax.Array,
    fake_images: Sequence[jax.Array],
    fake_features: jax.Array | None = None,
    real_features: jax.Array | None = None,
    *,
    uncond_weight: float = UNCOND_WEIGHT,
    kl_weight: float = KL_WEIGHT,
    color_weight: float = COLOR_WEIGHT,
    fidelity_weight: float = FIDELITY_WEIGHT,
    fidelity_reduction: str = "mean",
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """StackGAN++ train_Gnet plus Gt-StackGAN's fidelity term: -> (total scalar, {term: scalar}).

  Args:
    fake_logits: per scale, the discriminator's (cond [B], uncond [B]) on the generated image
      with the CA mean mu.
    mu, logvar: CA outputs [B,c_dim].
    fake_images: the generator's images per stage [B,H_i,W_i,3] (for the colour loss).
    fake_features, real_features: VGG features [B,h,w,C] of the final generated and real images;
      required when fidelity_weight > 0.
    uncond_weight, kl_weight, color_weight, fidelity_weight: weights of the terms.
    fidelity_reduction: how `fidelity_loss` reduces the feature L1 ("mean" | "sum").
  """
  terms = {
      "adversarial": sum(
          generator_adversarial_loss(logits, uncond_weight) for logits in fake_logits
      ),
      "kl": kl_loss(mu, logvar),
  }
  total = terms["adversarial"] + kl_weight * terms["kl"]
  if color_weight > 0:
    terms["color"] = color_consistency_loss(fake_images)
    total += color_weight * terms["color"]
  if fidelity_weight > 0:
    if fake_features is None or real_features is None:
      raise ValueError(
          "generator_loss needs fake_features and real_features when "
          f"fidelity_weight > 0 (got fidelity_weight={fidelity_weight})"
      )
    terms["fidelity"] = fidelity_loss(fake_features, real_features, fidelity_reduction)
    total += fidelity_weight * terms["fidelity"]
  return total, terms
