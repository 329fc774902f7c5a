"""FID/KID reference caches on two JAX processes (127.0.0.1, CPU, gloo): every process takes the
same branch whether the cache is on one host's local disk or shared, so nothing hangs."""

import json
import os
import subprocess
import sys

import pytest

from tests import helpers

# One at a time: each test runs several JAX processes (pytest.ini: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("multihost")

RUNNER = helpers.REPO / "tests" / "multihost_fid.py"


def _evaluate_twice(cache_dirs, tmp_path) -> list[list[dict]]:
  """Runs the two processes (process i's cache in cache_dirs[i]); their results per process."""
  port, outs = helpers.free_port(), [tmp_path / f"out{i}.json" for i in range(2)]
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = str(helpers.REPO)
  processes = [
      subprocess.Popen(
          [sys.executable, str(RUNNER), str(i), str(port), str(cache_dirs[i]), str(outs[i])],
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
  return [json.loads(out.read_text()) for out in outs]


@pytest.mark.parametrize("shared", [False, True], ids=["local_disks", "shared_folder"])
def test_two_processes_evaluate_twice_with_the_cache_present_after_the_first(shared, tmp_path):
  cache_dirs = [tmp_path / "shared"] * 2 if shared else [tmp_path / "host0", tmp_path / "host1"]
  for rerun in range(2):  # The second run finds the cache the first one left.
    process0, process1 = _evaluate_twice(cache_dirs, tmp_path)
    assert process0 == process1  # Both processes took the same branches and figures.
    # A cache on process 0's disk only is read by nobody (the processes would disagree on
    # whether to compute the real features): both compute them again. A shared one is read.
    needs_real = [e["needs_real_images"] for e in process0]
    assert needs_real == ([True, True] if not shared else [rerun == 0, False])
    assert process0[0]["fid"] == pytest.approx(process0[1]["fid"], rel=1e-9)
    assert process0[0]["kid"] == pytest.approx(process0[1]["kid"], rel=1e-9)
    assert (cache_dirs[0] / "reference.npz").is_file()
    assert (cache_dirs[1] / "reference.npz").is_file() == shared
