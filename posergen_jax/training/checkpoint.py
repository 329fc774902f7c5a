"""Orbax checkpoints under `workdir/checkpoints`: save the whole state, resume automatically."""
import logging

from etils import epath
import jax
import orbax.checkpoint as ocp


def make_manager(workdir: str, *, max_to_keep: int) -> ocp.CheckpointManager:
  """A manager for `workdir/checkpoints` keeping the newest `max_to_keep` steps.

  Saves are asynchronous and atomic (Orbax writes to a temporary folder and
  renames it when complete), so a half-written checkpoint is never restored.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(epath.Path(workdir) / "checkpoints", options=options)


def save(manager: ocp.CheckpointManager, step: int, state) -> None:
  """Starts an asynchronous save of `state` at `step` (a no-op if it exists)."""
  if manager.latest_step() != step:
    manager.save(step, args=ocp.args.StandardSave(state))


def restore_latest(manager: ocp.CheckpointManager, state):
  """Restores the newest checkpoint into the shapes and shardings of `state`.

  Args:
    manager: the workdir's checkpoint manager.
    state: a state pytree (concrete or `jax.ShapeDtypeStruct`s with shardings)
      that fixes the structure, dtypes and shardings of the result.

  Returns:
    The restored state, or `state` unchanged when the workdir has no checkpoint.
  """
  step = manager.latest_step()
  if step is None:
    return state
  logging.info("Restoring checkpoint of step %d from %s", step, manager.directory)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))
