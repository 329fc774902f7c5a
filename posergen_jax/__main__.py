r"""The `posergen` command: one program for every entry point.

  posergen train    --config=configs/sr3.py --workdir=runs/sr3    # python -m posergen_jax.main
  posergen eval     --config=... --workdir=...                    # ... --mode=eval
  posergen sample   --config=... --workdir=...                    # ... --mode=sample
  posergen generate --pretrained=DIR --prompt=... --out=posters   # python -m posergen_jax.generate
  posergen export   --config=... --workdir=... --out=DIR          # python -m posergen_jax.export
  posergen distil   --config=configs/wgan.py --out=DIR            # python -m posergen_jax.distil
  posergen demo     --pretrained=DIR                              # python -m posergen_jax.demo
  posergen aot      --config=... --topology=v5e:2x4               # python -m posergen_jax.aot

Each takes the same flags as the module it runs (`posergen train --help`). Without the console
script, `python -m posergen_jax COMMAND ...` is the same program.
"""

import importlib
import os
import sys

from absl import app

from posergen_jax import cli

# Subcommand -> (module, flags it adds before the user's).
COMMANDS = {
    "train": ("posergen_jax.main", ["--mode=train"]),
    "eval": ("posergen_jax.main", ["--mode=eval"]),
    "sample": ("posergen_jax.main", ["--mode=sample"]),
    "eval_system": ("posergen_jax.main", ["--mode=eval_system"]),
    "generate": ("posergen_jax.generate", []),
    "export": ("posergen_jax.export", []),
    "distil": ("posergen_jax.distil", []),
    "demo": ("posergen_jax.demo", []),
    "aot": ("posergen_jax.aot", []),
}
USAGE = f"usage: posergen {{{','.join(COMMANDS)}}} [--flags] (posergen COMMAND --help for each)"


def run(argv: list[str] | None = None) -> None:
  """Runs `posergen COMMAND FLAGS...` (argv as sys.argv: the program name first)."""
  argv = sys.argv if argv is None else argv
  if len(argv) < 2 or argv[1] in ("-h", "--help"):
    sys.exit(USAGE)
  if argv[1] not in COMMANDS:
    sys.exit(f"error: unknown command {argv[1]!r}; {USAGE}")
  module_name, preset = COMMANDS[argv[1]]
  program = f"posergen {argv[1]}"
  # As `python -m` does: a config file of the user's may import its neighbours.
  sys.path.insert(0, os.getcwd())
  # absl and ml_collections read the flags (the --config.* overrides included) from sys.argv.
  sys.argv = [program, *preset, *argv[2:]]
  module = importlib.import_module(module_name)  # Defines its flags, or has define_flags.
  if hasattr(module, "define_flags"):
    module.define_flags()
  app.run(module.main, argv=sys.argv, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
