"""Orbax checkpoints under `workdir/checkpoints`: save the whole state, resume automatically."""

import functools
import logging
import os
import weakref

from etils import epath
import jax
import orbax.checkpoint as ocp

# Not exported by orbax: the array-metadata store its default jax.Array handler is built with.
from orbax.checkpoint._src.metadata import array_metadata_store

from posergen_jax.data import input_pipeline
from posergen_jax.io import errors, files


def checkpoints_dir(workdir: epath.PathLike) -> epath.Path:
  """Where a workdir's checkpoints live: `workdir/checkpoints`."""
  return epath.Path(workdir) / "checkpoints"


# A replicated array is written in slices, one per replica (orbax's replica-parallel saving),
# only where each slice is at least this large: below it the per-slice dispatches cost more than
# the bytes they write.
MIN_REPLICA_SLICE_BYTES = 1 << 20


@functools.cache
def _use_replica_parallel_for_large_arrays_only() -> None:
  """Registers, once per process, orbax's jax.Array handler with MIN_REPLICA_SLICE_BYTES."""
  ocp.type_handlers.register_type_handler(
      jax.Array,
      ocp.type_handlers.ArrayHandler(
          array_metadata_store=array_metadata_store.Store(),
          min_slice_bytes_for_replica_parallel=MIN_REPLICA_SLICE_BYTES,
      ),
      override=True,
  )


def make_manager(workdir: str, *, max_to_keep: int) -> ocp.CheckpointManager:
  """A manager for `workdir/checkpoints` keeping the newest `max_to_keep` steps.

  Saves are asynchronous and atomic (Orbax writes to a temporary folder and
  renames it when complete), so a half-written checkpoint is never restored.
  """
  _use_replica_parallel_for_large_arrays_only()
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(
      checkpoints_dir(workdir), options=options, item_handlers=ocp.StandardCheckpointHandler()
  )


def has_checkpoint(workdir: epath.PathLike) -> bool:
  """Whether `workdir/checkpoints` holds a finalized checkpoint; reads only, creates nothing."""
  directory = checkpoints_dir(workdir)
  return directory.exists() and bool(ocp.utils.checkpoint_steps(directory))


# The steps `restore_latest` found unreadable, per manager: `save` moves them aside before saving
# over them. Weak keys: an entry goes with its manager.
_unreadable_steps: "weakref.WeakKeyDictionary[ocp.CheckpointManager, set[int]]" = (
    weakref.WeakKeyDictionary()
)


def _step_dir(manager: ocp.CheckpointManager, step: int) -> epath.Path:
  """The folder of `step` (`make_manager` keeps Orbax's default step names: the step number)."""
  return manager.directory / str(step)


def save(manager: ocp.CheckpointManager, step: int, state) -> None:
  """Starts an asynchronous save of `state` at `step` (a no-op if this step is saved already).

  Orbax saves no step at or below its newest one, so the unreadable steps `restore_latest`
  skipped, if they are `step` or newer, are first moved aside (`_move_aside`): the run that
  resumed before them saves good checkpoints in their place, and a later run does not meet
  them again.
  """
  blocking = sorted(s for s in _unreadable_steps.get(manager, ()) if s >= step)
  if blocking:
    _move_aside(manager, blocking, step)
  if manager.latest_step() != step:
    manager.save(step, args=ocp.args.StandardSave(state))


def _move_aside(manager: ocp.CheckpointManager, steps: list[int], saving: int) -> None:
  """Renames the unreadable `steps` to hidden `.corrupt-<step>-<pid>` folders, to save `saving`.

  Renamed, not deleted, so they can still be inspected (and removed by hand); Orbax lists only
  folders named by a step number, so it no longer sees them. Its cached step list is re-read.
  """
  manager.wait_until_finished()
  if jax.process_index() == 0:
    for step in steps:
      folder = _step_dir(manager, step)
      if not folder.exists():
        continue
      aside = manager.directory / f".corrupt-{step}-{os.getpid()}"
      n = 0
      while aside.exists():
        n += 1
        aside = manager.directory / f".corrupt-{step}-{os.getpid()}-{n}"
      folder.rename(aside)
      logging.warning(
          "Moved the unreadable checkpoint of step %d aside to %s, to save step %d.",
          step,
          aside,
          saving,
      )
  ocp.multihost.sync_global_processes(f"posergen_move_aside_{'_'.join(map(str, steps))}")
  manager.reload()
  _unreadable_steps[manager].difference_update(steps)


class CorruptCheckpointError(errors.UserError, ValueError):
  """No checkpoint of a workdir could be read (each is damaged: truncated or garbled files)."""


def _reason(error: Exception) -> str:
  """The error's type and the first line of its message, for a one-line report."""
  lines = str(error).strip().splitlines()
  first = lines[0] if lines else ""
  if len(first) > 300:
    first = first[:300] + "..."
  return f"{type(error).__name__}: {first}" if first else type(error).__name__


def restore_latest(manager: ocp.CheckpointManager, state):
  """Restores the newest readable checkpoint into the shapes and shardings of `state`.

  A checkpoint that cannot be read (a truncated or garbled file: Orbax and TensorStore then raise
  errors of many types) is skipped for the next older one, with one warning naming the skipped
  steps, their folders and reasons, and the step restored. Nothing is deleted here; `save` moves
  the skipped steps aside only when the run saves those steps again.

  Args:
    manager: the workdir's checkpoint manager.
    state: a state pytree (concrete or `jax.ShapeDtypeStruct`s with shardings)
      that fixes the structure, dtypes and shardings of the result.

  Returns:
    The restored state, or `state` unchanged when the workdir has no checkpoint.

  Raises:
    CheckpointMismatchError: a readable checkpoint is of another model (never skipped).
    CorruptCheckpointError: the workdir has checkpoints, but none can be read.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  unreadable = {}
  for step in steps:
    logging.info("Restoring checkpoint of step %d from %s", step, manager.directory)
    try:
      check_compatible(manager, step, state)
      restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except CheckpointMismatchError:
      raise  # Read fine, but of another model: skipping it would silently train something else.
    except Exception as e:  # Damaged files raise JSON, TensorStore and plain errors alike.
      unreadable[step] = _reason(e)
      continue
    _unreadable_steps[manager] = set(unreadable)
    if unreadable:
      logging.warning(
          "Restored step %d, the newest readable checkpoint in %s; skipped the unreadable %s. "
          "Nothing was deleted; a skipped step is moved aside when training saves it again.",
          step,
          manager.directory,
          "; ".join(f"step {s} in {_step_dir(manager, s)} ({r})" for s, r in unreadable.items()),
      )
    return restored
  raise CorruptCheckpointError(
      f"No checkpoint in {manager.directory} can be read: "
      + "; ".join(f"step {s} ({r})" for s, r in unreadable.items())
      + ". Nothing was deleted. Move the folder away (or use another --workdir) to start over."
  )


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
  """`data_state/step_N/process_I_of_P`: a position is only restored into the same layout."""
  name = f"process_{jax.process_index()}_of_{jax.process_count()}"
  return epath.Path(workdir) / "data_state" / f"step_{step}" / name


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
  """Restores the input position saved at `step`; False if none was saved (or it was saved by
  a run with another number of processes), or if it cannot be read (truncated, garbled), with a
  warning naming the folder and the reason."""
  path = _data_state_dir(workdir, step)
  if not path.exists():
    if path.parent.exists() and any(path.parent.iterdir()):
      logging.warning(
          "The input position saved at step %d in %s is of another process layout (%s); this "
          "run has %d processes.",
          step,
          path.parent,
          ", ".join(sorted(child.name for child in path.parent.iterdir())),
          jax.process_count(),
      )
    return False
  try:
    batches.restore(str(path / "iterator"))
  except Exception as e:  # noqa: BLE001  TensorFlow's reader raises many types on damaged files.
    reason = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    logging.warning(
        "The input position saved at step %d in %s cannot be read (%s).", step, path, reason
    )
    return False
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
