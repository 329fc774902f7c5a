"""Prompt in, poster out, with the pipelines kept open between requests: the web demo's work.

`PosterService(directory).poster(prompt, title, subtitle, seed, sampler, steps)` gives the poster
`python -m posergen_jax.generate --pretrained=directory --prompt=... --seed=...` writes (same
sampler and steps) pixel for pixel, and the seconds each stage took.
"""

import collections
import math

import numpy as np

from posergen_jax.families import sr3
from posergen_jax.io import errors
from posergen_jax.poster import outputs, pipeline, pretrained, typeset

# Seeds as `generate --seed` takes them.
MAX_SEED = 2**32 - 1
# Open pipelines kept, one per (sampler, steps) asked for; each holds its parameters and compiled
# samplers, so going back to a setting costs no recompilation.
OPEN_PIPELINES = 2


class PosterService:
  """One poster per request from an exported pipeline (the demo's work, without the web page).

  Args:
    directory: a folder written by python -m posergen_jax.export.

  Raises:
    MissingFileError: `directory` holds no exported pipeline.
  """

  def __init__(self, directory: str):
    self.directory = directory
    summary = pretrained.read_summary(directory)
    self.stage_names = tuple(summary["stage_order"])
    last = pretrained.stage_config(directory, self.stage_names[-1])
    self.default_sampler = last.diffusion.sampler
    self.default_steps = sr3.sampling_steps(last)
    self._tokenize = pipeline.pretrained_prompt_tokenizer(directory)
    self._open: collections.OrderedDict[tuple[str, int], pipeline.PosterPipeline] = (
        collections.OrderedDict()
    )

  def _pipeline(self, sampler: str, steps: int) -> pipeline.PosterPipeline:
    """The open pipeline for (sampler, steps), loading it (and closing the oldest) if needed."""
    key = (sampler, steps)
    if key not in self._open:
      if len(self._open) == OPEN_PIPELINES:
        self._open.popitem(last=False)[1].close()
      self._open[key] = pipeline.PosterPipeline.from_pretrained(self.directory, sampler, steps)
    self._open.move_to_end(key)
    return self._open[key]

  def poster(
      self,
      prompt: str,
      title: str = "",
      subtitle: str = "",
      seed: int = 0,
      sampler: str | None = None,
      steps: int | None = None,
  ) -> tuple[np.ndarray, dict[str, float]]:
    """The poster for `prompt`, as `generate --prompt=prompt --seed=seed` writes it.

    Args:
      prompt: the text (Chinese or English).
      title, subtitle: text set over the poster; empty for none (a subtitle needs a title).
      seed: 0 .. 2**32 - 1.
      sampler, steps: the super-resolution sampling; None for the exported setting.

    Returns:
      (uint8 [S,S,3] poster, seconds of sampling per stage name, compilation excluded).

    Raises:
      InputError: a bad prompt, title, seed, sampler or steps (one line naming it).
    """
    sampler = sampler or self.default_sampler
    steps = self.default_steps if steps is None else int(steps)
    finite = isinstance(seed, (int, float)) and math.isfinite(seed)
    if not (finite and seed == int(seed) and 0 <= seed <= MAX_SEED):
      raise errors.InputError(f"seed={seed}: must be an integer in [0, {MAX_SEED}].")
    title, subtitle = (title or "").strip(), (subtitle or "").strip()
    if subtitle and not title:
      raise errors.InputError("A subtitle needs a title; add a title or clear the subtitle.")
    self._tokenize([prompt])  # Names an empty or unreadable prompt before any model runs.
    posters = self._pipeline(sampler, steps)  # Names a bad sampler or step count.
    # As generate's first batch: the prompt padded to the devices.
    [(_, batch)] = outputs.batches([prompt], posters.batch_multiple)
    images, seconds = outputs.generate_batch(posters, batch, int(seed), 0)
    image = images[0]
    if title:
      image = typeset.typeset(image, title, subtitle or None)
    return image, seconds

  def close(self) -> None:
    """Closes every open pipeline."""
    while self._open:
      self._open.popitem()[1].close()
