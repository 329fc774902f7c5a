"""Writing files so that an interrupted run never leaves half of one; local copies of remote files.

`atomic_path` hands out a temporary sibling of the target (a hidden name with the writer's pid and
a random part, so concurrent writers never share one) and moves it onto the target only when the
block succeeds. Local paths are moved with `os.replace` (atomic on POSIX); other epath paths
(gs://...) with epath's `replace`, which is as atomic as their file system allows.
"""

from collections.abc import Iterator
import contextlib
import hashlib
import logging
import os
import pathlib
import secrets

from etils import epath

_TEMP_MARK = ".tmp-"


def _temporary_name(path: epath.Path) -> str:
  """`.{stem}.tmp-{pid}-{random}{suffix}`: hidden, unique, and with `path`'s suffix (writers such
  as `np.savez` or PIL go by it)."""
  return f".{path.stem}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"


def _is_temporary_of(name: str, path: epath.Path) -> bool:
  prefix = f".{path.stem}{_TEMP_MARK}"
  return (
      name.startswith(prefix)
      and name.endswith(path.suffix)
      and len(name) > len(prefix) + len(path.suffix)
  )


def is_remote(path: epath.PathLike) -> bool:
  """Whether `path` names a file system other than the local one (gs://, s3://, ...)."""
  return "://" in os.fspath(path)


def _remove(path: epath.Path) -> None:
  """Deletes the file or folder `path` if it exists; logs (not raises) a failure."""
  try:
    if path.is_dir():
      path.rmtree()
    else:
      path.unlink(missing_ok=True)
  except OSError as e:
    logging.warning("Could not remove the temporary %s: %s", path, e)


@contextlib.contextmanager
def atomic_path(path: epath.PathLike) -> Iterator[epath.Path]:
  """Yields a temporary path to write `path` through; it becomes `path` if the block succeeds.

  The temporary is a sibling of `path` (same folder, so the final move is a rename), hidden and
  unique to this call. The block may write a file or create a folder there; nothing is created
  beforehand, and `path`'s folder must exist. When the block raises, the temporary is removed and
  `path` is left as it was.

  A file replaces an existing file at `path`. A folder can only take the place of a missing or
  (locally) empty folder: `os.replace`'s rule.

  Args:
    path: the final file or folder (str, pathlib or epath; local or e.g. gs://).

  Yields:
    The temporary epath.Path to write.

  Raises:
    Whatever the block raises; OSError if the move fails (the temporary is removed then too).
  """
  path = epath.Path(path)
  tmp = path.parent / _temporary_name(path)
  try:
    yield tmp
    if not is_remote(path):
      os.replace(os.fspath(tmp), os.fspath(path))
    else:
      tmp.replace(path)
  except BaseException:
    _remove(tmp)
    raise


def remove_temporaries(path: epath.PathLike) -> None:
  """Deletes the `atomic_path` temporaries of `path` that killed writers left behind.

  Only call it where no other process is writing `path` at the same time.
  """
  path = epath.Path(path)
  if not path.parent.is_dir():
    return
  for child in path.parent.iterdir():
    if _is_temporary_of(child.name, path):
      _remove(child)


def write_atomically(path: epath.PathLike, data: bytes) -> None:
  """Writes `data` to `path` (replacing any file there) through `atomic_path`, so a crash never
  leaves half a file."""
  with atomic_path(path) as tmp:
    tmp.write_bytes(data)


def local_copy(path: epath.PathLike, folder: pathlib.Path) -> pathlib.Path:
  """`path` itself when it is local; else its copy under `folder`, made once per version.

  For readers that need a local file (tokenizers, fonts, zip archives). The copy is named by a
  hash of the remote path, size and modification time, and keeps the file's name (readers go by
  its suffix); it is written atomically, so concurrent callers never see half a file.

  Args:
    path: a local or remote (gs://...) file.
    folder: a local folder for the copies.

  Returns:
    A local path to read.
  """
  if not is_remote(path):
    return pathlib.Path(path)
  path = epath.Path(path)
  stat = path.stat()
  key = hashlib.sha256(f"{path}|{stat.length}|{stat.mtime}".encode()).hexdigest()[:16]
  copy = folder / key / path.name
  if not copy.is_file():
    copy.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(copy, path.read_bytes())
  return copy
