"""Per-image fidelity metrics for images in [-1, 1]: PSNR and SSIM (dm-pix), and the colour
error (how far an image's mean colour drifted from its target's)."""

import dm_pix
import jax
import jax.numpy as jnp


def psnr_ssim(pred: jax.Array, target: jax.Array) -> dict[str, jax.Array]:
  """PSNR (dB) and SSIM of each image pair.

  Args:
    pred: `[B, H, W, C]` in [-1, 1].
    target: `[B, H, W, C]` in [-1, 1].

  Returns:
    `{"psnr": [B], "ssim": [B]}`, computed on [0, 1] images (max value 1).
  """
  pred01, target01 = _unit(pred), _unit(target)
  return {"psnr": dm_pix.psnr(pred01, target01), "ssim": dm_pix.ssim(pred01, target01)}


def colour_error(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean colour drift of each image pair, in 8-bit levels.

  Args:
    pred: `[B, H, W, C]` in [-1, 1].
    target: `[B, H, W, C]` in [-1, 1].

  Returns:
    `[B]`: the mean over channels of |mean pixel of `pred` − mean pixel of `target`|, × 255
    (0: the same average colour; a cascade that tints its output scores above bicubic).
  """
  drift = jnp.mean(_unit(pred), axis=(1, 2)) - jnp.mean(_unit(target), axis=(1, 2))
  return 255.0 * jnp.mean(jnp.abs(drift), axis=-1)


def fidelity(pred: jax.Array, target: jax.Array) -> dict[str, jax.Array]:
  """`psnr_ssim` and `colour_error` of each pair: {"psnr", "ssim", "colour_error"}, each [B]."""
  return {**psnr_ssim(pred, target), "colour_error": colour_error(pred, target)}


def _unit(images: jax.Array) -> jax.Array:
  """[-1, 1] -> [0, 1] float32, clipped."""
  return jnp.clip((images.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0)
