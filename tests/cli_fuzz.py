r"""Feeds seeded random invalid command lines through an entry point in one process.

  python -m tests.cli_fuzz main|generate --seed=0 --cases=150 --tmp=DIR [--fixed=JSON]
  python -m tests.cli_fuzz posergen --tmp=DIR --fixed=JSON

Each case is a valid command line (`configs/sr3.py:quick` for main, `configs/gan_sr3.py:quick`
with a prompt for generate) with one part made bad: an unknown flag or config field, a config
field or flag given a random value, a missing or broken config file, a stray argument. The entry
point's `main` runs in this process; the work it would start (`main.run_mode`,
`pipeline.PosterPipeline`) is replaced by a stand-in that raises `Accepted`, so a case the entry
point accepts (a random value that is valid) stops there. `--fixed` adds cases of its own after
the random ones: a JSON list of argument lists, each in place of the bad part. Prints one JSON
line: per case, the bad part (`case`), the whole arguments, the outcome ("error": a SystemExit,
with its message; "accepted"; "exception": any other exception, with its traceback) and whether a
file under the work or output folders changed.

`posergen` runs each command line of `--fixed` (a JSON list of `posergen COMMAND FLAGS...`
argument lists, the program name left out) through the `posergen` dispatcher, one after another in
this process, with nothing replaced: each entry point does its real work up to its error. Between
command lines the entry points' flags and modules are dropped, so the next one defines its own, as
a new process would. Prints one JSON line: per command line, its outcome and message as above.
"""

import argparse
import importlib
import json
import os
import pathlib
import random
import shutil
import string
import sys
import traceback

from absl import flags

from posergen_jax import cli
from posergen_jax.config import stages

# Values to give a flag or a config field: numbers out of range or not finite, wrong types,
# Python literals, empty and odd strings.
VALUES = (
    "",
    " ",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "-0",
    "1e309",
    "1.5",
    "-2.5",
    "abc",
    "None",
    "True",
    "[]",
    "()",
    "{}",
    "((1, 2),)",
    "'x'",
    "百",
    "9" * 40,
    "-9999999999",
    "0x10",
    "1,2",
    "a=b",
    "--",
)
BASE_CONFIG = {"main": "configs/sr3.py:quick", "generate": "configs/gan_sr3.py:quick"}


class Accepted(Exception):
  """The entry point accepted the command line and would start its work."""


def _accept(*args, **kwargs):
  raise Accepted


def _word(rng: random.Random) -> str:
  return "".join(rng.choice(string.ascii_lowercase + "_") for _ in range(rng.randint(1, 12)))


def _unknown_flag(rng: random.Random) -> str:
  """A flag name the entry point does not define."""
  while (name := _word(rng)) in flags.FLAGS:
    pass
  return name


def _misspelled(rng: random.Random, path: str, known: set[str]) -> str:
  """`path` with one character dropped, doubled or replaced, not a field of the config."""
  while True:
    i = rng.randrange(len(path))
    edit = rng.choice(("drop", "double", "replace"))
    new = {
        "drop": path[:i] + path[i + 1 :],
        "double": path[: i + 1] + path[i:],
        "replace": path[:i] + rng.choice(string.ascii_lowercase) + path[i + 1 :],
    }[edit]
    if new not in known and new.strip(".") and ".." not in new:
      return new


def _cases(entry: str, rng: random.Random, count: int, tmp: pathlib.Path):
  """`count` (argument list) pairs: the base command line with one part made bad."""
  from posergen_jax.configs import gan_sr3, sr3

  config = (sr3 if entry == "main" else gan_sr3).get_config("quick")
  paths = [path for path, _ in stages.leaves(config)]
  known = set(paths)
  not_a_file = tmp / "not_a_config.txt"
  not_a_file.write_text("not python")
  mutations = [
      lambda: [f"--{_unknown_flag(rng)}={rng.choice(VALUES)}"],
      lambda: [f"--config.{_misspelled(rng, rng.choice(paths), known)}={rng.choice(VALUES)}"],
      lambda: [f"--config.{rng.choice(paths)}={rng.choice(VALUES)}"],
      lambda: [f"--config.{rng.choice(paths)}={rng.choice(VALUES)}"],
      lambda: [f"--config.{rng.choice(paths)}"],
      lambda: [f"--{rng.choice(['mode', 'cpu_onednn', 'matmul_precision'])}={_word(rng)}"],
      lambda: [f"--config={rng.choice(['nowhere.py', str(not_a_file), 'configs'])}"],
      lambda: [f"--config={BASE_CONFIG[entry].split(':')[0]}:{_word(rng)}"],
      lambda: [rng.choice(VALUES[1:]) or "x"],
      lambda: [f"--workdir={rng.choice(['', ' '])}"],
  ]
  if entry == "generate":
    mutations += [
        lambda: [f"--{rng.choice(['steps', 'seed', 'batch_size'])}={rng.choice(VALUES)}"],
        lambda: [f"--sampler={_word(rng)}"],
        lambda: [f"--pretrained={rng.choice(['', str(tmp), str(not_a_file), _word(rng)])}"],
        lambda: [f"--prompt={rng.choice(['', ' ', chr(9)])}"],
        lambda: [f"--prompts_file={rng.choice(['nowhere.txt', 'configs', str(not_a_file)])}"],
        lambda: [
            f"--title={rng.choice(['', ' '])}",
            f"--font={rng.choice(['nowhere.ttf', 'configs'])}",
        ],
        lambda: [f"--out={rng.choice([str(not_a_file), str(not_a_file / 'posters'), ''])}"],
    ]
  for _ in range(count):
    yield rng.choice(mutations)()


def _snapshot(folders: list[pathlib.Path]) -> list:
  """Every file and folder under `folders` (which may not exist), with sizes and times."""
  found = []
  for folder in folders:
    found.append((str(folder), folder.exists()))
    if folder.is_dir():
      for path in sorted(folder.rglob("*")):
        stat = path.stat()
        found.append((str(path), stat.st_size, stat.st_mtime_ns))
  return found


def run(
    entry: str, seed: int, count: int, tmp: pathlib.Path, fixed: list[list[str]] = ()
) -> list[dict]:
  """Runs `count` seeded cases, then the `fixed` ones, through `posergen_jax.<entry>.main`; one
  result dict per case."""
  module = importlib.import_module(f"posergen_jax.{entry}")
  if entry == "main":
    module.run_mode = _accept
  else:
    module.pipeline.PosterPipeline = _accept
  workdir, new_workdir = tmp / "workdir", tmp / "new_workdir"
  out = tmp / "out"
  workdir.mkdir()
  (workdir / "kept.txt").write_text("a file that must stay")
  rng = random.Random(seed)
  results = []
  for bad in [*_cases(entry, rng, count, tmp), *fixed]:
    chosen = rng.choice([workdir, new_workdir])
    base = [f"--config={BASE_CONFIG[entry]}", f"--workdir={chosen}"]
    if entry == "generate":
      base += [f"--out={out}", "--prompt=a red circle"]
    argv = [entry, *base, *bad]
    before = _snapshot([workdir, new_workdir, out])
    flags.FLAGS.unparse_flags()
    for name in [name for name in flags.FLAGS if name.startswith("config.")]:
      delattr(flags.FLAGS, name)  # The overrides ml_collections defined for the last case.
    sys.argv = argv  # ml_collections reads the --config.* overrides from sys.argv.
    result = {"case": bad, "args": argv[1:]}
    try:
      module.main(cli.parse_flags(argv))
      result.update(outcome="returned")
    except SystemExit as e:
      result.update(outcome="error", message=e.code if isinstance(e.code, str) else None)
    except Accepted:
      result.update(outcome="accepted")
    except BaseException:  # noqa: BLE001  (reported, not raised)
      result.update(outcome="exception", message=traceback.format_exc())
    result["changed"] = _snapshot([workdir, new_workdir, out]) != before
    if result["outcome"] == "accepted":  # A valid command line may create its folders.
      shutil.rmtree(new_workdir, ignore_errors=True)
      shutil.rmtree(out, ignore_errors=True)
    results.append(result)
  return results


def run_commands(commands: list[list[str]]) -> list[dict]:
  """Runs each `posergen` command line (without the program name) through the dispatcher in
  this process; one {"args", "outcome", "message"} per command line."""
  from absl import app

  from posergen_jax import __main__ as posergen

  absl_flags = set(flags.FLAGS)  # absl's own; each command line's entry point adds the rest.
  entry_modules = {module for module, _ in posergen.COMMANDS.values()}
  # app.run would also set up logging and exit; here the parsed flags go straight to main.
  app.run = lambda main, argv, flags_parser: main(flags_parser(argv))
  results = []
  for args in commands:
    flags.FLAGS.unparse_flags()
    for name in set(flags.FLAGS) - absl_flags:
      delattr(flags.FLAGS, name)
    for module in entry_modules:
      sys.modules.pop(module, None)
    result = {"args": args}
    try:
      posergen.run(["posergen", *args])
      result.update(outcome="returned")
    except SystemExit as e:
      result.update(outcome="error", message=e.code if isinstance(e.code, str) else None)
    except BaseException:  # noqa: BLE001  (reported, not raised)
      result.update(outcome="exception", message=traceback.format_exc())
    results.append(result)
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("entry", choices=[*sorted(BASE_CONFIG), "posergen"])
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--cases", type=int, default=150)
  parser.add_argument("--tmp", required=True, help="An empty folder for the workdirs.")
  parser.add_argument("--fixed", type=json.loads, default=[], help="Cases of one's own, JSON.")
  args = parser.parse_args()
  os.chdir(pathlib.Path(__file__).resolve().parents[1])  # Config paths are relative to the repo.
  if args.entry == "posergen":
    results = run_commands(args.fixed)
  else:
    results = run(args.entry, args.seed, args.cases, pathlib.Path(args.tmp), args.fixed)
  sys.stdout.write(json.dumps(results, ensure_ascii=False) + "\n")


if __name__ == "__main__":
  main()
