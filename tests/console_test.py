"""The `posergen` command runs each entry point with its own flags, and each entry point's
refusals are one `error:` line that leaves the workdir as it was."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from posergen_jax import __main__ as posergen
from tests import helpers

# pip installs the console script beside the interpreter.
POSERGEN = pathlib.Path(sys.executable).with_name("posergen")


def test_the_console_script_is_installed():
  assert POSERGEN.is_file(), "pip install -e . installs it"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["posergen"], posergen.USAGE),
        (["posergen", "--help"], posergen.USAGE),
        (["posergen", "bogus"], f"error: unknown command 'bogus'; {posergen.USAGE}"),
    ],
    ids=["no_command", "help", "unknown_command"],
)
def test_without_a_known_command_it_prints_the_usage(argv, message):
  assert "{train,eval,sample,eval_system,generate,export,distil,demo,aot}" in posergen.USAGE
  with pytest.raises(SystemExit) as exited:
    posergen.run(argv)
  assert exited.value.code == message


def test_the_console_script_loads_a_config_from_outside_the_repository(tmp_path):
  """The installed `posergen`, run from another folder without PYTHONPATH, loads a config file
  by its path (it imports its neighbours) and refuses a bad field in one line."""
  config = helpers.REPO / "configs" / "gan_sr3.py"
  result = subprocess.run(
      [
          str(POSERGEN),
          "train",
          f"--config={config}:quick",
          f"--workdir={tmp_path / 'run'}",
          "--config.stages.wgan.train.batch_size=0",
      ],
      cwd=tmp_path,
      env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
  )
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert last == "error: config.stages.wgan.train.batch_size=0: must be an integer >= 1.", last
  assert not (tmp_path / "run").exists()


def test_each_command_refuses_bad_input_in_one_line(tmp_path, tiny_data_dir):
  """Each command's entry point, reached through the dispatcher (tests/cli_fuzz.py runs them one
  after another in one process), does its work up to the error and exits with one line."""
  workdir = tmp_path / "workdir"
  blocker = tmp_path / "a_file"
  blocker.write_text("keep me")
  quick_sr3 = ["--config=configs/sr3.py:quick", f"--config.data.data_dir={tiny_data_dir}"]
  cases = [
      (
          ["train", *quick_sr3, f"--workdir={workdir}", "--config.train.batch_size=0"],
          "error: config.train.batch_size=0: must be an integer >= 1.",
      ),
      (  # The closest valid key is suggested.
          ["train", *quick_sr3, f"--workdir={workdir}", "--config.train.num_step=3"],
          "num_steps",
      ),
      (
          ["train", *quick_sr3, f"--workdir={blocker}/run"],
          f"error: --workdir={blocker}/run is not writable",
      ),
      (
          ["eval", *quick_sr3, f"--workdir={tmp_path / 'untrained'}"],
          "error: No checkpoint in",
      ),
      (  # --mode=sample: the cascade's stages are looked for, nothing is trained.
          ["sample", "--config=configs/sr3_cascade.py:quick", f"--workdir={workdir}"],
          "error: Stage 'sr3_128' has no checkpoint",
      ),
      (
          ["generate", "--pretrained=nowhere", f"--out={tmp_path / 'posters'}", "--prompt=a"],
          "error: --pretrained=nowhere holds no exported pipeline",
      ),
      (
          ["export", "--config=configs/gan_sr3.py:quick", f"--workdir={workdir}"]
          + [f"--out={tmp_path / 'exported'}"],
          "error: Stage 'wgan' has no checkpoint",
      ),
      (
          ["demo", "--pretrained=nowhere"],
          "error: --pretrained=nowhere holds no exported pipeline",
      ),
      (
          ["aot", "--config=configs/sr3.py:quick", "--topology=v9:2x2"],
          "error: --topology=v9:2x2: the chip is not one of",
      ),
  ]
  run = helpers.run_module(
      "tests.cli_fuzz",
      "posergen",
      f"--tmp={tmp_path}",
      f"--fixed={json.dumps([args for args, _ in cases])}",
  )
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  assert [r["args"] for r in results] == [args for args, _ in cases]
  for result, (_, message) in zip(results, cases, strict=True):
    assert result["outcome"] == "error", result
    assert result["message"].startswith("error: ") and "\n" not in result["message"], result
    assert message in result["message"], result
  assert "train first with --mode=train" in results[3]["message"]
  assert "num_step" in results[1]["message"]
  assert blocker.read_text() == "keep me"
  assert not (workdir / "checkpoints").exists()
