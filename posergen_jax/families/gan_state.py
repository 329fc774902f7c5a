"""Train state of a GAN: a generator and a discriminator (critic), each with its own optimizer.

Shared by the GAN families (Gt-StackGAN, WGAN). Sampling and evaluation read `ema_params`, the
exponential moving average of the generator's parameters together with its BatchNorm statistics,
as `{"params": ..., "batch_stats": ...}`, i.e. ready for `generator.apply(ema_params, ...)`.
"""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.config import schema
from posergen_jax.training import optimizers, train_state

GEN = "gen"
DISC = "disc"

# The fields both GAN families read (config/schema.py): each network's optimizer
# (`make_optimizers`), the noise and conditioning-augmentation sizes, the networks' widths and
# dtype, and the weight of conditioning augmentation's KL term.
FIELD_RULES = {
    **schema.prefixed(f"optimizer.{GEN}", optimizers.NETWORK_RULES),
    **schema.prefixed(f"optimizer.{DISC}", optimizers.NETWORK_RULES),
    "model.dtype": schema.DTYPE,
    "model.z_dim": schema.POSITIVE,
    "model.c_dim": schema.POSITIVE,
    "model.gf_dim": schema.POSITIVE,
    "model.df_dim": schema.POSITIVE,
    "loss.kl_weight": schema.NOT_NEGATIVE,
}


def make_optimizers(config: ml_collections.ConfigDict, num_steps: int):
  """The generator's and the discriminator's optimizers from `config.optimizer.{gen,disc}`.

  Each section holds `optimizers.make_optimizer`'s fields (learning_rate, warmup_steps, decay,
  b1, b2, weight_decay, grad_clip_norm), so the two networks can differ in learning rate and
  betas.

  Args:
    config: the `optimizer` section, with sub-sections `gen` and `disc`.
    num_steps: the run's training steps, where a decay ends.

  Returns:
    `({"gen": tx, "disc": tx}, learning_rate_fn)`, where `learning_rate_fn(step)` is the
    generator's schedule (the one the trainer logs).
  """
  gen_tx, learning_rate_fn = optimizers.make_optimizer(
      config.gen, num_steps, f"config.optimizer.{GEN}"
  )
  disc_tx, _ = optimizers.make_optimizer(config.disc, num_steps, f"config.optimizer.{DISC}")
  return {GEN: gen_tx, DISC: disc_tx}, learning_rate_fn


def generator_noise(
    rng: jax.Array, batch_size: int, z_dim: int, c_dim: int
) -> tuple[jax.Array, jax.Array]:
  """A text-to-image generator's randomness: z [B,z_dim] and the conditioning augmentation's
  eps [B,c_dim], both N(0, I) float32."""
  z_rng, eps_rng = jax.random.split(rng)
  return (
      jax.random.normal(z_rng, (batch_size, z_dim)),
      jax.random.normal(eps_rng, (batch_size, c_dim)),
  )


def apply_in_train_mode(module: nn.Module, variables: dict[str, Any], *inputs) -> tuple:
  """`module` applied to `inputs` with `train=True`: (outputs, its new BatchNorm statistics)."""
  outputs, updates = module.apply(variables, *inputs, train=True, mutable=["batch_stats"])
  return outputs, updates["batch_stats"]


class GanState(flax.struct.PyTreeNode):
  """Step, both networks' parameters, BatchNorm statistics and optimizer states, and the EMA.

  Attributes:
    step: int32 scalar, number of generator updates applied (one per train step).
    params: {"gen": generator params, "disc": discriminator params}.
    batch_stats: {"gen": ..., "disc": ...} BatchNorm running statistics ({} for a network
      without BatchNorm).
    opt_state: {"gen": ..., "disc": ...} Optax states (each counts its non-finite updates).
    ema_params: {"params": EMA of the generator params, "batch_stats": the generator's current
      BatchNorm statistics}; evaluation and sampling read these.
    gen_tx, disc_tx: the two Optax transformations (static, not saved).
  """

  step: jax.Array
  params: dict[str, Any]
  batch_stats: dict[str, Any]
  opt_state: dict[str, Any]
  ema_params: dict[str, Any]
  gen_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  disc_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(
      cls,
      *,
      params: dict[str, Any],
      batch_stats: dict[str, Any],
      txs: dict[str, optax.GradientTransformation],
  ) -> "GanState":
    """Fresh state at step 0 with the EMA equal to the generator's parameters.

    Args:
      params, batch_stats: {"gen": ..., "disc": ...}.
      txs: {"gen": tx, "disc": tx}, e.g. from `make_optimizers`.
    """
    return cls(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=batch_stats,
        opt_state={GEN: txs[GEN].init(params[GEN]), DISC: txs[DISC].init(params[DISC])},
        ema_params={"params": params[GEN], "batch_stats": batch_stats[GEN]},
        gen_tx=txs[GEN],
        disc_tx=txs[DISC],
    )

  def apply_disc_gradients(self, grads, *, batch_stats) -> "GanState":
    """One discriminator update; `batch_stats` are its new statistics. The step is unchanged."""
    updates, opt_state = self.disc_tx.update(grads, self.opt_state[DISC], self.params[DISC])
    params = optax.apply_updates(self.params[DISC], updates)
    return self.replace(
        params={**self.params, DISC: params},
        batch_stats={**self.batch_stats, DISC: batch_stats},
        opt_state={**self.opt_state, DISC: opt_state},
    )

  def apply_gen_gradients(self, grads, *, batch_stats, ema_decay: float) -> "GanState":
    """One generator update, the EMA update and `step + 1`; `batch_stats` are G's new statistics.

    The EMA decay is warmed up as in `train_state.ema_update`.
    """
    updates, opt_state = self.gen_tx.update(grads, self.opt_state[GEN], self.params[GEN])
    params = optax.apply_updates(self.params[GEN], updates)
    step = self.step + 1
    ema = train_state.ema_update(self.ema_params["params"], params, step, ema_decay)
    return self.replace(
        step=step,
        params={**self.params, GEN: params},
        batch_stats={**self.batch_stats, GEN: batch_stats},
        opt_state={**self.opt_state, GEN: opt_state},
        ema_params={"params": ema, "batch_stats": batch_stats},
    )
