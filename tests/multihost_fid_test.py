"""FID/KID reference caches on two JAX processes (127.0.0.1, CPU, gloo): every process takes the
same branch whether the cache is on one host's local disk or shared, so nothing hangs."""

import json
import os
import subprocess
import sys

import pytest

from tests import helpers

RUNNER = helpers.REPO / "tests" / "multihost_fid.py"


def test_two_processes_evaluate_twice_with_the_cache_present_after_the_first(tmp_path):
  """One two-process run evaluates twice against each process's own folder (local disks), then
  twice against one folder both name (a shared file system)."""
  port, outs = helpers.free_port(), [tmp_path / f"out{i}.json" for i in range(2)]
  shared = tmp_path / "shared"
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = str(helpers.REPO)
  processes = [
      subprocess.Popen(
          [sys.executable, str(RUNNER), str(i), str(port), str(tmp_path / f"host{i}"), str(shared)]
          + [str(outs[i])],
          env=env,
          stdout=subprocess.DEVNULL,
          stderr=subprocess.PIPE,
          text=True,
      )
      for i in range(2)
  ]
  try:
    for process in processes:
      _, stderr = process.communicate(timeout=240)  # A branch mismatch hangs: fails here.
      assert process.returncode == 0, stderr[-3000:]
  finally:
    for process in processes:
      process.kill()
  process0, process1 = (json.loads(out.read_text()) for out in outs)
  assert process0 == process1  # Both processes took the same branches and figures.
  # A cache on process 0's disk only is read by nobody (the processes would disagree on whether
  # to compute the real features): both compute them again. A shared one is read.
  assert [e["needs_real_images"] for e in process0["local_disks"]] == [True, True]
  assert [e["needs_real_images"] for e in process0["shared_folder"]] == [True, False]
  for kind in ("local_disks", "shared_folder"):
    first, second = process0[kind]
    assert first["fid"] == pytest.approx(second["fid"], rel=1e-9), kind
    assert first["kid"] == pytest.approx(second["kid"], rel=1e-9), kind
  # Process 0 writes the cache: on its own disk, or in the folder both read.
  assert (tmp_path / "host0" / "reference.npz").is_file()
  assert not (tmp_path / "host1" / "reference.npz").exists()
  assert (shared / "reference.npz").is_file()
