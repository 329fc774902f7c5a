"""The contract between the generic trainer and a model family.

A family is a bundle of pure functions built from the config; the trainer
jits them with the mesh's shardings and owns everything else (data, loop,
checkpoints, logging, evaluation). GANs keep their critic/generator
alternation inside `train_step`, so the loop never branches on the family.
"""

from collections.abc import Callable, Sequence
import dataclasses
from typing import Any

import jax

from posergen_jax.data.input_pipeline import PreprocessFn

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Scorer:
  """An extra evaluation of generated images that reads features of its own from each example.

  Attributes:
    metrics: `add(generated [B,H,W,C] in [-1, 1], batch)` per eval batch, then `result()` ->
      {name: float}.
    preprocess: tf.data (example, seed) -> the features `metrics.add` reads from `batch`, added
      to the family's eval features.
  """

  metrics: Any
  preprocess: PreprocessFn


@dataclasses.dataclass(frozen=True, kw_only=True)
class Family:
  """Pure functions a model family plugs into the trainer.

  Attributes:
    make_preprocess: train (bool) -> tf.data per-example function
      (example, seed) -> features; augmentation only when training.
    init_state: (rng, batch) -> train state (a pytree with a `step` field and
      `ema_params`); `batch` fixes the input shapes.
    train_step: (state, batch, rng) -> (state, scalar metrics); randomness is
      `fold_in(rng, state.step)` so a resumed run replays the same noise.
    eval_step: (params, batch, rng) -> per-example metrics, each `[B]`; a generative family
      also returns its generated images and the real ones under `report.GENERATED` and
      `report.REAL` (`[B, H, W, C]` in [-1, 1]) for FID/KID, and may return a baseline's
      images under `report.BASELINE` (scored as `baseline_fid`, `baseline_kid`).
    sample_columns: (params, batch, rng) -> images `[B, H, W, C]` in [-1, 1],
      one per grid column (e.g. low-res | sample | target).
    learning_rate_fn: step -> learning rate, for logging.
    sample: (params, batch, rng) -> generated images `[B, H, W, C]` in [-1, 1] from the
      batch's conditioning (for super-resolution, `batch["cond"]`); what cascades chain. None
      for a family that generates nothing (the text-image encoder).
    make_scorers: replicated sharding -> the Scorers evaluation runs besides `eval_step` (e.g.
      R-precision by a trained encoder); none by default.
    batches_per_step: how many batches of `config.train.batch_size` one `train_step` reads
      (e.g. one per critic update of a WGAN); the trainer hands them over as one batch of
      batches_per_step × batch_size examples, its leading axis sharded over the data axis.
  """

  make_preprocess: Callable[[bool], PreprocessFn]
  init_state: Callable[[jax.Array, Batch], Any]
  train_step: Callable[[Any, Batch, jax.Array], tuple[Any, Metrics]]
  eval_step: Callable[[Any, Batch, jax.Array], Metrics]
  sample_columns: Callable[[Any, Batch, jax.Array], Sequence[jax.Array]]
  learning_rate_fn: Callable[[int], Any]
  sample: Callable[[Any, Batch, jax.Array], jax.Array] | None = None
  make_scorers: Callable[[jax.sharding.Sharding], Sequence[Scorer]] = lambda replicated: ()
  batches_per_step: int = 1
