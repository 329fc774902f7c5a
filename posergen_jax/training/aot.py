"""Compile a config's train step, or one denoising step, for TPU chips without TPUs.

XLA's TPU compiler runs on any host (the `libtpu` package: `pip install "jax[tpu]"`). `fit`
compiles the family's real train step (the config's batch, mesh and state shardings, as the
trainer builds them) for a topology's chips and reads per chip the bytes of the arguments
(parameters, optimizer state, EMA) and of XLA's temporaries, the FLOPs and XLA's cost-model step
time; `sampling_cost` does the same for one call of a diffusion family's sampler on one chip.
Times are XLA's cost model, not measurements. The caller builds the family (as for `trainer`);
`python -m posergen_jax.aot` prints the tables.
"""

from collections.abc import Sequence
import dataclasses

import jax
from jax.experimental import topologies
import ml_collections
import tensorflow as tf
import tensorflow_datasets as tfds

from posergen_jax.training import family as family_lib
from posergen_jax.training import sharding, trainer

CAPTION = "a red poster with a circle"


@dataclasses.dataclass(frozen=True)
class Fit:
  """One (stage, topology) compile: per-chip bytes, FLOPs and XLA's cost-model seconds."""

  stage: str
  topology: str
  chips: int
  batch_size: int
  argument_bytes: int = 0
  temp_bytes: int = 0
  flops: float = 0.0
  seconds: float = 0.0
  error: str = ""

  @property
  def total_bytes(self) -> int:
    """Bytes per chip: arguments and temporaries."""
    return self.argument_bytes + self.temp_bytes


def _example(features: tfds.features.FeaturesDict, side: int) -> dict:
  """A stand-in example with `features`' structure: images `side`×`side`, other unknown
  dimensions 1, zeros for numbers and a caption for strings."""

  def tensor(info):
    shape = [side if n is None and i < 2 else (n or 1) for i, n in enumerate(info.shape)]
    if info.tf_dtype == tf.string:
      return tf.fill(shape, CAPTION)
    return tf.zeros(shape, info.tf_dtype)

  example = jax.tree.map(
      tensor,
      features.get_tensor_info(),
      is_leaf=lambda x: isinstance(x, tfds.features.TensorInfo),
  )
  return {**example, "tfds_id": tf.constant("stand-in")}


def batch_shapes(
    config: ml_collections.ConfigDict,
    family: family_lib.Family,
    data_sharding: jax.sharding.Sharding,
) -> dict[str, jax.ShapeDtypeStruct]:
  """ShapeDtypeStructs [train.batch_size · family.batches_per_step, ...] of one global training
  batch of `config`, placed `data_sharding`: `family`'s preprocess applied to a stand-in example
  of the dataset's features (the dataset need not be built)."""
  builder = tfds.builder(config.data.name, data_dir=config.data.data_dir)
  side = config.data.get("hr_size") or config.model.get("image_size") or 64
  example = _example(builder.info.features, side)
  preprocess = family.make_preprocess(True)
  ds = tf.data.Dataset.from_tensors(example).map(
      lambda ex: preprocess(ex, tf.constant([0, 0], tf.int64))
  )
  features = next(iter(ds))
  return {
      name: jax.ShapeDtypeStruct(
          (config.train.batch_size * family.batches_per_step, *value.shape),
          value.dtype.as_numpy_dtype,
          sharding=data_sharding,
      )
      for name, value in features.items()
  }


def tpu_devices(topology: str) -> list:
  """The chips of TPU `topology`, as devices XLA can compile for: one slice ("v5e:2x2") or
  several joined over the data-centre network ("2*v5e:2x2": multislice, each device knowing its
  `slice_index`; the config's mesh then needs a `slices` axis)."""
  count, _, slice_topology = topology.rpartition("*")
  kwargs = {"num_slices": int(count)} if count else {}
  return topologies.get_topology_desc(
      topology_name=slice_topology, platform="tpu", **kwargs
  ).devices


def compile_train_step(
    config: ml_collections.ConfigDict, family: family_lib.Family, devices: Sequence
) -> jax.stages.Compiled:
  """`family`'s train step for (stage) `config` compiled for `devices` (`tpu_devices`), over the
  config's mesh.

  Returns:
    jax's Compiled program; `memory_analysis()` and `cost_analysis()` are per chip.
  """
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh, devices), config.fsdp)
  trainer.check_batch_sizes(config, sharding.data_axis_size(shardings.mesh))
  batch = batch_shapes(config, family, shardings.data)
  rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=shardings.replicated)
  state = jax.eval_shape(family.init_state, jax.random.key(0), batch)
  state_shardings = sharding.state_shardings(state, shardings)
  state = jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, state_shardings
  )
  step = trainer.jit_train_step(family.train_step, state_shardings, shardings)
  return step.lower(state, batch, rng).compile()


def fit(config: ml_collections.ConfigDict, family: family_lib.Family, topology: str) -> Fit:
  """Compiles `family`'s train step for (stage) `config` on `topology`; a step too big for the
  chips' memory gives a Fit with the compiler's message as `error`."""
  devices = tpu_devices(topology)
  base = Fit(config.get("stage") or config.family, topology, len(devices), config.train.batch_size)
  try:
    compiled = compile_train_step(config, family, devices)
  except jax.errors.JaxRuntimeError as e:
    return dataclasses.replace(base, error=" ".join(str(e).split())[:300])
  memory, cost = compiled.memory_analysis(), _cost(compiled)
  return dataclasses.replace(
      base,
      argument_bytes=memory.argument_size_in_bytes,
      temp_bytes=memory.temp_size_in_bytes,
      flops=float(cost.get("flops", 0.0)),
      seconds=float(cost.get("optimal_seconds", 0.0)),
  )


@dataclasses.dataclass(frozen=True)
class SamplingCost:
  """One denoising step of a diffusion stage on one chip: XLA's cost-model seconds."""

  stage: str
  chip: str
  batch_size: int
  seconds: float
  flops: float

  def seconds_per_image(self, steps: int) -> float:
    """Seconds per image of a `steps`-step sampler (one call per step)."""
    return steps * self.seconds / self.batch_size


def chip_name(topology: str) -> str:
  """The chip of a topology: v5e for v5e:2x4 and for 2*v5e:2x4."""
  return topology.rpartition("*")[2].partition(":")[0]


def compile_sampling(
    config: ml_collections.ConfigDict, family: family_lib.Family, device, batch_size: int
) -> jax.stages.Compiled:
  """`family.sample` for (stage) `config` on `batch_size` images, compiled for the single chip
  `device`."""
  mesh = sharding.make_mesh((("data", 1),), [device])
  shardings = sharding.make_shardings(mesh)
  batch = batch_shapes(config, family, shardings.replicated)
  batch = {
      name: jax.ShapeDtypeStruct((batch_size, *x.shape[1:]), x.dtype, sharding=x.sharding)
      for name, x in batch.items()
  }
  params = jax.eval_shape(family.init_state, jax.random.key(0), batch).params
  params = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=shardings.replicated), params
  )
  rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=shardings.replicated)
  return jax.jit(family.sample).lower(params, batch, rng).compile()


def sampling_cost(
    config: ml_collections.ConfigDict, family: family_lib.Family, topology: str, batch_size: int
) -> SamplingCost:
  """The SamplingCost of one `family.sample` call for (diffusion stage) `config` on one chip of
  `topology`; a family built to sample in one step prices one denoising step."""
  cost = _cost(compile_sampling(config, family, tpu_devices(topology)[0], batch_size))
  return SamplingCost(
      config.get("stage") or config.family,
      chip_name(topology),
      batch_size,
      float(cost.get("optimal_seconds", 0.0)),
      float(cost.get("flops", 0.0)),
  )


def _cost(compiled: jax.stages.Compiled) -> dict:
  """XLA's cost analysis of `compiled` (one dict, whichever form jax returns)."""
  cost = compiled.cost_analysis()
  return cost[0] if isinstance(cost, list) else cost
