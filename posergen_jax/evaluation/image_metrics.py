"""Per-image fidelity metrics: PSNR and SSIM (dm-pix), for images in [-1, 1]."""

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
  pred01 = jnp.clip((pred.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0)
  target01 = jnp.clip((target.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0)
  return {"psnr": dm_pix.psnr(pred01, target01), "ssim": dm_pix.ssim(pred01, target01)}
