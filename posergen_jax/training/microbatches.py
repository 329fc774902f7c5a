"""Gradient accumulation: a batch's gradient as the mean over microbatches, one after another.

A step over a batch of B examples in `count` microbatches keeps the activations of B / count
examples at a time, so a large global batch fits a chip whose memory holds only part of it; the
update is the same as for the whole batch (up to randomness drawn per microbatch and float
summation order).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# fn(params, microbatch, rng) -> (aux, grads): per-microbatch metrics and gradients.
GradFn = Callable[[Any, dict, jax.Array], tuple[Any, Any]]


def split(batch: dict, count: int) -> dict:
  """[B, ...] arrays -> [count, B / count, ...]; microbatch i holds rows i, i + count, ..., so
  with B sharded over devices in blocks each microbatch stays spread over every device."""

  def one(x):
    return x.reshape(x.shape[0] // count, count, *x.shape[1:]).swapaxes(0, 1)

  return jax.tree.map(one, batch)


def mean_over_microbatches(fn: GradFn, params: Any, batch: dict, rng: jax.Array, count: int):
  """The mean of `fn`'s (aux, grads) over `count` microbatches of `batch`, taken in a scan.

  Args:
    fn: (params, microbatch of B / count examples, rng) -> (aux, grads), pytrees of float arrays.
    params: passed to every call.
    batch: dict of [B, ...] arrays, B divisible by `count`.
    rng: microbatch i gets fold_in(rng, i).
    count: number of microbatches; 1 calls `fn` once on the whole batch with `rng` itself.

  Returns:
    (aux, grads) averaged over the microbatches (float32 sums).
  """
  if count == 1:
    return fn(params, batch, rng)
  micro = split(batch, count)
  first = jax.tree.map(lambda x: x[0], micro)
  shapes = jax.eval_shape(fn, params, first, rng)
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes)

  def add(total, inputs):
    index, microbatch = inputs
    out = fn(params, microbatch, jax.random.fold_in(rng, index))
    return jax.tree.map(lambda t, x: t + x.astype(jnp.float32), total, out), None

  total, _ = jax.lax.scan(add, zeros, (jnp.arange(count), micro))
  return jax.tree.map(lambda t, s: (t / count).astype(s.dtype), total, shapes)
