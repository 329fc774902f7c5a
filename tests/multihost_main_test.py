"""The main entry point as two JAX processes on 127.0.0.1 (CPU, gloo collectives, 4 simulated
devices each), as launch/ starts them on a pod: from an empty data dir (process 0 builds the
dataset while the other waits), after a kill -9 of both the same command restores the newest
checkpoint, and a SIGTERM to one process stops both at the same step with a checkpoint that is
bit-identical to an uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import pytest

from posergen_jax.families import registry
from posergen_jax.poster import outputs, pipeline
from tests import helpers

# The hosts compare stop signals every this many steps (config.train.stop_check_every).
CHECK_EVERY = 5


def start_processes(
    args: list[str], logs: list, num_processes: int = 2, devices_per_process: int = 4
) -> list:
  """Starts `python -m ARGS` as `num_processes` JAX processes of one job (launch/'s
  variables; none for one process), process i's stderr into the open file logs[i]."""
  port = helpers.free_port()
  processes = []
  for i in range(num_processes):
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}",
        "PYTHONPATH": str(helpers.REPO),
    }
    if num_processes > 1:
      env.update(
          JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
          JAX_NUM_PROCESSES=str(num_processes),
          JAX_PROCESS_ID=str(i),
      )
    processes.append(
        subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=helpers.REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[i],
        )
    )
  return processes


def wait_all(processes, logs, timeout: int = 420) -> list[str]:
  """Each process's log once all have exited 0 within `timeout` seconds (else the test fails)."""
  try:
    for i, process in enumerate(processes):
      process.wait(timeout=timeout)
      logs[i].seek(0)
      text = logs[i].read()
      assert process.returncode == 0, f"process {i}: {text[-3000:]}"
  finally:
    for process in processes:
      process.kill()
  texts = []
  for log in logs:
    log.seek(0)
    texts.append(log.read())
  return texts


def _run(args, tmp_path, name, on_start=None, layout=(2, 4)) -> list[str]:
  """Runs `python -m ARGS` as `layout` = (processes, devices each); returns their logs."""
  logs = [open(tmp_path / f"{name}{i}.log", "w+", encoding="utf-8") for i in range(layout[0])]  # noqa: SIM115
  try:
    processes = start_processes(args, logs, *layout)
    if on_start:
      on_start(processes, logs)
    return wait_all(processes, logs)
  finally:
    for log in logs:
      log.close()


def _kill_both_once_a_checkpoint(workdir, processes, timeout=300) -> int:
  """kill -9 process 1 once `workdir` holds a complete checkpoint, then process 0 (stuck in its
  next collective), as a scheduler restarts a job; returns the newest checkpoint's step."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if _checkpoint_steps(workdir):
      processes[1].kill()
      time.sleep(1)
      processes[0].kill()
      for process in processes:
        process.wait()
      return max(_checkpoint_steps(workdir))
    assert all(process.poll() is None for process in processes), "a process ended first"
    time.sleep(0.2)
  pytest.fail("no checkpoint appeared")


def _sigterm_process_1_once_training(processes, logs, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    logs[1].seek(0)
    if "Training from step" in logs[1].read():
      time.sleep(3)  # A few steps in.
      processes[1].send_signal(signal.SIGTERM)
      return
    assert processes[1].poll() is None, "process 1 ended before training"
    time.sleep(0.5)
  pytest.fail("process 1 never started training")


def _checkpoint_steps(workdir) -> list[int]:
  """The steps of the complete checkpoints in `workdir` (Orbax renames a finished one to its
  step; a half-written one keeps a temporary name)."""
  return [int(p.name) for p in (workdir / "checkpoints").glob("*") if p.name.isdigit()]


def _metrics(workdir) -> dict:
  metrics = json.loads((workdir / "eval.json").read_text())["metrics"]
  return {k: v for k, v in metrics.items() if not k.startswith("seconds")}


def test_two_processes_restart_after_kill_9_stop_together_and_train_as_one_of_eight(
    quick_config, tmp_path
):
  """From an empty data dir (process 0 builds it), two processes are killed with kill -9 once a
  checkpoint exists; the same command restores it, and a SIGTERM to process 1 then stops both at
  the same step with a checkpoint, bit-identical to an uninterrupted 2 × 4 run's, whose
  evaluation 1 × 8 reaches (float tolerance: the cross-process sums add in another order); a
  1 × 8 run resumed as 2 × 4 says its input position is of another layout."""
  data_dir = tmp_path / "tfds"
  args = [
      "posergen_jax.main",
      "--config=configs/sr3.py:quick",
      f"--config.data.data_dir={data_dir}",
      f"--config.train.stop_check_every={CHECK_EVERY}",
      "--config.ckpt.every=2",
  ]
  job = tmp_path / "job"
  forever = [*args, f"--workdir={job}", "--config.train.num_steps=100000"]
  logs = [open(tmp_path / f"killed{i}.log", "w+", encoding="utf-8") for i in range(2)]  # noqa: SIM115
  try:
    restored = _kill_both_once_a_checkpoint(job, start_processes(forever, logs))
  finally:
    for log in logs:
      log.close()
  assert sorted(p.name for p in (data_dir / "synthetic_posters" / "tiny").iterdir()) == ["1.0.0"]

  logs = _run(forever, tmp_path, "stopped", _sigterm_process_1_once_training)
  assert all(f"Training from step {restored} to 100000" in log for log in logs)
  step = max(_checkpoint_steps(job))
  assert step % CHECK_EVERY == 0 and step > restored
  assert f"Stopped by another process's stop signal after step {step}; checkpoint saved" in logs[0]
  assert f"Stopped by SIGTERM after step {step}; checkpoint saved" in logs[1]

  end = f"--config.train.num_steps={step}"
  for layout in ((1, 8), (2, 4)):
    _run(
        [*args, f"--workdir={tmp_path / f'run_{layout[0]}x'}", end], tmp_path, "run", layout=layout
    )
  quick_config.data.data_dir = str(data_dir)
  family = registry.get_family(quick_config)
  stopped = helpers.restored_state(quick_config, job, family)
  uninterrupted = helpers.restored_state(quick_config, tmp_path / "run_2x", family)
  assert int(stopped.step) == int(uninterrupted.step) == step
  helpers.assert_states_equal(stopped, uninterrupted)
  single, multi = _metrics(tmp_path / "run_1x"), _metrics(tmp_path / "run_2x")
  assert single.keys() == multi.keys() and "sr3_psnr" in single
  for key in single:
    assert multi[key] == pytest.approx(single[key], rel=1e-4, abs=1e-5), key

  # The 1 × 8 run resumed as 2 × 4: its input position is of another layout, so every process
  # says so and continues with a fresh seeded order, none with a stale position.
  more = [f"--config.train.num_steps={step + 2}", "--config.evals.after_train=False"]
  logs = _run([*args, f"--workdir={tmp_path / 'run_1x'}", *more], tmp_path, "moved")
  for log in logs:
    assert f"Training from step {step} to {step + 2}" in log
    assert "is of another process layout (process_0_of_1); this run has 2 processes" in log


def test_two_processes_generate_sample_a_cascade_and_embed_captions(
    gan_sr3_trained, tiny_data_dir, tmp_path
):
  """generate and --mode=sample as 2 × 4 devices on a trained quick GAN_SR3 workdir: the posters
  are the ones this process's 1 × 8 devices write, byte for byte, and the cascade grid is written
  once; a training run with the caption-embedding cache from an empty data dir writes each
  split's cache once."""
  config, workdir = gan_sr3_trained
  prompts = ["一张红色圆形的极简海报", "A jazz night poster"]
  generate = [
      "posergen_jax.generate",
      "--config=configs/gan_sr3.py:quick",
      f"--workdir={workdir}",
      *(f"--prompt={prompt}" for prompt in prompts),
      f"--config.data.data_dir={tiny_data_dir}",
      f"--out={tmp_path / 'posters_2x4'}",
  ]
  _run(generate, tmp_path, "generate")
  assert jax.device_count() == 8
  with pipeline.PosterPipeline(config, str(workdir)) as opened:  # generate's defaults.
    outputs.write_posters(opened, prompts, tmp_path / "posters_1x8", seed=0, batch_size=8)
  posters = {
      layout: {p.name: p.read_bytes() for p in (tmp_path / layout).glob("*.png")}
      for layout in ("posters_1x8", "posters_2x4")
  }
  assert sorted(posters["posters_2x4"]) == ["0000.png", "0001.png"]
  assert posters["posters_2x4"] == posters["posters_1x8"]

  cascade = ["posergen_jax.main", "--config=configs/sr3_cascade.py:quick", "--mode=sample"]
  _run(
      [*cascade, f"--workdir={workdir}", f"--config.data.data_dir={tiny_data_dir}"],
      tmp_path,
      "sample",
  )
  assert (workdir / "samples" / "cascade.png").is_file()

  data_dir = tmp_path / "tfds"
  _run(
      [
          "posergen_jax.main",
          "--config=configs/wgan.py:quick",
          f"--workdir={tmp_path / 'wgan'}",
          f"--config.data.data_dir={data_dir}",
          "--config.text.source=cache",
          "--config.train.num_steps=2",
          "--config.evals.after_train=False",
      ],
      tmp_path,
      "cache",
  )
  (cache,) = list(data_dir.glob("synthetic_posters/tiny/*/caption_embeddings"))
  assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["test", "train"]
