"""The weights registry: package specs, clear errors, and a conversion cache that converts once."""

import numpy as np
import pytest

from posergen_jax.io import weights


def test_resolve_finds_a_file_inside_an_installed_package():
  path = weights.resolve("package:posergen_jax/io/weights.py")
  assert path.parts[-2:] == ("io", "weights.py") and path.is_file()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("package:no_such_module_xyz/w.bin", "package `no_such_module_xyz` is not installed"),
        ("package:posergen_jax/no_such_file.bin", "no file at"),
        ("/nonexistent/dir/w.safetensors", "no file at /nonexistent/dir/w.safetensors"),
    ],
)
def test_resolve_says_what_is_missing(spec, message):
  with pytest.raises(weights.WeightsNotFoundError, match=message):
    weights.resolve(spec)


def test_conversion_runs_once_and_the_cache_returns_the_same_tree(tmp_path, monkeypatch):
  monkeypatch.setenv("POSERGEN_JAX_CACHE", str(tmp_path / "cache"))
  source = tmp_path / "w.bin"
  source.write_bytes(b"weights")
  calls = []

  def convert(path):
    calls.append(path)
    return {"dense": {"kernel": np.arange(6.0).reshape(2, 3), "bias": np.zeros(3)}}

  first = weights.load_converted(str(source), convert, name="toy")
  second = weights.load_converted(str(source), convert, name="toy")
  assert len(calls) == 1
  np.testing.assert_array_equal(second["dense"]["kernel"], first["dense"]["kernel"])
  assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".npz"]
