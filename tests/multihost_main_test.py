"""The main entry point as two JAX processes on 127.0.0.1 (CPU, gloo collectives, 4 simulated
devices each), as launch/ starts them on a pod: from an empty data dir (process 0 builds the
dataset while the other waits), training with checkpoints, then the evaluation after it."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests import helpers


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_processes(args: list[str], num_processes: int = 2, timeout: int = 420) -> list[str]:
  """Runs `python -m ARGS` as `num_processes` JAX processes of one job (launch/'s variables);
  returns each one's stderr. A process that fails or outlives `timeout` fails the test."""
  port = _free_port()
  processes = []
  for i in range(num_processes):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
        "JAX_NUM_PROCESSES": str(num_processes),
        "JAX_PROCESS_ID": str(i),
        "PYTHONPATH": str(helpers.REPO),
    }
    processes.append(
        subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=helpers.REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
  logs = []
  try:
    for i, process in enumerate(processes):
      _, stderr = process.communicate(timeout=timeout)
      assert process.returncode == 0, f"process {i}: {stderr[-3000:]}"
      logs.append(stderr)
  finally:
    for process in processes:
      process.kill()
  return logs


@pytest.mark.slow
def test_two_processes_build_train_checkpoint_and_evaluate_from_an_empty_data_dir(tmp_path):
  workdir, data_dir = tmp_path / "run", tmp_path / "tfds"
  logs = run_processes(
      [
          "posergen_jax.main",
          "--config=configs/sr3.py:quick",
          f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}",
          "--config.train.num_steps=2",
          "--config.ckpt.every=2",
      ]
  )
  assert all("JAX process" in log and "/2" in log for log in logs)
  assert sorted(p.name for p in (data_dir / "synthetic_posters" / "tiny").iterdir()) == ["1.0.0"]
  assert (workdir / "checkpoints" / "2").is_dir()
  report = json.loads((workdir / "eval.json").read_text())
  assert report["step"] == 2 and report["metrics"]["num_examples"] == 16
