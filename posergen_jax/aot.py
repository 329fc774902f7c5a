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

The compiling is training/aot.py's; this module builds each stage's family, reads the flags and
prints the tables.
"""

from collections.abc import Sequence
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # The host runs the compiler only.

import ml_collections  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.training import aot as aot_lib  # noqa: E402

GIB = 2**30
# Per chip: memory (GiB) and peak bf16 FLOP/s, from Cloud TPU's published specifications.
CHIPS = {
    "v4": (32, 275e12),
    "v5e": (16, 197e12),
    "v5p": (95, 459e12),
    "v6e": (32, 918e12),
}


def fit(config: ml_collections.ConfigDict, topology: str) -> aot_lib.Fit:
  """Compiles (stage) `config`'s train step for `topology` (training/aot.py)."""
  return aot_lib.fit(config, registry.get_family(config), topology)


def sampling_cost(
    config: ml_collections.ConfigDict, topology: str, batch_size: int
) -> aot_lib.SamplingCost:
  """(Diffusion stage) `config`'s sampler at one deterministic DDIM step (one U-Net call) on
  `batch_size` images, priced on one chip of `topology` (training/aot.py)."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.diffusion.update(sampler="ddim", sample_steps=1, ddim_eta=0.0)
  return aot_lib.sampling_cost(config, registry.get_family(config), topology, batch_size)


# The samplers the sampling table prices: (name, steps).
SAMPLERS = (("DDPM", 100), ("DDIM", 20))


def sampling_table(costs: Sequence[aot_lib.SamplingCost]) -> str:
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


def table(fits: Sequence[aot_lib.Fit]) -> str:
  """A markdown table of `fits`: GiB per chip against the chip's memory, FLOPs, XLA's
  cost-model step time, the MFU it implies and images/s."""
  rows = [
      "| stage | topology | chips | batch | args GiB/chip | temp GiB/chip | total / HBM | "
      "TFLOP/chip/step | est. step s | est. MFU | est. images/s |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for f in fits:
    hbm, peak = CHIPS[aot_lib.chip_name(f.topology)]
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
      if aot_lib.chip_name(topology) not in CHIPS:
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
