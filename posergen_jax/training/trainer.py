"""The one generic train loop: mesh, data, jit, checkpoints, logging, evaluation.

Model families plug in pure functions (`training/family.py`), handed in by the caller
(`families/registry.py`); nothing here knows which model it trains.
"""

from collections.abc import Callable, Iterator, Sequence
import dataclasses
import errno
import functools
import logging
import re
import time
from typing import Any

from clu import metric_writers, periodic_actions
from etils import epath
import jax
from jax.experimental import multihost_utils
import ml_collections
import orbax.checkpoint as ocp
import tensorflow as tf

from posergen_jax.config import schema, stages
from posergen_jax.data import input_pipeline
from posergen_jax.evaluation import generated_images, report
from posergen_jax.io import errors, files, progress
from posergen_jax.io import images as image_io
from posergen_jax.training import checkpoint, optimizers, preemption, sharding
from posergen_jax.training import family as family_lib

# The config fields the loop reads (config/schema.py); a family adds its own.
FIELD_RULES = {
    "seed": schema.integer(0, 2**32 - 1),
    "train.batch_size": schema.POSITIVE,
    "train.num_steps": schema.POSITIVE,
    "train.log_every": schema.POSITIVE,
    "train.sample_every": schema.POSITIVE,
    "train.max_nonfinite_steps": schema.POSITIVE,
    "train.stop_check_every": schema.POSITIVE,
    "train.microbatches": schema.POSITIVE,
    "ema.decay": schema.FRACTION,
    "ckpt.every": schema.POSITIVE,
    "ckpt.max_to_keep": schema.POSITIVE,
    "evals.num_examples": schema.POSITIVE,
    "evals.batch_size": schema.POSITIVE,
    "evals.after_train": schema.BOOL,
    "evals.grid_size": schema.POSITIVE,
    "evals.captions_per_example": schema.POSITIVE,
}


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything built once at start-up and passed down.

  `state` is the train state at set-up (restored from the workdir's latest checkpoint, or
  initialised); `train` donates it to its first step and returns the trained state.
  """

  config: ml_collections.ConfigDict
  workdir: epath.Path
  family: family_lib.Family
  shardings: sharding.MeshShardings
  manager: ocp.CheckpointManager
  state: Any
  state_shardings: Any

  @property
  def ema_shardings(self) -> Any:
    """Shardings of `state.ema_params`, what sampling and evaluation read."""
    return self.state_shardings.ema_params


def check_batch_sizes(
    config: ml_collections.ConfigDict,
    shards: int,
    field: Callable[[str], str] = lambda path: f"config.{path}",
) -> None:
  """Raises ConfigError naming the field (`field(dotted path)`) unless the train, eval and grid
  batches are multiples of the `shards` data-parallel devices and the evaluated examples a
  multiple of the eval batch."""
  for name, size in (
      ("train.batch_size", config.train.batch_size),
      ("evals.batch_size", config.evals.batch_size),
      ("evals.grid_size", config.evals.grid_size),
  ):
    if size % shards:
      raise errors.ConfigError(
          f"{field(name)}={size}: must be a multiple of the {shards} data-parallel devices."
      )
  if config.evals.num_examples % config.evals.batch_size:
    raise errors.ConfigError(
        f"{field('evals.num_examples')}={config.evals.num_examples}: must be a multiple of "
        f"{field('evals.batch_size')}={config.evals.batch_size}."
    )


def check_fields(fields: schema.Fields) -> None:
  """Raises ConfigError unless the train, eval and grid batches split over the data-parallel
  devices `fields.values['mesh']` gives over `fields.num_devices` devices, and the train batch
  into `train.microbatches` microbatches that do too (see `check_batch_sizes`)."""
  v = fields.values
  sizes = dict(
      zip((axis for axis, _ in v["mesh"]), sharding.mesh_sizes(v["mesh"], fields.num_devices))
  )
  shards = sizes[sharding.DATA_AXIS] * sizes.get(sharding.SLICES_AXIS, 1)
  check_batch_sizes(fields.config, shards, field=fields.name)
  count = v.get("train.microbatches", 1)
  if v["train.batch_size"] % (count * shards):
    raise fields.fail(
        "train.microbatches",
        f"a divisor of {fields.name('train.batch_size')}={v['train.batch_size']} leaving "
        f"microbatches that are multiples of the {shards} data-parallel devices",
    )


def _eval_batches(
    config: ml_collections.ConfigDict,
    family: family_lib.Family,
    shardings: sharding.MeshShardings,
    batch_size: int,
    scorers: Sequence[family_lib.Scorer] = (),
) -> Iterator[dict[str, jax.Array]]:
  """Ordered global batches of the first `config.evals.num_examples` eval examples, with the
  features each of `scorers` reads added."""
  preprocess_fns = [family.make_preprocess(False), *(s.preprocess for s in scorers)]

  def preprocess(example, seed):
    return {key: value for fn in preprocess_fns for key, value in fn(example, seed).items()}

  ds = input_pipeline.create_dataset(
      config.data,
      config.data.eval_split,
      global_batch_size=batch_size,
      preprocess=preprocess,
      train=False,
      seed=config.seed,
      num_examples=config.evals.num_examples,
      captions_per_example=config.evals.get("captions_per_example", 1),
  )
  return input_pipeline.GlobalBatches(ds, shardings.data)


def setup(config: ml_collections.ConfigDict, workdir: str, family: family_lib.Family) -> Run:
  """Builds the mesh and `family`'s (restored) sharded train state, for the run of `config` in
  `workdir`."""
  workdir = epath.Path(workdir)
  if not workdir.is_absolute():  # Orbax needs absolute paths; gs:// paths already are.
    workdir = workdir.absolute()
  mesh = sharding.make_mesh(config.mesh)
  shardings = sharding.make_shardings(mesh, config.fsdp)
  check_batch_sizes(config, sharding.data_axis_size(mesh))
  logging.info(
      "Mesh %s over %d devices (%d processes).",
      dict(mesh.shape),
      jax.device_count(),
      jax.process_count(),
  )
  input_pipeline.log_dataset(config.data)
  example = next(_eval_batches(config, family, shardings, config.evals.batch_size))
  state, state_shardings = sharding.init_sharded(
      family.init_state, shardings, jax.random.key(config.seed), example
  )
  manager = checkpoint.make_manager(workdir, max_to_keep=config.ckpt.max_to_keep)
  state = checkpoint.restore_latest(manager, state)
  return Run(config, workdir, family, shardings, manager, state, state_shardings)


def jit_train_step(
    train_step: Callable, state_shardings: Any, shardings: sharding.MeshShardings
) -> Callable:
  """`train_step(state, batch, rng) -> (state, metrics)` jitted as the loop runs it: the state
  sharded by `state_shardings` and donated, the batch split over the data axis, the rng and the
  metrics replicated."""
  return jax.jit(
      train_step,
      in_shardings=(state_shardings, shardings.data, shardings.replicated),
      out_shardings=(state_shardings, shardings.replicated),
      donate_argnums=0,
  )


def _jit_sample_columns(run: Run):
  return jax.jit(
      run.family.sample_columns,
      in_shardings=(run.ema_shardings, run.shardings.data, run.shardings.replicated),
      out_shardings=run.shardings.data,
  )


def write_sample_grid(
    run: Run, state: Any, writer: metric_writers.MetricWriter, step: int
) -> epath.Path:
  """Samples the first eval batch with `state`'s EMA params (at `step`); writes TensorBoard +
  PNG."""
  batch = next(_eval_batches(run.config, run.family, run.shardings, run.config.evals.grid_size))
  rng = jax.random.fold_in(jax.random.key(run.config.seed), 1)
  columns = _jit_sample_columns(run)(state.ema_params, batch, rng)
  columns = [multihost_utils.process_allgather(c, tiled=True) for c in columns]
  grid = image_io.make_grid(columns)
  writer.write_images(step, {"samples": grid[None]})
  path = run.workdir / "samples" / f"step_{step:06d}.png"
  if jax.process_index() == 0:
    image_io.write_png(path, grid)
  return path


def run_evaluation(run: Run, state: Any, writer: metric_writers.MetricWriter) -> dict[str, float]:
  """Evaluates `state`'s EMA params on `config.evals.num_examples` test examples (each
  `config.evals.captions_per_example` times, once per caption, for text-to-image families).

  Per-example metrics from the family's eval step are averaged; with `config.evals.image_metrics`,
  its generated and real images also give FID/KID/IS, and each of the family's scorers adds its
  metrics (e.g. an encoder's R-precision). Writes eval.json, eval.md and TensorBoard.
  """
  step = int(state.step)
  start = time.perf_counter()
  eval_fn = jax.jit(
      lambda params, batch, rng: report.split_outputs(run.family.eval_step(params, batch, rng)),
      in_shardings=(run.ema_shardings, run.shardings.data, run.shardings.replicated),
      out_shardings=(run.shardings.replicated, run.shardings.data),
  )
  image_metrics = generated_images.from_config(
      run.config.evals, run.config.data, run.shardings.data, run.shardings.replicated
  )
  scorers = run.family.make_scorers(run.shardings.replicated)

  def on_outputs(images, batch):
    if image_metrics:
      image_metrics.add(
          images[report.GENERATED], images.get(report.REAL), images.get(report.BASELINE)
      )
    for scorer in scorers:
      scorer.metrics.add(images[report.GENERATED], batch)

  rng = jax.random.fold_in(jax.random.key(run.config.seed), 2)
  batches = progress.bar(
      _eval_batches(run.config, run.family, run.shardings, run.config.evals.batch_size, scorers),
      total=run.config.evals.num_examples
      * run.config.evals.get("captions_per_example", 1)
      // run.config.evals.batch_size,
      desc="evaluating",
      unit="batch",
  )
  metrics = report.average_metrics(eval_fn, state.ema_params, batches, rng, on_outputs)
  for extra in (image_metrics, *(scorer.metrics for scorer in scorers)):
    if extra:
      metrics.update(extra.result())
  seconds = time.perf_counter() - start
  writer.write_scalars(step, {f"eval_{k}": v for k, v in metrics.items()})
  report.write_report(run.workdir, step, metrics, seconds)
  report.log_table(step, metrics)
  return metrics


def _train_batches(run: Run, start_step: int) -> input_pipeline.GlobalBatches:
  """The training batches, positioned where the run at `start_step` left off."""
  config = run.config

  def make(seed: int) -> input_pipeline.GlobalBatches:
    ds = input_pipeline.create_dataset(
        config.data,
        config.data.train_split,
        global_batch_size=config.train.batch_size * run.family.batches_per_step,
        preprocess=run.family.make_preprocess(True),
        train=True,
        seed=seed,
    )
    return input_pipeline.GlobalBatches(ds, run.shardings.data)

  batches = make(config.seed)
  if start_step and not checkpoint.restore_data_state(batches, run.workdir, start_step):
    logging.warning(
        "No input-pipeline state saved at step %d: continuing with a fresh "
        "data order (seed %d), so the run is not bit-identical to an "
        "uninterrupted one.",
        start_step,
        config.seed + start_step,
    )
    batches = make(config.seed + start_step)
  return batches


class NonFiniteError(errors.UserError, FloatingPointError):
  """Too many consecutive steps had a non-finite loss or gradients."""


class BatchTooLargeError(errors.UserError, MemoryError):
  """The train step ran out of device memory."""


def _out_of_memory(
    error: jax.errors.JaxRuntimeError, batch_size: int, step: int
) -> BatchTooLargeError | None:
  """A BatchTooLargeError suggesting a smaller batch, if `error` is an out-of-memory."""
  if "RESOURCE_EXHAUSTED" not in str(error):
    return None
  return BatchTooLargeError(
      f"Out of device memory at step {step} with config.train.batch_size={batch_size} "
      f"({str(error).splitlines()[0][:200]}). Try --config.train.batch_size="
      f"{max(1, batch_size // 2)}."
  )


def _save(run: Run, state: Any, batches: input_pipeline.GlobalBatches, step: int) -> None:
  """Checkpoints the input position, then (asynchronously) `state`.

  Raises NonFiniteError instead of saving after too many non-finite steps, or a state whose
  parameters or EMA are not finite.
  """
  _check_finite(run, state, step)
  if not bool(_jit_all_finite((state.params, state.ema_params))):
    raise NonFiniteError(
        f"Not saving step {step}: its parameters or their EMA hold non-finite values. The last "
        f"checkpoint, step {run.manager.latest_step()}, is kept; lower the learning rate or "
        "check the data and the config."
    )
  checkpoint.save_data_state(batches, run.workdir, step)
  checkpoint.save(run.manager, step, state)
  kept = run.manager.all_steps()
  if kept:
    checkpoint.prune_data_states(run.workdir, min(kept))


_jit_all_finite = jax.jit(optimizers.all_finite)


def _check_finite(run: Run, state: Any, step: int) -> int:
  """Returns `state`'s total of skipped non-finite steps; raises after too many in a row."""
  streak, total = jax.device_get(
      (
          optimizers.nonfinite_streak(state.opt_state),
          optimizers.nonfinite_total(state.opt_state),
      )
  )
  if streak >= run.config.train.max_nonfinite_steps:
    raise NonFiniteError(
        f"Stopped at step {step}: the last {int(streak)} steps had a non-finite loss or "
        f"gradients (updates skipped). The last checkpoint, step "
        f"{run.manager.latest_step()}, holds finite parameters; lower the learning rate "
        "or check the data."
    )
  return int(total)


def train(run: Run, writer: metric_writers.MetricWriter) -> tuple[Any, bool]:
  """Trains `run.state` (donated to the first step) to `config.train.num_steps`, checkpointing
  as it goes.

  Returns:
    (the final train state, completed): completed is True if training reached `num_steps`;
    False if a stop signal (SIGTERM, SIGINT) ended it early, after checkpointing the last
    completed step.

  Raises:
    NonFiniteError: after `config.train.max_nonfinite_steps` consecutive steps
      with non-finite gradients (checked at each log and checkpoint step).
  """
  config = run.config
  state = run.state
  start_step = int(state.step)
  num_steps = config.train.num_steps
  if start_step >= num_steps:
    logging.info("Training already complete at step %d.", start_step)
    return state, True
  step_fn = jit_train_step(run.family.train_step, run.state_shardings, run.shardings)
  train_rng = jax.random.fold_in(jax.random.key(config.seed), 0)
  progress = periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer)
  metric_sums, metric_count = None, 0
  # The guard is in place before the input pipeline is built (which can take a while), so a stop
  # signal from then on is this loop's and not another handler's.
  with preemption.PreemptionGuard(config.train.stop_check_every) as guard:
    batches = _train_batches(run, start_step)
    logging.info("Training from step %d to %d.", start_step, num_steps)
    for step in range(start_step + 1, num_steps + 1):
      try:
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
          state, metrics = step_fn(state, next(batches), train_rng)
      except jax.errors.JaxRuntimeError as e:
        raise _out_of_memory(e, config.train.batch_size, step) or e
      metric_sums = (
          metrics if metric_sums is None else jax.tree.map(lambda a, b: a + b, metric_sums, metrics)
      )
      metric_count += 1
      progress(step)
      is_last = step == num_steps
      if step % config.train.log_every == 0 or is_last:
        means = {
            f"train_{k}": float(v) / metric_count for k, v in jax.device_get(metric_sums).items()
        }
        means["train_learning_rate"] = float(run.family.learning_rate_fn(step - 1))
        means["train_nonfinite_skipped"] = _check_finite(run, state, step)
        writer.write_scalars(step, means)
        metric_sums, metric_count = None, 0
      if guard.should_stop(step):
        _save(run, state, batches, step)
        run.manager.wait_until_finished()
        logging.warning(
            "Stopped by %s after step %d; checkpoint saved. Run the same command to resume.",
            guard.signal_name or "another process's stop signal",
            step,
        )
        return state, False
      if step % config.ckpt.every == 0 or is_last:
        _save(run, state, batches, step)
      if step % config.train.sample_every == 0 or is_last:
        write_sample_grid(run, state, writer, step)
  return state, True


def make_writer(workdir: epath.Path) -> metric_writers.MetricWriter:
  """stdout logging everywhere; TensorBoard events from process 0 only."""
  return metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=False
  )


class DiskFullError(errors.UserError, OSError):
  """The workdir's disk filled up while a checkpoint or the input position was written."""


def _disk_full(error: BaseException, run: Run) -> DiskFullError | None:
  """A DiskFullError naming the workdir and the newest complete checkpoint, if `error` is one."""
  text = str(error)
  if not (
      "No space left on device" in text
      or "RESOURCE_EXHAUSTED: Error writing" in text
      or getattr(error, "errno", None) == errno.ENOSPC
  ):
    return None
  latest = run.manager.latest_step()
  kept = (
      f"the newest complete checkpoint, step {latest}, is intact"
      if latest is not None
      else "no checkpoint was completed"
  )
  written = re.search(re.escape(str(run.workdir)) + r"[^\s\"';]*", text)
  where = f" (writing {written.group(0)})" if written else ""
  # Orbax's cancelled writes would otherwise each log a traceback at exit, after this error.
  logging.getLogger("asyncio").setLevel(logging.CRITICAL)
  return DiskFullError(
      f"The disk of --workdir={run.workdir} is full{where}; {kept}. Free space or move the "
      "workdir, then run the same command to resume."
  )


def _with_run(mode_fn, *, needs_checkpoint: bool):
  """Wraps `mode_fn(run, writer)` as `(config, workdir, family) -> result` with set-up and
  clean-up.

  Pending asynchronous checkpoint saves are finished even when `mode_fn` fails; a full disk
  becomes one DiskFullError (half-written checkpoints stay in temporary folders, never read).
  """

  @functools.wraps(mode_fn)
  def wrapper(config: ml_collections.ConfigDict, workdir: str, family: family_lib.Family):
    run = setup(config, workdir, family)
    try:
      try:
        if needs_checkpoint and run.manager.latest_step() is None:
          raise errors.MissingFileError(
              f"No checkpoint in {run.manager.directory}; train first with --mode=train."
          )
        writer = make_writer(run.workdir)
        result = mode_fn(run, writer)
        writer.flush()
        return result
      finally:
        run.manager.wait_until_finished()
        run.manager.close()
    except (OSError, ValueError, tf.errors.OpError) as e:
      raise _disk_full(e, run) or e

  return wrapper


CONFIG_FILE = "config.json"


def record_config(run: Run, writer: metric_writers.MetricWriter) -> None:
  """Writes the run's resolved config as `workdir/config.json` (process 0) and as TensorBoard
  hparams, so a workdir says how it was trained."""
  if jax.process_index() == 0:
    files.write_atomically(run.workdir / CONFIG_FILE, stages.to_json(run.config).encode())
  writer.write_hparams(
      {
          path: value if isinstance(value, (bool, int, float, str)) else str(value)
          for path, value in stages.own_leaves(run.config)
      }
  )


def _train_then_evaluate(run: Run, writer: metric_writers.MetricWriter) -> None:
  record_config(run, writer)
  state, completed = train(run, writer)
  if completed and run.config.evals.after_train:
    run_evaluation(run, state, writer)


# The entry points of `--mode=train|eval|sample`: (config, workdir, family) -> result.
train_and_evaluate = _with_run(_train_then_evaluate, needs_checkpoint=False)
evaluate_checkpoint = _with_run(
    lambda run, writer: run_evaluation(run, run.state, writer), needs_checkpoint=True
)
sample_checkpoint = _with_run(
    lambda run, writer: write_sample_grid(run, run.state, writer, int(run.state.step)),
    needs_checkpoint=True,
)
