"""Optax optimizer and learning-rate schedule from `config.optimizer`."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.config import schema
from posergen_jax.io import errors

OPTIMIZERS = ("adam", "rmsprop")
DECAYS = ("none", "cosine")  # After the warm-up: a constant rate, or a cosine down to 0.

# One network's optimizer section (`make_optimizer`'s `config`).
NETWORK_RULES = {
    "name": schema.one_of(OPTIMIZERS),
    "learning_rate": schema.NOT_NEGATIVE,  # 0 freezes the network (e.g. one of a GAN's two).
    "b1": schema.PROBABILITY_BELOW_ONE,
    "b2": schema.PROBABILITY_BELOW_ONE,
    "weight_decay": schema.NOT_NEGATIVE,
    "grad_clip_norm": schema.Rule(schema.is_finite, "a finite number (<= 0 turns clipping off)"),
    "warmup_steps": schema.integer(0),
    "decay": schema.one_of(DECAYS),
}
# `config.optimizer` of a family with one network (the GANs have one per network: gan_state.py).
FIELD_RULES = schema.prefixed("optimizer", NETWORK_RULES)


def make_optimizer(
    config: ml_collections.ConfigDict, num_steps: int, field: str = "config.optimizer"
) -> tuple[optax.GradientTransformation, Callable[[int], float]]:
  """Adam(W) or RMSProp with linear warm-up, optional cosine decay and global-norm clipping.

  Args:
    config: the `optimizer` section: name ('adam' | 'rmsprop'), learning_rate, warmup_steps,
      decay ('none' | 'cosine': after the warm-up, down to 0 at `num_steps`), b1, b2 (Adam's
      moment decays; RMSProp's squared-gradient decay is b2 and it has no b1), weight_decay
      (Adam only, decoupled) and grad_clip_norm (<= 0 disables clipping).
    num_steps: the run's training steps (`config.train.num_steps`), where a decay ends. A run
      resumed with a larger num_steps follows the longer decay's curve from its current step
      (its rate rises to that curve's value).
    field: where `config` sits in the full config, for errors.

  An update is skipped (parameters and moments unchanged) when the gradients, the update or the
  new optimizer state are not finite (`skip_nonfinite`).

  Returns:
    `(tx, learning_rate_fn)`; `learning_rate_fn(step)` is logged by the trainer.

  Values are not range-checked here: the entry points check every config field first
  (`NETWORK_RULES`, families/registry.check_config).

  Raises:
    ConfigError: an unknown optimizer name or decay.
  """
  learning_rate_fn = learning_rate_schedule(config, num_steps, field)
  if config.name == "adam":
    tx = optax.adamw(learning_rate_fn, b1=config.b1, b2=config.b2, weight_decay=config.weight_decay)
  elif config.name == "rmsprop":
    tx = optax.rmsprop(learning_rate_fn, decay=config.b2)
  else:
    raise errors.ConfigError(f"{field}.name={config.name!r} is not one of {OPTIMIZERS}.")
  if config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return skip_nonfinite(tx), learning_rate_fn


def learning_rate_schedule(
    config: ml_collections.ConfigDict, num_steps: int, field: str = "config.optimizer"
) -> Callable[[int], float]:
  """step -> learning rate: linear from 0 over `config.warmup_steps`, then constant or, for
  `config.decay` 'cosine', a half cosine from `config.learning_rate` to 0 at `num_steps`.

  Pipelines exported before `decay` existed have no such field: they train at a constant rate.
  """
  peak, warmup = config.learning_rate, config.warmup_steps
  decay = config.get("decay", "none")
  if decay == "cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else peak,
        peak_value=peak,
        warmup_steps=warmup,
        decay_steps=max(num_steps, warmup + 1),
    )
  if decay != "none":
    raise errors.ConfigError(f"{field}.decay={decay!r} is not one of {DECAYS}.")
  if warmup > 0:
    return optax.linear_schedule(init_value=0.0, end_value=peak, transition_steps=warmup)
  return optax.constant_schedule(peak)


def all_finite(tree) -> jax.Array:
  """bool []: every floating-point leaf of `tree` is finite (True for none)."""
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  checks = [jnp.all(jnp.isfinite(x)) for x in leaves]
  return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def skip_nonfinite(inner: optax.GradientTransformation) -> optax.GradientTransformation:
  """`inner`, except that a step whose gradients, updates or new `inner` state are not all
  finite changes nothing: zero updates, the old state kept, the skip counted.

  Unlike `optax.apply_if_finite`, which looks at the gradients only, this also catches an
  update made non-finite by the optimizer itself (a NaN learning rate or moment), so a
  non-finite value never reaches the parameters, the moments or the EMA. The state is an
  `optax.ApplyIfFiniteState` (`notfinite_count`: consecutive skips, `total_notfinite`), so
  checkpoints keep their layout; the trainer stops the run after too many skips in a row
  (`nonfinite_streak`).
  """

  def init(params):
    zero = jnp.zeros([], jnp.int32)
    return optax.ApplyIfFiniteState(
        notfinite_count=zero,
        last_finite=jnp.array(True, jnp.bool_),
        total_notfinite=zero,
        inner_state=inner.init(params),
    )

  def update(updates, state, params=None):
    new_updates, inner_state = inner.update(updates, state.inner_state, params)
    finite = all_finite((updates, new_updates, inner_state))
    keep = lambda new, old: jnp.where(finite, new, old)
    return jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), new_updates), (
        optax.ApplyIfFiniteState(
            notfinite_count=jnp.where(finite, 0, state.notfinite_count + 1).astype(jnp.int32),
            last_finite=jnp.asarray(finite),
            total_notfinite=state.total_notfinite + (~finite).astype(jnp.int32),
            inner_state=jax.tree.map(keep, inner_state, state.inner_state),
        )
    )

  return optax.GradientTransformation(init, update)


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
