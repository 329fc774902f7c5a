"""`--mode=sample` for a staged super-resolution config: chain every stage's EMA weights.

Stage k's output, bicubic-upsampled, is stage k+1's conditioning. Inputs are test images of the
last stage's dataset, downsampled to the first stage's low-res size; the result is a grid
(low-res | each stage's output | ground truth, all shown at the final size), PSNR/SSIM of the
final output and of bicubic upsampling against the ground truth, and seconds per stage, written
to `WORKDIR/samples/cascade.png` and `WORKDIR/cascade.json`.
"""
import json
import logging
import time

from etils import epath
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections

from posergen_jax.data import input_pipeline, preprocess
from posergen_jax.diffusion import cascade
from posergen_jax.evaluation import image_metrics
from posergen_jax.training import image_grid, stages, trainer


def _restored_stage(config: ml_collections.ConfigDict, workdir: str, name: str) -> trainer.Run:
  run = trainer.setup(stages.stage_config(config, name), stages.stage_workdir(workdir, name))
  if run.manager.latest_step() is None:
    run.manager.close()
    raise FileNotFoundError(
        f"Stage {name!r} has no checkpoint in {run.manager.directory}; train it first with "
        f"--config.stage={name} --mode=train.")
  return run


def _inputs(runs: list[trainer.Run]) -> dict[str, jax.Array]:
  """`evals.grid_size` test examples: `target` at the last stage's size, `lowres` at the first's."""
  first, last = runs[0].config, runs[-1].config
  ds = input_pipeline.create_dataset(
      last.data, last.data.eval_split, global_batch_size=last.evals.grid_size,
      preprocess=preprocess.sr_pairs(image_key=last.data.image_key, hr_size=last.data.hr_size,
                                     lr_size=first.data.lr_size, random_flip=False),
      train=False, seed=last.seed, num_examples=last.evals.grid_size)
  return next(input_pipeline.GlobalBatches(ds, runs[-1].shardings.data))


def _stage_sampler(run: trainer.Run, timings: list[float]) -> cascade.StageSampler:
  """Stage `run`'s jitted sampler over its EMA params; appends its wall seconds to `timings`."""
  shardings = run.shardings
  jit_sample = jax.jit(lambda params, cond, rng: run.family.sample(params, {"cond": cond}, rng),
                       in_shardings=(run.ema_shardings, shardings.data, shardings.replicated),
                       out_shardings=shardings.data)

  def sample(cond, rng):
    start = time.perf_counter()
    images = jax.block_until_ready(jit_sample(run.state.ema_params, cond, rng))
    timings.append(time.perf_counter() - start)
    return images

  return sample


def sample_cascade(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Chains the newest checkpoint of every stage in `config.stage_order`; returns the report."""
  runs = []
  try:
    for name in config.stage_order:
      runs.append(_restored_stage(config, workdir, name))
    batch = _inputs(runs)
    timings = []
    outputs = cascade.chain([_stage_sampler(run, timings) for run in runs],
                            [run.config.data.hr_size for run in runs], batch["lowres"],
                            jax.random.fold_in(jax.random.key(config.seed), 3))
  finally:
    for run in runs:
      run.manager.close()

  size = runs[-1].config.data.hr_size
  final, target = outputs[-1], batch["target"]
  bicubic = cascade.upsample(batch["lowres"], size)
  metrics = {f"{kind}_{k}": float(jnp.mean(v)) for kind, images in (("cascade", final),
                                                                   ("bicubic", bicubic))
             for k, v in image_metrics.psnr_ssim(images, target).items()}
  report = {"stages": list(config.stage_order),
            "steps": {run.config.stage: int(run.state.step) for run in runs},
            "seconds_per_stage": dict(zip(config.stage_order, timings)),
            "num_images": int(target.shape[0]), **metrics}

  columns = [image_grid.nearest_resize(x, size) for x in (batch["lowres"], *outputs)]
  columns.append(target)
  grid = image_grid.make_grid([multihost_utils.process_allgather(c, tiled=True)
                               for c in columns])
  workdir = epath.Path(workdir)
  if jax.process_index() == 0:
    image_grid.write_png(workdir / "samples" / "cascade.png", grid)
    (workdir / "cascade.json").write_text(json.dumps(report, indent=2))
  logging.info("Cascade %s: %s", " -> ".join(config.stage_order), report)
  return report
