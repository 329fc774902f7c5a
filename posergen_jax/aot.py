r"""Will a config's train step fit a TPU slice? Compile it for the slice, on any machine.

  python -m posergen_jax.aot --config=configs/sr3_paper.py --topology=v5e:2x4 --topology=v5e:4x4

XLA's TPU compiler runs without TPUs (the `libtpu` package: `pip install "jax[tpu]"`): for each
stage of the config and each topology, the real train step (the family's `train_step`, the
config's batch, mesh and state shardings) is compiled for the slice's chips and the table gives,
per chip, the parameters + optimizer state + EMA ("arguments"), XLA's temporaries and their sum
against the chip's memory, the step's FLOPs, XLA's cost-model step time, the MFU that time
implies and images per second. Times and MFU are XLA's cost model, not measurements; memory is
what the compiled program allocates. A step that does not fit fails to compile: the row says so.

For the diffusion stages a second table gives sampling on one chip: one denoising step (the
U-Net on `--sample_batch` images at once) compiled for a chip of the first topology, and the
seconds per image that implies for 100-step DDPM and 20-step DDIM.
"""

from collections.abc import Sequence
import dataclasses
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # The host runs the compiler only.

import jax  # noqa: E402
from jax.experimental import topologies  # noqa: E402
import ml_collections  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.training import sharding, trainer  # noqa: E402

GIB = 2**30
# Per chip: memory (GiB) and peak bf16 FLOP/s, from Cloud TPU's published specifications.
CHIPS = {
    "v4": (32, 275e12),
    "v5e": (16, 197e12),
    "v5p": (95, 459e12),
    "v6e": (32, 918e12),
}
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


def batch_shapes(config: ml_collections.ConfigDict, family, data_sharding) -> dict:
  """ShapeDtypeStructs of one global training batch of `config`, from its family's preprocess
  applied to a stand-in example of its dataset's features (the dataset need not be built)."""
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


def compile_train_step(config: ml_collections.ConfigDict, devices: Sequence):
  """The train step of (stage) `config` compiled for `devices` (`tpu_devices`), over the
  config's mesh.

  Returns:
    jax's Compiled program; `memory_analysis()` and `cost_analysis()` are per chip.
  """
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh, devices), config.fsdp)
  trainer.check_batch_sizes(config, sharding.data_axis_size(shardings.mesh))
  family = registry.get_family(config)
  batch = batch_shapes(config, family, shardings.data)
  rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=shardings.replicated)
  state = jax.eval_shape(family.init_state, jax.random.key(0), batch)
  state_shardings = sharding.state_shardings(state, shardings)
  state = jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, state_shardings
  )
  step = trainer.jit_train_step(family.train_step, state_shardings, shardings)
  return step.lower(state, batch, rng).compile()


def fit(config: ml_collections.ConfigDict, topology: str) -> Fit:
  """Compiles (stage) `config`'s train step for `topology`; a step too big for the chips'
  memory gives a Fit with the compiler's message as `error`."""
  devices = tpu_devices(topology)
  base = Fit(config.get("stage") or config.family, topology, len(devices), config.train.batch_size)
  try:
    compiled = compile_train_step(config, devices)
  except jax.errors.JaxRuntimeError as e:
    return dataclasses.replace(base, error=" ".join(str(e).split())[:300])
  memory, cost = compiled.memory_analysis(), compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
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
    return steps * self.seconds / self.batch_size


# The samplers the sampling table prices: (name, steps).
SAMPLERS = (("DDPM", 100), ("DDIM", 20))


def chip_name(topology: str) -> str:
  """The chip of a topology: v5e for v5e:2x4 and for 2*v5e:2x4."""
  return topology.rpartition("*")[2].partition(":")[0]


def compile_denoising_step(config: ml_collections.ConfigDict, device, batch_size: int):
  """(Stage) `config`'s sampler at one deterministic DDIM step (one U-Net call) on `batch_size`
  images, compiled for the single chip `device`."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.diffusion.update(sampler="ddim", sample_steps=1, ddim_eta=0.0)
  family = registry.get_family(config)
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


def sampling_cost(config: ml_collections.ConfigDict, topology: str, batch_size: int):
  """The SamplingCost of (diffusion stage) `config` on one chip of `topology`."""
  compiled = compile_denoising_step(config, tpu_devices(topology)[0], batch_size)
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return SamplingCost(
      config.get("stage") or config.family,
      chip_name(topology),
      batch_size,
      float(cost.get("optimal_seconds", 0.0)),
      float(cost.get("flops", 0.0)),
  )


def sampling_table(costs: Sequence[SamplingCost]) -> str:
  """A markdown table of `costs`: the denoising step and seconds per image per sampler."""
  names = " | ".join(f"{name}-{steps} s/image" for name, steps in SAMPLERS)
  rows = [
      f"| stage | chip | images per step | TFLOP/step | est. step s | {names} |",
      "| --- | --- | --- | --- | --- |" + " --- |" * len(SAMPLERS),
  ]
  for c in costs:
    if c.seconds > 0:
      timing = f"{c.seconds:.4f} | " + " | ".join(
          f"{c.seconds_per_image(steps):.3f}" for _, steps in SAMPLERS
      )
    else:  # XLA's cost model gives no (or a negative) time for some programs.
      timing = " | ".join(["n/a"] * (1 + len(SAMPLERS)))
    rows.append(f"| {c.stage} | 1 {c.chip} | {c.batch_size} | {c.flops / 1e12:.3f} | {timing} |")
  return "\n".join(rows)


def table(fits: Sequence[Fit]) -> str:
  """A markdown table of `fits`: GiB per chip against the chip's memory, FLOPs, XLA's
  cost-model step time, the MFU it implies and images/s."""
  rows = [
      "| stage | topology | chips | batch | args GiB/chip | temp GiB/chip | total / HBM | "
      "TFLOP/chip/step | est. step s | est. MFU | est. images/s |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for f in fits:
    hbm, peak = CHIPS[chip_name(f.topology)]
    if f.error:
      rows.append(
          f"| {f.stage} | {f.topology} | {f.chips} | {f.batch_size} | | | does not fit: "
          f"{f.error[:120]} | | | | |"
      )
      continue
    if f.seconds > 0:  # XLA's cost model gives no (or a negative) time for some programs.
      timing = (
          f"{f.seconds:.4f} | {f.flops / (f.seconds * peak):.0%} | {f.batch_size / f.seconds:.1f}"
      )
    else:
      timing = "n/a | n/a | n/a"
    rows.append(
        f"| {f.stage} | {f.topology} | {f.chips} | {f.batch_size} | "
        f"{f.argument_bytes / GIB:.2f} | {f.temp_bytes / GIB:.2f} | "
        f"{f.total_bytes / GIB:.2f} / {hbm} | {f.flops / 1e12:.3f} | {timing} |"
    )
  return "\n".join(rows)


def stage_configs(config: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
  """Each stage's full config of a staged config, or `[config]`."""
  if not stages.is_staged(config):
    return [config]
  return [stages.stage_config(config, name) for name in config.stage_order]


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags; defined only when run as a program, so that importing this module
  (the tests do, beside main) defines none."""
  config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).")
  flags.DEFINE_multi_string(
      "topology", ["v5e:2x4"], "TPU topologies, e.g. v5e:2x4, v5p:2x2x2; 2*v5e:2x4: two slices."
  )
  flags.DEFINE_multi_string("stage", [], "Stages of a staged config (default: all).")
  flags.DEFINE_integer("sample_batch", 8, "Images per denoising step in the sampling table.")
  flags.DEFINE_bool("train", True, "Compile the train steps (the fit table).")
  flags.mark_flags_as_required(["config"])


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  try:
    for topology in FLAGS.topology:
      if not re.fullmatch(r"([1-9]\d*\*)?\w+:\d+(x\d+)*", topology):
        raise errors.InputError(
            f"--topology={topology}: must be CHIP:AxB[xC], or N*CHIP:AxB for N slices."
        )
      if chip_name(topology) not in CHIPS:
        raise errors.InputError(f"--topology={topology}: the chip is not one of {sorted(CHIPS)}.")
    configs = [
        c for c in stage_configs(FLAGS.config) if not FLAGS.stage or c.get("stage") in FLAGS.stage
    ]
    if FLAGS.sample_batch < 1:
      raise errors.InputError(f"--sample_batch={FLAGS.sample_batch}: must be >= 1.")
    fits = [
        fit(config, topology) for config in configs for topology in FLAGS.topology if FLAGS.train
    ]
    costs = [
        sampling_cost(config, FLAGS.topology[0], FLAGS.sample_batch)
        for config in configs
        if "diffusion" in config  # The diffusion families (SR3, the text DDPM) sample.
    ]
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  if fits:
    print(table(fits))
  if costs:
    print(sampling_table(costs))
  print("Times and MFU: XLA's cost model for the compiled programs, not measurements.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
