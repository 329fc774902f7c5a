"""Train state with EMA parameters, updated inside the jitted step."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


class TrainState(flax.struct.PyTreeNode):
  """Step, parameters, optimizer state and their exponential moving average.

  Attributes:
    step: int32 scalar, number of updates applied.
    params: the trained parameters.
    opt_state: optimizer state for `tx`.
    ema_params: EMA of `params`; evaluation and sampling read these.
    tx: the Optax transformation (static, not saved).
  """

  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(cls, *, params, tx: optax.GradientTransformation) -> "TrainState":
    """Fresh state at step 0 with `ema_params` equal to `params`."""
    return cls(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        ema_params=params,
        tx=tx,
    )

  def apply_gradients(self, grads, *, ema_decay: float) -> "TrainState":
    """One optimizer update followed by the EMA update.

    The EMA decay is warmed up as `min(ema_decay, (1 + step) / (10 + step))` so
    short runs are not dominated by the initial parameters.
    """
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    step = self.step + 1
    return self.replace(
        step=step,
        params=params,
        opt_state=opt_state,
        ema_params=ema_update(self.ema_params, params, step, ema_decay),
    )


def ema_update(ema_params, params, step: jax.Array, ema_decay: float):
  """The EMA of `params` after update number `step` (>= 1); pytrees of one structure.

  The decay is warmed up as `min(ema_decay, (1 + step) / (10 + step))` so short runs are not
  dominated by the initial parameters.
  """
  decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
  return optax.incremental_update(params, ema_params, 1.0 - decay)
