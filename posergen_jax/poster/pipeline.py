"""Prompt → poster (GAN_SR3, or its DDPM baseline): tokens → text tower → WGAN (or text DDPM)
64×64 → SR3 stages → images.

`PosterPipeline` restores every stage of a staged config (configs/gan_sr3.py) from its newest
checkpoint in WORKDIR/<stage> and runs them in order on a batch of prompts, sharded over all devices
like training. The first stage is a text-to-image model (WGAN or text DDPM) whose config reads
captions with a text tower: inside the jitted sampler (`config.text.source='encoder'`), or on the
host, Chinese prompts through its Chinese student (`'cache'`). Every
later stage is super-resolution, conditioned on the previous output upsampled
(diffusion/cascade.py).
"""

from collections.abc import Sequence
import dataclasses

import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from posergen_jax.config import stages
from posergen_jax.diffusion import cascade, samplers
from posergen_jax.io import errors
from posergen_jax.poster import pretrained, stage_runs
from posergen_jax.text import conditioning, frozen_tower
from posergen_jax.text import tokenizer as tokenizer_lib
from posergen_jax.training import sharding, trainer

# Families a pipeline's first stage may be: prompt vectors -> images.
TEXT_TO_IMAGE = ("wgan", "text_ddpm")
# Text sources whose tower reads prompts (conditioning.SOURCES but 'dataset').
PROMPT_SOURCES = ("encoder", "cache")


@dataclasses.dataclass(frozen=True)
class PosterBatch:
  """One batch of generated posters.

  Attributes:
    stage_images: per stage, float32 [B,S_i,S_i,3] in [-1, 1] on the host (the last is the
      poster).
    stage_seconds: per stage name, the batch's sampling wall seconds (compilation excluded).
  """

  stage_images: list[np.ndarray]
  stage_seconds: dict[str, float]


def with_sampling(
    config: ml_collections.ConfigDict, sampler: str | None, steps: int | None
) -> ml_collections.ConfigDict:
  """A copy of a staged config whose super-resolution stages sample with `sampler` ('ddpm' |
  'ddim') and `steps` respaced steps; None keeps each stage's own setting."""
  config = stages.unlocked_copy(config)
  for name in config.stage_order:
    _set_sampling(config.stages[name], sampler, steps)
  return config


def _set_sampling(stage: ml_collections.ConfigDict, sampler: str | None, steps: int | None):
  """Sets a (diffusion) stage's sampler and steps in place; None keeps its own.

  Raises:
    InputError: an unknown sampler, or fewer than 1 step.
  """
  if sampler is not None and sampler not in samplers.SAMPLERS:
    raise errors.InputError(f"sampler {sampler!r} is not one of {samplers.SAMPLERS}.")
  if steps is not None and steps < 1:
    raise errors.InputError(f"steps must be at least 1; got {steps}.")
  if "diffusion" not in stage:
    return
  if sampler is not None:
    stage.diffusion.sampler = sampler
  if steps is not None:
    stage.diffusion.sample_steps = steps


def prompt_tokenizer(config: ml_collections.ConfigDict):
  """The first stage's tokenization: prompts (B strings) -> {"input_ids", "attention_mask":
  int32 [B,L]}; it raises InputError naming an empty or unreadable prompt.

  Raises:
    ConfigError: the config is not staged, or its first stage cannot read prompts.
  """
  if not stages.is_staged(config):
    raise errors.ConfigError(
        "The pipeline needs a staged config (e.g. configs/gan_sr3.py), with a "
        "text-to-image first stage and super-resolution stages after it."
    )
  return _stage_tokenizer(stages.stage_config(config, config.stage_order[0]))


def pretrained_prompt_tokenizer(directory: str):
  """`prompt_tokenizer` of an exported pipeline (reads only its first stage's config).

  Raises:
    MissingFileError: `directory` holds no exported pipeline.
  """
  summary = pretrained.read_summary(directory)
  return _stage_tokenizer(pretrained.stage_config(directory, summary["stage_order"][0]))


def _stage_tokenizer(first: ml_collections.ConfigDict):
  """`prompt_tokenizer` of the first stage's full config: tokens for a tower that runs in the
  sampler (text.source='encoder'), or the sentence vectors themselves, computed on the host
  by the tower and its Chinese student (text.source='cache')."""
  if first.family not in TEXT_TO_IMAGE or first.text.source not in PROMPT_SOURCES:
    raise errors.ConfigError(
        f"Stage {first.stage!r} (family {first.family!r}) cannot turn prompts "
        f"into images; the first stage must be one of {TEXT_TO_IMAGE} with "
        f"text.source in {PROMPT_SOURCES}."
    )
  if first.text.source == "cache":
    frozen = frozen_tower.FrozenTower.load(first.text)
    return lambda prompts: {
        conditioning.EMBEDDING_KEY: np.asarray(frozen.encode_prompts(list(prompts)))
    }
  tokenizer = tokenizer_lib.PromptTokenizer.from_file(first.text.tokenizer)
  return lambda prompts: tokenizer.encode(list(prompts), first.text.max_length)


class PosterPipeline:
  """Prompts → posters through the trained stages of a text-to-poster chain; use as a context
  manager.

  `PosterPipeline(config, workdir)` restores every stage's newest checkpoint from a training
  workdir; `PosterPipeline.from_pretrained(directory)` loads an exported pipeline
  (python -m posergen_jax.export). Both give the same posters for the same prompts and key.

  Args:
    config: a staged config (configs/gan_sr3.py) whose first stage is in TEXT_TO_IMAGE.
    workdir: the folder holding WORKDIR/<stage> for every stage.

  Raises:
    MissingFileError: a stage has no checkpoint (names the stage and the folder).
    ConfigError: the config is not staged, or its first stage cannot read prompts.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    prompt_tokens = prompt_tokenizer(config)
    stage_runs.check_trained(config, workdir, config.stage_order)
    runs: list[trainer.Run] = []
    try:
      for name in config.stage_order:
        runs.append(stage_runs.restored_stage(config, workdir, name))
    except BaseException:
      for run in runs:
        run.manager.close()
      raise
    self._open(
        [stage_runs.SamplingStage.of_run(run) for run in runs],
        prompt_tokens,
        closers=[run.manager.close for run in runs],
    )

  @classmethod
  def from_pretrained(
      cls, directory: str, sampler: str | None = None, steps: int | None = None
  ) -> "PosterPipeline":
    """The exported pipeline in `directory`, its diffusion stages sampling with `sampler` and
    `steps` (None: as exported). Reads no dataset and no optimizer state.

    Raises:
      MissingFileError: `directory` holds no exported pipeline, or misses a stage's file.
    """
    summary = pretrained.read_summary(directory)
    configs = [pretrained.stage_config(directory, name) for name in summary["stage_order"]]
    for config in configs:
      _set_sampling(config, sampler, steps)
    prompt_tokens = _stage_tokenizer(configs[0])
    loaded = [
        pretrained.load_stage(directory, config, summary["steps"][config.stage])
        for config in configs
    ]
    pipeline = cls.__new__(cls)
    pipeline._open(loaded, prompt_tokens, closers=[])
    return pipeline

  def _open(self, loaded: list[stage_runs.SamplingStage], prompt_tokens, closers) -> None:
    self.stages = loaded
    self.stage_names = tuple(stage.config.stage for stage in loaded)
    self.prompt_tokens = prompt_tokens
    self._closers = closers
    first = loaded[0].config
    self.sizes = [first.model.image_size] + [s.config.data.hr_size for s in loaded[1:]]
    self._timings: dict[str, list[float]] = {name: [] for name in self.stage_names}
    self._generate = stage_runs.timed_sampler(loaded[0], self._timings[self.stage_names[0]])
    self._upscalers = [
        stage_runs.super_resolution_sampler(stage, self._timings[stage.config.stage])
        for stage in loaded[1:]
    ]

  @property
  def batch_multiple(self) -> int:
    """Batches must hold a multiple of this many prompts (the data-parallel devices)."""
    return sharding.data_axis_size(self.stages[0].shardings.mesh)

  @property
  def checkpoint_steps(self) -> dict[str, int]:
    """The training step each stage's parameters are from."""
    return {stage.config.stage: stage.step for stage in self.stages}

  def generate(self, prompts: Sequence[str], rng: jax.Array) -> PosterBatch:
    """Runs every stage on `prompts` (B strings, B a multiple of `batch_multiple`).

    The GAN stage uses fold_in(rng, 0); super-resolution stage i uses fold_in(fold_in(rng, 1),
    i). The same prompts, batch and key give the same posters.

    Raises:
      InputError: an empty or unreadable prompt (the tokenizer names it), or a bad batch size.
    """
    if len(prompts) % self.batch_multiple:
      raise errors.InputError(
          f"{len(prompts)} prompts is not a multiple of the "
          f"{self.batch_multiple} data-parallel devices; pad the batch."
      )
    tokens = self.prompt_tokens(prompts)
    batch = jax.device_put(tokens, self.stages[0].shardings.data)
    first = self._generate(batch, jax.random.fold_in(rng, 0))
    outputs = [
        first,
        *cascade.chain(self._upscalers, self.sizes[1:], first, jax.random.fold_in(rng, 1)),
    ]
    seconds = {name: times[-1] for name, times in self._timings.items()}
    return PosterBatch(
        stage_images=[
            np.asarray(multihost_utils.process_allgather(x, tiled=True)) for x in outputs
        ],
        stage_seconds=seconds,
    )

  def close(self) -> None:
    """Closes every restored stage's checkpoint manager."""
    for close in self._closers:
      close()

  def __enter__(self) -> "PosterPipeline":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
