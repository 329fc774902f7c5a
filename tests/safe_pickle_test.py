"""Every reader of third-party pickles refuses a pickle that names a global it does not need.

The crafted file would run `os.system("echo x")` if unpickled with the plain pickle module; it is
only ever written here, and read through the project's readers, which must refuse it by name
before calling anything.
"""

import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from posergen_jax.data.cub_birds import manual_files
from posergen_jax.evaluation import lpips
from posergen_jax.io import errors, safe_pickle, torch_archive
from posergen_jax.models import vgg


class _RunsAShellCommand:
  """Pickles as a call of `os.system`."""

  def __reduce__(self):
    return (os.system, ("echo x",))


def _malicious_bytes(protocol: int = pickle.DEFAULT_PROTOCOL) -> bytes:
  """A pickle that, loaded with `pickle.load`, would run a shell command."""
  return pickle.dumps({"weights": _RunsAShellCommand()}, protocol=protocol)


def _assert_refused(capfd, path, call):
  """`call()` raises the refusal naming `path` and the global, and runs nothing."""
  # os.system pickles as posix.system (nt.system on Windows): the module that defines it.
  refused = f"{os.system.__module__}.system"
  with pytest.raises(pickle.UnpicklingError, match=re.escape(f"{path}: refused")) as raised:
    call()
  assert isinstance(raised.value, safe_pickle.RefusedGlobalError)
  assert isinstance(raised.value, errors.UserError)
  assert refused in str(raised.value)
  assert "x" not in capfd.readouterr().out


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_load_refuses_other_globals(tmp_path, capfd, protocol):
  path = tmp_path / "evil.pickle"
  path.write_bytes(_malicious_bytes(protocol))
  _assert_refused(capfd, path, lambda: safe_pickle.load(path))


def test_load_reads_numpy_arrays_in_both_module_spellings(tmp_path):
  array = np.arange(6, dtype=np.float32).reshape(2, 3)
  path = tmp_path / "arrays.pickle"
  path.write_bytes(pickle.dumps({"a": array, "b": [array[0]]}))
  loaded = safe_pickle.load(path)
  np.testing.assert_array_equal(loaded["a"], array)
  np.testing.assert_array_equal(loaded["b"][0], array[0])
  # numpy 1 wrote numpy.core.multiarray, numpy 2 writes numpy._core.multiarray.
  new = pickle.dumps(array, protocol=2)
  old = new.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
  for written in {new, old}:
    path.write_bytes(written)
    np.testing.assert_array_equal(safe_pickle.load(path), array)


def test_torch_archive_refuses_other_globals(tmp_path, capfd):
  path = tmp_path / "evil.pt"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("evil/data.pkl", _malicious_bytes())
  _assert_refused(capfd, path, lambda: torch_archive.load_pickle(path))
  _assert_refused(capfd, path, lambda: torch_archive.read_state_dict(path))


def test_lpips_weights_readers_refuse_other_globals(tmp_path, capfd):
  path = tmp_path / "vgg16.ckpt"
  path.write_bytes(_malicious_bytes())
  _assert_refused(capfd, path, lambda: vgg.read_lpips_file(path))
  _assert_refused(capfd, path, lambda: vgg.load_lpips_vgg16(vgg.vgg16(), path))
  _assert_refused(capfd, path, lambda: lpips.load_heads(str(path)))


@pytest.mark.parametrize("file", ["filenames.pickle", "char-CNN-RNN-embeddings.pickle"])
def test_stackgan_embedding_reader_refuses_other_globals(tmp_path, capfd, file):
  folder = tmp_path / "birds" / "train"
  folder.mkdir(parents=True)
  (folder / "filenames.pickle").write_bytes(pickle.dumps([b"001.Albatross/a_1"], protocol=2))
  (folder / file).write_bytes(_malicious_bytes(protocol=2))
  _assert_refused(capfd, folder / file, lambda: manual_files.read_embeddings(tmp_path, []))
