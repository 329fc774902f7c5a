"""Seeded random invalid command lines through main and generate (tests/cli_fuzz.py, in one
process per entry point): every one is refused with one `error:` line, never a traceback, and
leaves the workdir and output folders as they were. The few drawn command lines that are valid
are listed in `_valid`, each with the reason, and each is run and must be accepted."""

import json

import pytest

from tests import helpers

CASES = 150


def _valid(entry: str, tmp) -> dict[tuple[str, ...], str]:
  """The bad parts (tests/cli_fuzz.py's `case`) of `--seed=0` cases that are valid, and why.

  Every other drawn case must be refused. A change to a config's fields or to the harness changes
  the draws: a newly drawn case that is accepted fails the test, and is then either refused by the
  code or, if it is valid, listed here.
  """
  folder = "any non-empty string is a folder name; the dataset is built there when missing"
  fid_cache = "a file name: the real images' stats are computed and cached there when missing"
  return {
      "main": {
          ("--config.data.data_dir=1,2",): folder,
          ("--config.fsdp",): "a bool field given without a value is True (absl's flag syntax)",
          ("--config.evals.fid_reference=inf",): fid_cache,
          ("--config.evals.fid_reference=((1, 2),)",): fid_cache,
      },
      "generate": {
          ("--config.data.data_dir=百",): folder,
          ("--batch_size=" + "9" * 40,): "a batch larger than the prompts shrinks to them",
          (f"--prompts_file={tmp / 'not_a_config.txt'}",): "any text file: a prompt per line",
      },
  }[entry]


@pytest.mark.parametrize("entry", ["main", "generate"])
def test_every_invalid_command_line_is_refused_in_one_line_and_changes_nothing(entry, tmp_path):
  valid = _valid(entry, tmp_path)
  run = helpers.run_module(
      "tests.cli_fuzz",
      entry,
      "--seed=0",
      f"--cases={CASES}",
      f"--tmp={tmp_path}",
      f"--fixed={json.dumps([list(case) for case in valid])}",
  )
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  assert len(results) == CASES + len(valid)
  # 100% of the drawn cases that are not listed as valid are refused.
  let_through = [
      (r["case"], r["outcome"], r.get("message"))
      for r in results[:CASES]
      if r["outcome"] != "error" and tuple(r["case"]) not in valid
  ]
  assert not let_through, let_through
  # Each listed valid case (drawn or run as a fixed case) is accepted.
  refused = [
      (r["case"], r["outcome"], r.get("message"))
      for r in results
      if tuple(r["case"]) in valid and r["outcome"] != "accepted"
  ]
  assert not refused, refused
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
