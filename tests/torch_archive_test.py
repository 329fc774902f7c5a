"""Tests for posergen_jax.io.torch_archive: files written by torch, read back without it."""

import zipfile

import ml_dtypes
import numpy as np
import pytest
import torch

from posergen_jax.io import torch_archive


def _save(obj, path, **kwargs):
  torch.save(obj, path, **kwargs)
  return path


def test_dtypes_round_trip(tmp_path):
  gen = torch.Generator().manual_seed(0)
  tensors = {
      "f32": torch.randn(3, 4, generator=gen),
      "f16": torch.randn(5, generator=gen).half(),
      "bf16": torch.randn(2, 3, generator=gen).bfloat16(),
      "i64": torch.arange(-3, 7, dtype=torch.int64).reshape(2, 5),
      "i32": torch.tensor([1, -2, 3], dtype=torch.int32),
      "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
      "bool": torch.tensor([True, False, True]),
      "f64": torch.randn(2, 2, generator=gen, dtype=torch.float64),
      "scalar": torch.tensor(2.5),
      "empty": torch.zeros(0, 3),
  }
  flat = torch_archive.read_state_dict(_save(tensors, tmp_path / "t.pt"))
  assert set(flat) == set(tensors)
  for key, tensor in tensors.items():
    got = flat[key]
    assert got.shape == tuple(tensor.shape), key
    if tensor.dtype == torch.bfloat16:
      assert got.dtype == ml_dtypes.bfloat16
      np.testing.assert_array_equal(got.astype(np.float32), tensor.float().numpy())
    else:
      assert got.dtype == tensor.numpy().dtype, key
      np.testing.assert_array_equal(got, tensor.numpy())


def test_strided_views_and_shared_storage(tmp_path):
  base = torch.arange(60, dtype=torch.float32).reshape(5, 12)
  views = {
      "base": base,
      "transposed": base.t(),  # stride (1, 12)
      "sliced": base[1:4, 2:11:3],  # storage offset 14, stride (12, 3)
      "column": base[:, 5],  # offset 5, stride (12,)
      "expanded": torch.ones(1, 3).expand(4, 3),  # stride 0
      "narrow_of_big": torch.arange(1000)[990:],  # offset 990 into a shared 1000-element storage
  }
  flat = torch_archive.read_state_dict(_save(views, tmp_path / "v.pt"))
  for key, tensor in views.items():
    np.testing.assert_array_equal(flat[key], tensor.contiguous().numpy(), err_msg=key)
  # Copies: mutating one array must not change another built from the same storage.
  flat["base"][0, 0] = -1.0
  assert flat["transposed"][0, 0] == 0.0


def test_nested_checkpoint_and_module_state_dict(tmp_path):
  model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
  checkpoint = {
      "epoch": 7,
      "name": "run",
      "state_dict": model.state_dict(),
      "extra": [torch.ones(2), {"inner": torch.zeros(1, dtype=torch.int64)}],
      "param": torch.nn.Parameter(torch.full((2,), 3.0)),
  }
  flat = torch_archive.read_state_dict(_save(checkpoint, tmp_path / "ckpt.pt"))
  expected = {f"state_dict.{k}": v.numpy() for k, v in model.state_dict().items()}
  expected.update(
      {
          "extra.0": np.ones(2, np.float32),
          "extra.1.inner": np.zeros(1, np.int64),
          "param": np.full((2,), 3.0, np.float32),
      }
  )
  assert set(flat) == set(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(flat[key], value, err_msg=key)
  assert flat["state_dict.1.num_batches_tracked"].dtype == np.int64
  # The raw tree keeps the non-tensor entries.
  tree = torch_archive.load_pickle(tmp_path / "ckpt.pt")
  assert tree["epoch"] == 7 and tree["name"] == "run"


def test_argparse_namespace_becomes_a_placeholder(tmp_path):
  import argparse

  checkpoint = {"args": argparse.Namespace(lr=0.1), "w": torch.ones(2)}
  path = _save(checkpoint, tmp_path / "ns.pt")
  tree = torch_archive.load_pickle(path)
  assert isinstance(tree["args"], torch_archive.Opaque)
  assert tree["args"].type_name == "argparse.Namespace"
  assert set(torch_archive.read_state_dict(path)) == {"w"}


def test_not_an_archive_names_the_file(tmp_path):
  text = tmp_path / "notes.pt"
  text.write_text("hello")
  with pytest.raises(torch_archive.TorchArchiveError, match="notes.pt.*not a PyTorch zip"):
    torch_archive.read_state_dict(text)
  legacy = _save({"w": torch.ones(1)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
  with pytest.raises(torch_archive.TorchArchiveError, match="legacy.pt.*legacy"):
    torch_archive.read_state_dict(legacy)
  other_zip = tmp_path / "other.zip"
  with zipfile.ZipFile(other_zip, "w") as z:
    z.writestr("readme.txt", "x")
  with pytest.raises(torch_archive.TorchArchiveError, match="other.zip.*data.pkl"):
    torch_archive.read_state_dict(other_zip)


def test_missing_storage_is_an_error(tmp_path):
  path = _save({"w": torch.ones(3)}, tmp_path / "good.pt")
  broken = tmp_path / "broken.pt"
  with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
    for item in src.infolist():
      if "/data/" not in item.filename:
        dst.writestr(item, src.read(item.filename))
  with pytest.raises(torch_archive.TorchArchiveError, match="broken.pt.*storage"):
    torch_archive.read_state_dict(broken)


class _Block(torch.nn.Module):

  def __init__(self):
    super().__init__()
    self.conv = torch.nn.Conv2d(2, 3, (1, 3), stride=2, padding=(0, 1), bias=False)
    self.register_buffer("scale", torch.linspace(0.5, 1.5, 3).half())
    self.stride = 2

  def forward(self, x):
    return self.conv(x) * self.scale.float()[:, None, None]


class _Net(torch.nn.Module):

  def __init__(self):
    super().__init__()
    self.block = _Block()
    self.layers = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))

  def forward(self, x):
    return self.layers(self.block(x).mean((2, 3)))


def test_torchscript_module(tmp_path):
  torch.manual_seed(0)
  net = _Net().eval()
  path = tmp_path / "net.pt"
  torch.jit.save(torch.jit.script(net), str(path))
  tree = torch_archive.read_script_module(path)
  assert tree["block"]["stride"] == 2
  np.testing.assert_array_equal(tree["block"]["conv"]["weight"], net.block.conv.weight.detach())
  assert tree["block"]["scale"].dtype == np.float16
  flat = torch_archive.flatten_arrays(tree)
  expected = {k: v.detach().numpy() for k, v in net.state_dict().items()}
  assert set(flat) == set(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(flat[key], value, err_msg=key)
  # A plain torch.save file is not a TorchScript module.
  plain = _save(net.state_dict(), tmp_path / "plain.pt")
  with pytest.raises(torch_archive.TorchArchiveError, match="plain.pt.*not a TorchScript"):
    torch_archive.read_script_module(plain)
