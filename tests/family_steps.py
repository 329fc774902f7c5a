"""Test helper: a family's jitted train steps on a fixed batch, sharded as the trainer does."""
import jax

from posergen_jax.data import input_pipeline
from posergen_jax.training import sharding


def first_train_batch(family, config, batch_size: int = 8) -> dict:
  """The first global training batch (numpy) of `config.data` through the family's preprocess."""
  ds = input_pipeline.create_dataset(config.data, config.data.train_split,
                                     global_batch_size=batch_size,
                                     preprocess=family.make_preprocess(True), train=True, seed=0)
  return next(ds.as_numpy_iterator())


def train_steps(family, batch, devices, num_steps, mesh=(("data", -1),)):
  """`num_steps` jitted train steps on `batch` over a `mesh` of `devices`.

  The state is sharded by `sharding.state_shardings`, as in the trainer; every step uses
  the same base key.

  Returns:
    ([initial state, state after step 1, ...], [metrics (numpy) of step 1, ...]).
  """
  shardings = sharding.make_shardings(sharding.make_mesh(mesh, devices=devices))
  batch = jax.device_put(batch, shardings.data)
  state_shardings = sharding.state_shardings(
      jax.eval_shape(family.init_state, jax.random.key(0), batch), shardings)
  state = jax.jit(family.init_state, out_shardings=state_shardings)(jax.random.key(0), batch)
  step_fn = jax.jit(family.train_step, in_shardings=(state_shardings, shardings.data,
                                                     shardings.replicated),
                    out_shardings=(state_shardings, shardings.replicated))
  states, history = [state], []
  for _ in range(num_steps):
    state, metrics = step_fn(state, batch, jax.random.key(1))
    states.append(state)
    history.append(jax.device_get(metrics))
  return states, history
