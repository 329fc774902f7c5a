"""Atomic writes (`io.files`) and the callers that write through them."""

import os
import pathlib
import subprocess
import sys
import threading

from etils import epath
import numpy as np
import pytest

from posergen_jax.io import files, weights
from posergen_jax.training import checkpoint
from tests import helpers


def _names(folder: pathlib.Path) -> list[str]:
  return sorted(p.name for p in folder.iterdir())


def test_temporary_is_a_hidden_sibling_that_keeps_the_suffix(tmp_path):
  with files.atomic_path(tmp_path / "out.npz") as tmp:
    assert isinstance(tmp, epath.Path)
    assert pathlib.Path(tmp).parent == tmp_path
    assert tmp.name.startswith(".out.") and tmp.name.endswith(".npz")
    assert str(os.getpid()) in tmp.name
    with tmp.open("wb") as f:
      np.savez(f, x=np.arange(3))
  assert _names(tmp_path) == ["out.npz"]
  with np.load(tmp_path / "out.npz") as f:
    np.testing.assert_array_equal(f["x"], np.arange(3))


def test_concurrent_writers_do_not_share_a_temporary(tmp_path):
  target = tmp_path / "shared.bin"
  payloads = [bytes([i]) * 100_000 for i in range(4)]
  both_open = threading.Barrier(len(payloads))
  temporaries = [None] * len(payloads)

  def write(i):
    with files.atomic_path(target) as tmp:
      temporaries[i] = tmp.name
      tmp.write_bytes(payloads[i])
      both_open.wait(timeout=30)  # Every writer holds its temporary at once.

  threads = [threading.Thread(target=write, args=(i,)) for i in range(len(payloads))]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert len(set(temporaries)) == len(payloads)
  assert target.read_bytes() in payloads  # One writer's data, whole.
  assert _names(tmp_path) == ["shared.bin"]


def test_another_process_gets_another_temporary(tmp_path):
  target = tmp_path / "shared.txt"
  script = (
      "import sys; from posergen_jax.io import files\n"
      "with files.atomic_path(sys.argv[1]) as tmp:\n"
      "  tmp.write_text('child'); print(tmp.name)\n"
  )
  with files.atomic_path(target) as tmp:
    tmp.write_text("parent")
    child = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        check=True,
        capture_output=True,
        text=True,
        cwd=helpers.REPO,
    ).stdout.strip()
    assert child.startswith(".shared.") and child != tmp.name
    assert target.read_text() == "child"
  assert target.read_text() == "parent"
  assert _names(tmp_path) == ["shared.txt"]


@pytest.mark.parametrize("existing", [None, b"old contents"])
def test_a_failing_block_leaves_no_partial_target_and_no_temporary(tmp_path, existing):
  target = tmp_path / "out.bin"
  if existing is not None:
    target.write_bytes(existing)
  with pytest.raises(RuntimeError, match="killed"):
    with files.atomic_path(target) as tmp:
      tmp.write_bytes(b"half of it")
      raise RuntimeError("killed mid-write")
  assert _names(tmp_path) == ([] if existing is None else ["out.bin"])
  if existing is not None:
    assert target.read_bytes() == existing


def test_a_failing_block_removes_a_temporary_folder(tmp_path):
  with pytest.raises(ValueError):
    with files.atomic_path(tmp_path / "state") as tmp:
      (tmp / "sub").mkdir(parents=True)
      (tmp / "sub" / "x").write_text("x")
      raise ValueError
  assert _names(tmp_path) == []


def test_write_atomically_replaces_the_target_whole(tmp_path):
  target = epath.Path(tmp_path) / "out.json"
  files.write_atomically(target, b"x" * 1000)
  files.write_atomically(target, b"short")  # An existing file is replaced, not appended to.
  assert target.read_bytes() == b"short"
  files.write_atomically(str(tmp_path / "plain.txt"), b"str paths work too")
  assert _names(tmp_path) == ["out.json", "plain.txt"]


def test_remove_temporaries_deletes_only_leftovers_of_that_path(tmp_path):
  target = tmp_path / "out.npz"
  (tmp_path / ".out.tmp-123-abcd.npz").write_bytes(b"left by a killed writer")
  (tmp_path / ".out.tmp-456-ef01").mkdir()  # A folder, without the suffix: not out.npz's.
  (tmp_path / ".other.tmp-123-abcd.npz").write_bytes(b"another file's")
  (tmp_path / "out.npz").write_bytes(b"keep")
  files.remove_temporaries(target)
  assert _names(tmp_path) == [".other.tmp-123-abcd.npz", ".out.tmp-456-ef01", "out.npz"]
  files.remove_temporaries(tmp_path / "missing" / "x")  # No folder: nothing to do.


def test_converted_weights_cache_is_written_atomically(tmp_path, monkeypatch):
  source = tmp_path / "source.bin"
  source.write_bytes(b"weights")
  monkeypatch.setenv("POSERGEN_JAX_CACHE", str(tmp_path / "cache"))
  calls = []

  def convert(path):
    calls.append(path)
    return {"dense": {"kernel": np.ones((2, 3), np.float32)}}

  first = weights.load_converted(source, convert, "test")
  second = weights.load_converted(source, convert, "test")
  assert len(calls) == 1
  np.testing.assert_array_equal(second["dense"]["kernel"], first["dense"]["kernel"])
  (cached,) = _names(tmp_path / "cache")
  assert cached.startswith("test-") and cached.endswith(".npz")


class _Batches:
  """A stand-in for input_pipeline.GlobalBatches: writes `prefix`.index, or fails."""

  def __init__(self, fail: bool = False):
    self.fail = fail

  def save(self, prefix: str) -> None:
    pathlib.Path(prefix + ".index").write_text("position")
    if self.fail:
      raise OSError("disk full")


def test_data_state_is_saved_whole_or_not_at_all(tmp_path):
  step_dir = tmp_path / "data_state" / "step_5"
  with pytest.raises(OSError, match="disk full"):
    checkpoint.save_data_state(_Batches(fail=True), tmp_path, 5)
  assert _names(step_dir) == []
  (step_dir / ".process_0_of_1.tmp-1-dead").mkdir()  # As a kill -9 mid-save leaves it.
  checkpoint.save_data_state(_Batches(), tmp_path, 5)
  assert _names(step_dir) == ["process_0_of_1"]
  assert _names(step_dir / "process_0_of_1") == ["iterator.index"]
  checkpoint.prune_data_states(tmp_path, keep_from_step=6)
  assert _names(tmp_path / "data_state") == []
