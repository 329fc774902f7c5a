"""`--mode=sample` for a staged super-resolution config: chain every stage's EMA weights.

Stage k's output, bicubic-upsampled, is stage k+1's conditioning. Inputs are test images of the
last stage's dataset, downsampled to the first stage's low-res size; the result is a grid
(low-res | each stage's output | ground truth, all shown at the final size), PSNR/SSIM of the
final output and of bicubic upsampling against the ground truth, and seconds per stage, written
to `WORKDIR/samples/cascade.png` and `WORKDIR/cascade.json`.
"""

import dataclasses
import json
import logging
import time
from typing import Any

from etils import epath
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections

from posergen_jax.config import stages
from posergen_jax.data import input_pipeline, preprocess
from posergen_jax.diffusion import cascade
from posergen_jax.evaluation import image_metrics
from posergen_jax.families import registry
from posergen_jax.io import errors
from posergen_jax.io import images as image_io
from posergen_jax.training import checkpoint, sharding, trainer
from posergen_jax.training import family as family_lib


@dataclasses.dataclass(frozen=True)
class SamplingStage:
  """What sampling needs of one trained stage.

  Attributes:
    config: the stage's full config (`stages.stage_config`, or an exported stage's).
    family: its family's functions (`sample` is what the pipeline calls).
    shardings: the mesh and its data-parallel and replicated shardings.
    params: the EMA parameters sampling reads, placed by `params_shardings`.
    params_shardings: their shardings.
    step: the training step the parameters are from.
  """

  config: ml_collections.ConfigDict
  family: family_lib.Family
  shardings: sharding.MeshShardings
  params: Any
  params_shardings: Any
  step: int

  @classmethod
  def of_run(cls, run: trainer.Run) -> "SamplingStage":
    """The sampling view of a restored training run."""
    return cls(
        run.config,
        run.family,
        run.shardings,
        run.state.ema_params,
        run.ema_shardings,
        int(run.state.step),
    )


def check_trained(config: ml_collections.ConfigDict, workdir: str, names) -> None:
  """Raises MissingFileError naming the first of stages `names` with no checkpoint in
  `workdir/<name>` and that folder; cheap (reads only the checkpoint folders)."""
  for name in names:
    stage_workdir = epath.Path(stages.stage_workdir(workdir, name)).absolute()
    if not checkpoint.has_checkpoint(stage_workdir):
      raise errors.MissingFileError(
          f"Stage {name!r} has no checkpoint in {checkpoint.checkpoints_dir(stage_workdir)}; "
          f"train it first with --config.stage={name} --mode=train."
      )


def restored_stage(config: ml_collections.ConfigDict, workdir: str, name: str) -> trainer.Run:
  """Stage `name` of a staged config, restored from its newest checkpoint in `workdir/name`.

  Raises:
    MissingFileError naming the stage and the folder when it has no checkpoint.
  """
  check_trained(config, workdir, [name])
  stage = stages.stage_config(config, name)
  return trainer.setup(stage, stages.stage_workdir(workdir, name), registry.get_family(stage))


def timed_sampler(stage: SamplingStage, timings: list[float]):
  """The stage's jitted `family.sample` over its EMA params: (batch, rng) -> images [B,S,S,C].

  Each call appends its wall seconds to `timings`: execution only, synchronised on the output;
  each new batch shape is compiled ahead, outside the timing.
  """
  shardings = stage.shardings
  jit_sample = jax.jit(
      stage.family.sample,
      in_shardings=(stage.params_shardings, shardings.data, shardings.replicated),
      out_shardings=shardings.data,
  )
  compiled = {}

  def sample(batch, rng):
    shapes = str(jax.tree.map(lambda x: (x.shape, x.dtype), batch))
    if shapes not in compiled:
      compiled[shapes] = jit_sample.lower(stage.params, batch, rng).compile()
    start = time.perf_counter()
    images = jax.block_until_ready(compiled[shapes](stage.params, batch, rng))
    timings.append(time.perf_counter() - start)
    return images

  return sample


def super_resolution_sampler(stage: SamplingStage, timings: list[float]) -> cascade.StageSampler:
  """`timed_sampler` of an SR stage, called as (cond, colour_reference [B,S,S,C], rng) by
  `cascade.chain`."""
  sample = timed_sampler(stage, timings)
  return lambda cond, colour_reference, rng: sample(
      {"cond": cond, "colour_reference": colour_reference}, rng
  )


def _inputs(runs: list[trainer.Run]) -> dict[str, jax.Array]:
  """`evals.grid_size` test examples: `target` at the last stage's size, `lowres` at the first's."""
  first, last = runs[0].config, runs[-1].config
  ds = input_pipeline.create_dataset(
      last.data,
      last.data.eval_split,
      global_batch_size=last.evals.grid_size,
      preprocess=preprocess.sr_pairs(
          image_key=last.data.image_key,
          hr_size=last.data.hr_size,
          lr_size=first.data.lr_size,
          random_flip=False,
      ),
      train=False,
      seed=last.seed,
      num_examples=last.evals.grid_size,
  )
  return next(input_pipeline.GlobalBatches(ds, runs[-1].shardings.data))


def sample_cascade(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Chains the newest checkpoint of every stage in `config.stage_order`; returns the report."""
  check_trained(config, workdir, config.stage_order)
  runs = []
  try:
    for name in config.stage_order:
      runs.append(restored_stage(config, workdir, name))
    batch = _inputs(runs)
    timings = []
    outputs = cascade.chain(
        [super_resolution_sampler(SamplingStage.of_run(run), timings) for run in runs],
        [run.config.data.hr_size for run in runs],
        batch["lowres"],
        jax.random.fold_in(jax.random.key(config.seed), 3),
    )
  finally:
    for run in runs:
      run.manager.close()

  size = runs[-1].config.data.hr_size
  final, target = outputs[-1], batch["target"]
  bicubic = cascade.upsample(batch["lowres"], size)
  metrics = {
      f"{kind}_{k}": float(jnp.mean(v))
      for kind, images in (("cascade", final), ("bicubic", bicubic))
      for k, v in image_metrics.fidelity(images, target).items()
  }
  report = {
      "stages": list(config.stage_order),
      "steps": {run.config.stage: int(run.state.step) for run in runs},
      "seconds_per_stage": dict(zip(config.stage_order, timings)),
      "num_images": int(target.shape[0]),
      **metrics,
  }

  columns = [image_io.nearest_resize(x, size) for x in (batch["lowres"], *outputs)]
  columns.append(target)
  grid = image_io.make_grid([multihost_utils.process_allgather(c, tiled=True) for c in columns])
  workdir = epath.Path(workdir)
  if jax.process_index() == 0:
    image_io.write_png(workdir / "samples" / "cascade.png", grid)
    (workdir / "cascade.json").write_text(json.dumps(report, indent=2))
  logging.info("Cascade %s: %s", " -> ".join(config.stage_order), report)
  return report
