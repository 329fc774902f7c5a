"""The PyTorch twin of the SR3 U-Net (benchmarks/torch_sr3_unet.py) computes the Flax network.

The twin is the benchmark's baseline, written after the Flax module (it imports its constants):
this shows the benchmark compares like with like, not fidelity to an independent SR3.
"""

import jax
import numpy as np
import pytest
import torch

from benchmarks import torch_sr3_unet
from posergen_jax.models import sr3_unet
from tests.helpers import param_count

SIZE, BATCH = 16, 2
TINY = dict(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), num_groups=4)
VARIANTS = {
    "plain": {},
    "biggan_updown_rescale_condaug": dict(
        resblock_updown=True, skip_rescale=True, cond_augmentation=True
    ),
}


def _inputs(cond_augmentation):
  """x_noisy, cond [B,H,W,3], noise_level [B] and aug_level [B] (None without augmentation)."""
  rng = np.random.default_rng(0)
  x, cond = rng.standard_normal((2, BATCH, SIZE, SIZE, 3)).astype(np.float32)
  level = np.array([0.3, 0.9], np.float32)
  return x, cond, level, np.array([0.1, 0.5], np.float32) if cond_augmentation else None


def _perturbed_params(model, inputs):
  """Initial params plus N(0, 0.1^2) noise: conv_out starts at zero and would hide any mismatch."""
  params = jax.jit(lambda key: model.init(key, *inputs, train=False))(jax.random.key(0))["params"]
  rng = np.random.default_rng(1)
  return jax.tree.map(
      lambda p: np.asarray(p) + 0.1 * rng.standard_normal(p.shape, np.float32), params
  )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_torch_twin_matches_flax_unet(variant):
  settings = {**TINY, **VARIANTS[variant]}
  model = sr3_unet.UNet(**settings)
  inputs = _inputs(settings.get("cond_augmentation", False))
  params = _perturbed_params(model, inputs)
  want = np.asarray(jax.jit(lambda p: model.apply({"params": p}, *inputs, train=False))(params))

  twin = torch_sr3_unet.UNet(SIZE, **settings).eval()
  torch_sr3_unet.load_flax_params(twin, params)
  x, cond, level, aug = (None if a is None else torch.from_numpy(a) for a in inputs)
  with torch.no_grad():
    got = twin(x.permute(0, 3, 1, 2), cond.permute(0, 3, 1, 2), level, aug)
  got = got.permute(0, 2, 3, 1).numpy()

  assert sum(p.numel() for p in twin.parameters()) == param_count(params)
  assert np.abs(want).max() > 0.5  # The perturbed output conv makes the output non-trivial.
  diff = np.abs(got - want).max()
  print(f"{variant}: max |flax - torch| = {diff:.2e}")
  assert diff < 1e-4


def test_load_refuses_params_of_other_settings():
  model = sr3_unet.UNet(**TINY)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), *_inputs(False), train=False))
  params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes["params"])
  twin = torch_sr3_unet.UNet(SIZE, **{**TINY, "resblock_updown": True})
  with pytest.raises(ValueError, match="Downsample_0/Conv_0/kernel"):
    torch_sr3_unet.load_flax_params(twin, params)
