"""Progress bars for the long waits (evaluation, caption embeddings, posters), on process 0."""

from collections.abc import Iterable

import jax
import tqdm


def bar(iterable: Iterable | None = None, **kwargs) -> tqdm.tqdm:
  """A tqdm bar over `iterable` (or one to `update` by hand), shown by process 0 only; takes
  tqdm's arguments (total, desc, unit, ...)."""
  return tqdm.tqdm(iterable, disable=jax.process_index() > 0, **kwargs)
