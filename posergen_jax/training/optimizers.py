"""Optax optimizer and learning-rate schedule from `config.optimizer`."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.io import errors

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(
    config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, Callable[[int], float]]:
  """Adam(W) or RMSProp with linear warm-up and global-norm gradient clipping.

  Args:
    config: the `optimizer` section: name ('adam' | 'rmsprop'), learning_rate, warmup_steps,
      b1, b2 (Adam's moment decays; RMSProp's squared-gradient decay is b2 and it has no b1),
      weight_decay (Adam only, decoupled) and grad_clip_norm (<= 0 disables clipping).

  Updates from non-finite gradients are skipped (parameters and moments
  unchanged).

  Returns:
    `(tx, learning_rate_fn)`; `learning_rate_fn(step)` is logged by the trainer.
  """
  if config.warmup_steps > 0:
    learning_rate_fn = optax.linear_schedule(
        init_value=0.0, end_value=config.learning_rate, transition_steps=config.warmup_steps
    )
  else:
    learning_rate_fn = optax.constant_schedule(config.learning_rate)
  if config.name == "adam":
    tx = optax.adamw(learning_rate_fn, b1=config.b1, b2=config.b2, weight_decay=config.weight_decay)
  elif config.name == "rmsprop":
    tx = optax.rmsprop(learning_rate_fn, decay=config.b2)
  else:
    raise errors.ConfigError(f"optimizer name {config.name!r} is not one of {OPTIMIZERS}.")
  if config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  # Skip (never apply) updates from non-finite gradients; the trainer counts the
  # consecutive skips and stops the run (see `nonfinite_streak`).
  return optax.apply_if_finite(tx, max_consecutive_errors=NEVER_APPLY_NONFINITE), learning_rate_fn


# apply_if_finite applies a non-finite update after this many in a row; the
# trainer stops long before, so in practice such an update never lands.
NEVER_APPLY_NONFINITE = 2**30


def nonfinite_streak(opt_state) -> jax.Array:
  """Consecutive skipped (non-finite) updates, max over the state's optimizers; int32 []."""
  counts = [
      count for _, count in optax.tree_utils.tree_get_all_with_path(opt_state, "notfinite_count")
  ]
  return jnp.max(jnp.stack(counts)) if counts else jnp.zeros((), jnp.int32)


def nonfinite_total(opt_state) -> jax.Array:
  """Total skipped (non-finite) updates since the start, summed over optimizers; int32 []."""
  counts = [
      count for _, count in optax.tree_utils.tree_get_all_with_path(opt_state, "total_notfinite")
  ]
  return sum(counts, jnp.zeros((), jnp.int32))
