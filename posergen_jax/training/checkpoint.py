"""Orbax checkpoints under `workdir/checkpoints`: save the whole state, resume automatically."""

import logging

from etils import epath
import jax
import orbax.checkpoint as ocp

from posergen_jax.data import input_pipeline
from posergen_jax.io import errors, files


def checkpoints_dir(workdir: epath.PathLike) -> epath.Path:
  """Where a workdir's checkpoints live: `workdir/checkpoints`."""
  return epath.Path(workdir) / "checkpoints"


def make_manager(workdir: str, *, max_to_keep: int) -> ocp.CheckpointManager:
  """A manager for `workdir/checkpoints` keeping the newest `max_to_keep` steps.

  Saves are asynchronous and atomic (Orbax writes to a temporary folder and
  renames it when complete), so a half-written checkpoint is never restored.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(
      checkpoints_dir(workdir), options=options, item_handlers=ocp.StandardCheckpointHandler()
  )


def has_checkpoint(workdir: epath.PathLike) -> bool:
  """Whether `workdir/checkpoints` holds a finalized checkpoint; reads only, creates nothing."""
  directory = checkpoints_dir(workdir)
  return directory.exists() and bool(ocp.utils.checkpoint_steps(directory))


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
  check_compatible(manager, step, state)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))


class CheckpointMismatchError(errors.UserError, ValueError):
  """A checkpoint does not fit the state the config builds."""


def _shapes_by_name(tree) -> dict[str, tuple[int, ...]]:
  """{"params.conv_in.kernel": shape, ...} for every array leaf of `tree`."""
  return {
      jax.tree_util.keystr(path, simple=True, separator="."): tuple(leaf.shape)
      for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def check_compatible(manager: ocp.CheckpointManager, step: int, state) -> None:
  """Raises CheckpointMismatchError naming the first parameter that does not fit.

  Compares the names and shapes saved at `step` with those of `state`, so a
  checkpoint of another model, or of the same model under a different config,
  fails with a message instead of an Orbax traceback.
  """
  saved = _shapes_by_name(manager.item_metadata(step).tree)
  wanted = _shapes_by_name(state)
  where = f"The checkpoint of step {step} in {manager.directory}"
  missing = sorted(wanted.keys() - saved.keys())
  unexpected = sorted(saved.keys() - wanted.keys())
  if missing or unexpected:
    raise CheckpointMismatchError(
        f"{where} is not of this model: it lacks {len(missing)} arrays this config builds "
        f"(first: {missing[:1]}) and has {len(unexpected)} it does not (first: "
        f"{unexpected[:1]}). Use another --workdir, or the config it was trained with."
    )
  for name in wanted:  # In the state's order: parameters before optimizer state.
    if saved[name] != wanted[name]:
      raise CheckpointMismatchError(
          f"{where} has {name} of shape {saved[name]}, but this config builds "
          f"{wanted[name]}: the config differs from the one the checkpoint was trained with."
      )


def _data_state_dir(workdir: epath.Path, step: int) -> epath.Path:
  return epath.Path(workdir) / "data_state" / f"step_{step}" / f"process_{jax.process_index()}"


def save_data_state(
    batches: input_pipeline.GlobalBatches, workdir: epath.PathLike, step: int
) -> None:
  """Saves this process's input position after `step` batches, atomically.

  Written to a temporary folder and renamed (`files.atomic_path`), so a kill
  mid-write leaves no partial state under the final name. Saved before the
  step's Orbax checkpoint starts, so every complete Orbax step has its data
  state.
  """
  final = _data_state_dir(workdir, step)
  if final.exists():
    return
  files.remove_temporaries(final)  # Of an earlier, killed save: only this process writes here.
  final.parent.mkdir(parents=True, exist_ok=True)
  with files.atomic_path(final) as tmp:
    tmp.mkdir()
    batches.save(str(tmp / "iterator"))


def restore_data_state(
    batches: input_pipeline.GlobalBatches, workdir: epath.PathLike, step: int
) -> bool:
  """Restores the input position saved at `step`; False if none was saved."""
  path = _data_state_dir(workdir, step)
  if not path.exists():
    return False
  batches.restore(str(path / "iterator"))
  return True


def prune_data_states(workdir: epath.PathLike, keep_from_step: int) -> None:
  """Deletes this process's data states of steps before `keep_from_step`."""
  root = epath.Path(workdir) / "data_state"
  if not root.exists():
    return
  for step_dir in root.iterdir():
    step = step_dir.name.removeprefix("step_")
    if step.isdigit() and int(step) < keep_from_step:
      mine = _data_state_dir(workdir, int(step))
      files.remove_temporaries(mine)
      if mine.exists():
        mine.rmtree()
      if jax.process_index() == 0 and not any(step_dir.iterdir()):
        step_dir.rmdir()
