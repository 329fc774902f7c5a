"""Config files named inside a config (e.g. the encoder an evaluation scores with)."""

import importlib.util

from etils import epath
import ml_collections

from posergen_jax.io import errors


def load(spec: str, option: str) -> ml_collections.ConfigDict:
  """`'path/to/config.py[:arg]'` -> that file's `get_config(arg)`, as `--config` reads it.

  Raises:
    FileNotFoundError naming `option` (the config field that holds `spec`) and the path.
  """
  path, _, arg = spec.partition(":")
  if not epath.Path(path).is_file():
    raise errors.MissingFileError(
        f"{option}={spec!r}: no config file {path!r} (relative paths start "
        "at the current directory)."
    )
  module_spec = importlib.util.spec_from_file_location(epath.Path(path).stem, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)
