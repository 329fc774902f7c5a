"""Workdir checks done before any work, so a bad path fails in the first second."""

import uuid

from etils import epath

from posergen_jax.io import errors


class WorkdirError(errors.UserError, OSError):
  """The workdir cannot be created or written."""


def ensure_writable(workdir: str) -> epath.Path:
  """Creates `workdir` if needed and proves it is writable with a probe file.

  Raises:
    WorkdirError: naming the workdir and the reason (read-only, not a folder,
      full disk, ...). Nothing already in the workdir is touched.
  """
  path = epath.Path(workdir)
  probe = path / f".write_probe_{uuid.uuid4().hex}"
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise WorkdirError(f"--workdir={workdir} is not writable: {e.strerror or e}") from e
  return path
