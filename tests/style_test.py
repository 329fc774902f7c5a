"""The code style of pyproject.toml holds: pyink's formatting and ruff's lint and import order."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["pyink", "--check", "--quiet", "."],
        ["ruff", "check", "--quiet", "--no-cache", "."],
    ],
    ids=["pyink", "ruff"],
)
def test_code_follows_the_style(command):
  tool = pathlib.Path(sys.executable).parent / command[0]
  result = subprocess.run([str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, (
      f"{' '.join(command)} found:\n{result.stdout}{result.stderr}\n"
      "Fix with: ruff check --fix . && pyink ."
  )
