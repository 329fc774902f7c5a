"""`--mode=eval_system`: the seed's table for a whole prompt → poster system.

For a staged config whose first stage reads prompts (configs/gan_sr3.py, configs/ddpm_baseline.py)
it takes the first `evals.num_examples` test captions of the first stage's dataset (the caption
each stage's own evaluation conditions on: the first in `text.language`), turns them into posters
through `PosterPipeline`, and scores the final images against the same test examples at the last
stage's size with `evals.image_metrics` of the last stage (FID, KID, IS; 1,000 images in the
seeds). Seconds per image come from the pipeline's per-stage timings (compilation excluded,
synchronised), averaged over batches. Writes `WORKDIR/eval_system.json` and `.md`.
"""

import json
import time

from etils import epath
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from posergen_jax.config import stages
from posergen_jax.data import input_pipeline, preprocess
from posergen_jax.evaluation import generated_images, report
from posergen_jax.io import errors
from posergen_jax.poster import pipeline
from posergen_jax.text import caption_inputs

REPORT = "eval_system"


def test_captions(config: ml_collections.ConfigDict, num_examples: int) -> list[str]:
  """The first `num_examples` eval captions of the first stage (`config` is that stage's): for
  each example, the first caption in `config.text.language`."""
  builder = input_pipeline.get_builder(config.data)
  input_pipeline.check_split_size(builder, config.data.eval_split, num_examples, 1, train=False)
  ds = builder.as_dataset(split=f"{config.data.eval_split}[:{num_examples}]", shuffle_files=False)
  captions = []
  for example in tfds.as_numpy(ds):
    texts = example[config.text.captions_key]
    index = int(caption_inputs.pick_caption(len(texts), config.text.language, None, False))
    captions.append(texts[index].decode("utf-8"))
  return captions


def real_images(
    config: ml_collections.ConfigDict, num_examples: int, batch_size: int
) -> list[np.ndarray]:
  """The same test examples' images at the last stage's `data.hr_size`, float32 [-1, 1] batches
  [batch_size, S, S, 3] (`config` is the last stage's)."""
  ds = input_pipeline.create_dataset(
      config.data,
      config.data.eval_split,
      global_batch_size=batch_size,
      preprocess=lambda example, seed: {
          "image": preprocess.scaled_square(example, config.data.image_key, config.data.hr_size)
      },
      train=False,
      seed=0,
      num_examples=num_examples,
  )
  return [batch["image"] for batch in tfds.as_numpy(ds)]


def evaluate_system(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Posters for the test captions through every stage, scored; see the module docstring.

  Raises:
    StageError: not a staged config whose first stage reads prompts.
    ConfigError: num_examples not a multiple of the batch.
    FileNotFoundError: a stage without a checkpoint (named).
  """
  first = stages.stage_config(config, config.stage_order[0]) if stages.is_staged(config) else None
  if first is None or first.family not in pipeline.TEXT_TO_IMAGE:
    raise stages.StageError(
        "--mode=eval_system evaluates a staged prompt → poster config whose first stage is one "
        f"of {pipeline.TEXT_TO_IMAGE} (configs/gan_sr3.py, configs/ddpm_baseline.py)."
    )
  last = stages.stage_config(config, config.stage_order[-1])
  num_examples, batch_size = last.evals.num_examples, last.evals.batch_size
  if num_examples % batch_size:
    raise errors.ConfigError(
        f"config.stages.{last.stage}.evals.num_examples={num_examples} must be a "
        f"multiple of its evals.batch_size={batch_size}."
    )
  captions = test_captions(first, num_examples)
  start = time.perf_counter()
  with pipeline.PosterPipeline(config, workdir) as posters:
    last_shardings = posters.stages[-1].shardings
    image_metrics = generated_images.from_config(
        last.evals, last.data, last_shardings.data, last_shardings.replicated
    )
    reals = real_images(last, num_examples, batch_size) if image_metrics else []
    seconds = {name: 0.0 for name in config.stage_order}
    rng = jax.random.key(first.seed)
    for i in range(0, num_examples, batch_size):
      out = posters.generate(captions[i : i + batch_size], jax.random.fold_in(rng, i))
      for name, value in out.stage_seconds.items():
        seconds[name] += value
      if image_metrics:
        image_metrics.add(out.stage_images[-1], reals[i // batch_size])
    step = posters.checkpoint_steps
  metrics = {f"seconds_per_image_{name}": value / num_examples for name, value in seconds.items()}
  metrics["seconds_per_image"] = sum(seconds.values()) / num_examples
  metrics["num_examples"] = num_examples
  if image_metrics:
    metrics.update(image_metrics.result())
  _write_report(epath.Path(workdir), step, metrics, time.perf_counter() - start)
  return metrics


def _write_report(
    workdir: epath.Path, steps: dict[str, int], metrics: dict[str, float], seconds: float
) -> None:
  """WORKDIR/eval_system.json and .md (process 0), and the table on stdout."""
  if jax.process_index() == 0:
    summary = {"checkpoint_steps": steps, "seconds": round(seconds, 2), "metrics": metrics}
    (workdir / f"{REPORT}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (workdir / f"{REPORT}.md").write_text(
        f"System evaluation, checkpoint steps {steps} ({seconds:.1f} s)\n\n"
        f"{report.markdown_table(metrics)}\n"
    )
  print(
      f"\nSystem evaluation (checkpoint steps {steps}):\n{report.markdown_table(metrics)}\n",
      flush=True,
  )
