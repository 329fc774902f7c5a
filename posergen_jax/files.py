"""Writing files so that an interrupted run never leaves half of one."""
from etils import epath


def write_atomically(path: epath.Path, data: bytes) -> None:
  """Writes `data` to `path` through a temporary file, so a crash never leaves half a file."""
  tmp = path.parent / f".{path.name}.tmp"
  tmp.write_bytes(data)
  tmp.rename(path)
