"""Optax optimizer and learning-rate schedule from `config.optimizer`."""
from collections.abc import Callable

import ml_collections
import optax


def make_optimizer(
    config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, Callable[[int], float]]:
  """Adam(W) with linear warm-up and global-norm gradient clipping.

  Args:
    config: the `optimizer` section (learning_rate, warmup_steps, b1, b2,
      weight_decay, grad_clip_norm; a norm <= 0 disables clipping).

  Returns:
    `(tx, learning_rate_fn)`; `learning_rate_fn(step)` is logged by the trainer.
  """
  learning_rate_fn = optax.linear_schedule(
      init_value=0.0, end_value=config.learning_rate,
      transition_steps=max(1, config.warmup_steps))
  adam = optax.adamw(learning_rate_fn, b1=config.b1, b2=config.b2,
                     weight_decay=config.weight_decay)
  if config.grad_clip_norm > 0:
    adam = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
  return adam, learning_rate_fn
