"""Reads PyTorch zip archives (`torch.save`, `torch.jit.save`) into numpy arrays, without torch.

Both formats are a zip with one top folder holding `data.pkl` (the pickled object tree) and
`data/<key>` files (the raw bytes of each tensor storage). Tensors in the pickle are calls to
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` whose storage is a persistent
id `("storage", <dtype>Storage, key, location, numel)`; they are rebuilt here as numpy views of the
storage bytes and copied, so strided views and storages shared between tensors come out right.

The unpickler (a `safe_pickle.RestrictedUnpickler`) never imports anything: it resolves only
the exact globals listed in `_GLOBALS` (torch's rebuild helpers and storage types, TorchScript's
list builders, `collections.OrderedDict`, and `argparse.Namespace` as an inert placeholder dropped
by `read_state_dict`) and refuses any other with `safe_pickle.RefusedGlobalError`, so loading a
file cannot run code from it. TorchScript modules (`__torch__.*` classes, compiled by TorchScript
and never Python globals) become `ScriptObject`s holding their attributes.

Only the zip format (torch >= 1.6, the default since then) is read; the legacy tar/pickle format
gets an error that says how to re-save the file.
"""

from __future__ import annotations

import functools
import os
from typing import Any
import zipfile

import ml_dtypes
import numpy as np

from posergen_jax.io import errors, safe_pickle

# torch storage class name -> numpy dtype of its elements.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
    "UntypedStorage": np.uint8,
}


class TorchArchiveError(errors.UserError, ValueError):
  """A file is not a readable PyTorch zip archive; the message names the file."""


class ScriptObject:
  """A TorchScript object (`__torch__.*` class) from a `torch.jit.save` archive.

  Attributes:
    type_name: the qualified TorchScript class, e.g. `__torch__.inceptionv3.Conv2dLayer`.
    state: its attributes: parameters/buffers as numpy arrays, submodules as ScriptObjects,
      other attributes (`stride`, `training`, ...) as Python values.
  """

  type_name = ""

  def __new__(cls, *args, **kwargs):
    obj = super().__new__(cls)
    obj.state = {"args": args, **kwargs} if args or kwargs else {}
    return obj

  def __init__(self, *args, **kwargs):
    del args, kwargs  # Kept by __new__, which NEWOBJ calls without __init__.

  def __setstate__(self, state: Any) -> None:
    self.state = dict(state) if isinstance(state, dict) else {"state": state}

  def __repr__(self) -> str:
    return f"{self.type_name}({', '.join(self.state)})"


class Opaque(ScriptObject):
  """Stands in for a pickled class this reader does not interpret (argparse.Namespace)."""


@functools.cache
def _placeholder_class(base: type, name: str) -> type:
  return type(name.rpartition(".")[2] or name, (base,), {"type_name": name})


class _AttrDict(dict):
  """`collections.OrderedDict`, which may carry attributes (a state dict's `_metadata`)."""


class _StorageType:
  """What `find_class` returns for `torch.<X>Storage`: only its element dtype matters."""

  def __init__(self, dtype: Any):
    self.dtype = np.dtype(dtype)


def _rebuild_tensor(
    storage: np.ndarray,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *unused,
) -> np.ndarray:
  """`torch._utils._rebuild_tensor_v2`: a copy of the strided view of a 1-D storage array."""
  del unused
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if any(s == 0 for s in size):
    return np.zeros(size, storage.dtype)
  last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
  if storage_offset < 0 or min(stride, default=0) < 0 or last >= storage.size:
    raise TorchArchiveError(
        f"tensor of size {size}, stride {stride}, offset {storage_offset} "
        f"runs past its storage of {storage.size} elements"
    )
  view = np.lib.stride_tricks.as_strided(
      storage[storage_offset:],
      shape=size,
      strides=tuple(s * storage.itemsize for s in stride),
      writeable=False,
  )
  return np.array(view)


def _rebuild_parameter(data: np.ndarray, *unused) -> np.ndarray:
  """`torch._utils._rebuild_parameter[_with_state]`: a Parameter is its data."""
  del unused
  return data


def _rebuild_from_type(func: Any, new_type: Any, args: tuple, state: Any) -> Any:
  """`torch._tensor._rebuild_from_type_v2`: a Tensor subclass is rebuilt as its plain data."""
  del new_type, state
  return func(*args)


def _first(value: Any, *unused) -> Any:
  """`torch.jit._pickle.build_*list` / `restore_type_tag`: the value itself."""
  del unused
  return value


# The only globals a torch archive's data.pkl may name, and what each becomes here.
_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("collections", "OrderedDict"): _AttrDict,
    ("argparse", "Namespace"): _placeholder_class(Opaque, "argparse.Namespace"),
    **{
        ("torch.jit._pickle", name): _first
        for name in (
            "build_intlist",
            "build_tensorlist",
            "build_doublelist",
            "build_boollist",
            "build_genericlist",
            "restore_type_tag",
        )
    },
    **{("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _ArchiveUnpickler(safe_pickle.RestrictedUnpickler):
  """Unpickles `data.pkl`, reading storages from the archive and importing nothing."""

  def __init__(self, file, archive: zipfile.ZipFile, prefix: str, byteorder: str, path: str):
    super().__init__(file, path, _GLOBALS)
    self._archive, self._prefix = archive, prefix
    self._byteorder = ">" if byteorder == "big" else "<"
    self._storages: dict[str, np.ndarray] = {}

  def find_class(self, module: str, name: str) -> Any:
    """A `ScriptObject` class for a TorchScript class, else the allowlisted global (or refusal)."""
    if module.startswith("__torch__"):
      return _placeholder_class(ScriptObject, f"{module}.{name}")
    return super().find_class(module, name)

  def persistent_load(self, pid: Any) -> np.ndarray:
    if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
      raise TorchArchiveError(f"{self.path}: unknown persistent id {pid!r} in data.pkl")
    storage_type, key = pid[1], str(pid[2])
    if key not in self._storages:
      dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else np.dtype(np.uint8)
      if dtype.itemsize > 1 and dtype.kind != "V":
        dtype = dtype.newbyteorder(self._byteorder)
      try:
        raw = self._archive.read(f"{self._prefix}/data/{key}")
      except KeyError:
        raise TorchArchiveError(f"{self.path}: storage data/{key} is missing") from None
      self._storages[key] = np.frombuffer(raw, dtype)
    return self._storages[key]


def _data_pickle_prefix(archive: zipfile.ZipFile, path: str) -> str:
  """The top folder holding `data.pkl` in a torch zip archive."""
  prefixes = [
      n[: -len("/data.pkl")]
      for n in archive.namelist()
      if n.endswith("/data.pkl") and n.count("/") == 1
  ]
  if len(prefixes) != 1:
    raise TorchArchiveError(
        f"{path}: not a PyTorch zip archive (expected one <folder>/data.pkl, "
        f"found {len(prefixes)})"
    )
  return prefixes[0]


def load_pickle(path: str | os.PathLike) -> Any:
  """Unpickles the object tree of a `torch.save` / `torch.jit.save` zip archive.

  Args:
    path: the archive file.

  Returns:
    The saved object with every tensor as a numpy array of its dtype and shape (bfloat16 as
    `ml_dtypes.bfloat16`), dicts (OrderedDicts too) as dicts, TorchScript objects as
    `ScriptObject`s and `argparse.Namespace`s as `Opaque` placeholders.

  Raises:
    TorchArchiveError: the file is not a zip archive with one `<folder>/data.pkl`, or it is
      damaged (a storage missing or too short).
    safe_pickle.RefusedGlobalError: data.pkl names a global outside `_GLOBALS` (e.g. `os.system`).
  """
  path = os.fspath(path)
  if not zipfile.is_zipfile(path):
    with open(path, "rb") as f:
      legacy = f.read(2) == b"\x80\x02"
    hint = (
        " (legacy torch.save format: load it with torch and re-save it with torch >= 1.6)"
        if legacy
        else ""
    )
    raise TorchArchiveError(f"{path}: not a PyTorch zip archive{hint}")
  with zipfile.ZipFile(path) as archive:
    prefix = _data_pickle_prefix(archive, path)
    names = set(archive.namelist())
    byteorder = (
        archive.read(f"{prefix}/byteorder").decode().strip()
        if f"{prefix}/byteorder" in names
        else "little"
    )
    with archive.open(f"{prefix}/data.pkl") as f:
      try:
        return _ArchiveUnpickler(f, archive, prefix, byteorder, path).load()
      except (TorchArchiveError, safe_pickle.RefusedGlobalError):
        raise
      except Exception as e:
        raise TorchArchiveError(f"{path}: cannot unpickle data.pkl: {e}") from e


def flatten_arrays(tree: Any, sep: str = ".") -> dict[str, np.ndarray]:
  """The numpy arrays in a tree of dicts, lists, tuples and ScriptObjects, keyed by their path.

  Args:
    tree: e.g. what `load_pickle` returns.
    sep: joins the keys (list indices count as keys) on the way to each array.

  Returns:
    {"a.b.0.c": array}; leaves that are not arrays (ints, strings, placeholders) are left out.
  """
  flat = {}

  def visit(node: Any, prefix: str) -> None:
    if isinstance(node, np.ndarray):
      flat[prefix] = node
      return
    if isinstance(node, ScriptObject):
      node = node.state
    if isinstance(node, dict):
      items = node.items()
    elif isinstance(node, (list, tuple)):
      items = enumerate(node)
    else:
      return
    for key, value in items:
      visit(value, f"{prefix}{sep}{key}" if prefix else str(key))

  visit(tree, "")
  return flat


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Every tensor in a `torch.save` file, flattened: {"state_dict.layer.weight": array}.

  Args:
    path: a `torch.save` zip archive (a state dict, or a checkpoint dict nesting one).

  Returns:
    Arrays with the tensors' shapes and dtypes (float32/float16/bfloat16/int64/...), keyed by
    '.'-joined paths through nested dicts and lists; non-tensor entries (epoch, names) are dropped.

  Raises:
    TorchArchiveError: not a torch zip archive, or a damaged one; the message names the file.
    safe_pickle.RefusedGlobalError: the archive names a global this reader does not allow.
  """
  return flatten_arrays(load_pickle(path))


def script_module_tree(obj: Any) -> Any:
  """A TorchScript object tree as plain data: each ScriptObject becomes the dict of its state.

  Args:
    obj: e.g. `load_pickle(path)` of a `torch.jit.save` archive.

  Returns:
    Nested dicts {attribute: value}: submodules as dicts, parameters and buffers as numpy
    arrays, other attributes (`stride`, `padding`, `training`) as Python values.
  """
  if isinstance(obj, ScriptObject):
    obj = obj.state
  if isinstance(obj, dict):
    return {k: script_module_tree(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return type(obj)(script_module_tree(v) for v in obj)
  return obj


def read_script_module(path: str | os.PathLike) -> dict[str, Any]:
  """The attributes of a `torch.jit.save` module, nested by submodule name.

  Args:
    path: a TorchScript zip archive.

  Returns:
    {"net": {"layers": {"conv": {"weight": float32 [O,I,kh,kw], "stride": 2, ...}}}}: see
    `script_module_tree`.

  Raises:
    TorchArchiveError: not a torch zip archive, or its data.pkl holds no TorchScript module.
  """
  root = load_pickle(path)
  if not isinstance(root, ScriptObject) or isinstance(root, Opaque):
    raise TorchArchiveError(
        f"{os.fspath(path)}: not a TorchScript archive (data.pkl holds "
        f"{type(root).__name__}, not a __torch__ module)"
    )
  return script_module_tree(root)
