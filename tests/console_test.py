"""The `posergen` command runs each entry point with its own flags."""

import pathlib
import subprocess
import sys

import pytest

from tests.helpers import REPO

# pip installs the console script beside the interpreter.
POSERGEN = pathlib.Path(sys.executable).with_name("posergen")


def test_the_console_script_is_installed():
  assert POSERGEN.is_file(), "pip install -e . installs it"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "usage: posergen {train,eval,sample,eval_system,generate,export,distil,demo,aot}"),
        (("bogus",), "error: unknown command 'bogus'"),
        (
            ("train", "--config=configs/sr3.py:quick", "--config.train.batch_size=0"),
            "error: config.train.batch_size=0: must be an integer >= 1.",
        ),
        (  # --mode=sample: the cascade's stages are looked for, nothing is trained.
            ("sample", "--config=configs/sr3_cascade.py:quick"),
            "error: Stage 'sr3_128' has no checkpoint",
        ),
        (
            ("generate", "--pretrained=nowhere", "--out=posters", "--prompt=a red circle"),
            "error: --pretrained=nowhere holds no exported pipeline",
        ),
        (
            ("export", "--config=configs/gan_sr3.py:quick", "--out=exported"),
            "error: Stage 'wgan' has no checkpoint",
        ),
        (
            ("demo", "--pretrained=nowhere"),
            "error: --pretrained=nowhere holds no exported pipeline",
        ),
        (
            ("aot", "--config=configs/sr3.py:quick", "--topology=v9:2x2"),
            "error: --topology=v9:2x2: the chip is not one of",
        ),
    ],
    ids=lambda x: x[0] if isinstance(x, tuple) and x else None,
)
def test_each_command_runs_its_entry_point(args, message, tmp_path):
  workdir = tmp_path / "workdir"
  if args and args[0] in ("train", "sample", "export"):
    args = (*args, f"--workdir={workdir}")
  result = subprocess.run(
      [str(POSERGEN), *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
  )
  assert result.returncode != 0
  assert message in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
  assert not (workdir / "checkpoints").exists()
