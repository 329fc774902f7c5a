"""Seeded random invalid command lines through main and generate (tests/cli_fuzz.py, in one
process per entry point): each ends in one `error:` line, never a traceback, and leaves the
workdir and output folders as they were."""

import collections
import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

CASES = 150


@pytest.mark.parametrize("entry", ["main", "generate"])
def test_invalid_command_lines_end_in_one_error_line_and_change_nothing(entry, tmp_path):
  run = subprocess.run(
      [sys.executable, "-m", "tests.cli_fuzz", entry, "--seed=0", f"--cases={CASES}"]
      + [f"--tmp={tmp_path}"],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=600,
      check=False,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  assert len(results) == CASES
  outcomes = collections.Counter(result["outcome"] for result in results)
  # A few random values are valid (e.g. a seed of 0x10); the entry point then starts its work.
  assert outcomes["error"] >= 0.9 * CASES, outcomes
  assert set(outcomes) <= {"error", "accepted"}, [
      (r["args"], r["message"]) for r in results if r["outcome"] not in ("error", "accepted")
  ]
  for result in results:
    if result["outcome"] == "error":
      message = result["message"]
      assert message and message.startswith("error: ") and "\n" not in message, result
      assert "Traceback" not in message, result
      assert not result["changed"], result
  # Every kind of fault reached the entry point: unknown and misspelled flags and fields, bad
  # values, config files that do not load, stray arguments.
  messages = " ".join(result.get("message") or "" for result in results)
  for kind in (
      "Unknown command line flag",
      "invalid config override",
      ": must be ",
      "--config",
      "unexpected arguments",
  ):
    assert kind in messages, kind
