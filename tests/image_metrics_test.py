"""Colour error: how far an image's mean colour drifted from its target's, in 8-bit levels."""

import numpy as np
import pytest

from posergen_jax.evaluation import image_metrics


def _images(seed=0):
  return np.random.default_rng(seed).uniform(-0.8, 0.8, (2, 8, 8, 3)).astype(np.float32)


def test_a_tint_of_one_channel_is_its_shift_over_the_channels():
  target = _images()
  tinted = target.copy()
  tinted[..., 0] += 0.1  # +0.05 in [0, 1] on the red channel.
  np.testing.assert_allclose(
      image_metrics.colour_error(tinted, target), [255 * 0.05 / 3] * 2, rtol=1e-5
  )


def test_detail_that_keeps_the_mean_colour_costs_nothing():
  target = _images()
  shuffled = target[:, ::-1, ::-1]  # Same pixels, other places: PSNR drops, colour does not.
  assert image_metrics.colour_error(shuffled, target) == pytest.approx([0, 0], abs=1e-4)
  assert np.all(image_metrics.psnr_ssim(shuffled, target)["psnr"] < 30)


def test_fidelity_holds_all_three():
  metrics = image_metrics.fidelity(_images(1), _images(2))
  assert sorted(metrics) == ["colour_error", "psnr", "ssim"]
  assert all(v.shape == (2,) for v in metrics.values())
