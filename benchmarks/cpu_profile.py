r"""Where a config's train step spends its time on CPU: XLA ops by kind, and the input pipeline.

Run from the repository root (1–3 minutes per config on a 2-core CPU):

  python benchmarks/cpu_profile.py --config configs/sr3.py
  python benchmarks/cpu_profile.py --config configs/wgan.py

Builds the config's family as the trainer does (mesh, shardings, the jitted donated train step)
on batches from the config's own input pipeline, then reports:

* the train step on one device-resident batch (median ms over `--steps`), and how long the input
  pipeline takes to hand over one batch when read on its own (tf.data on the host);
* a `jax.profiler` trace of `--trace-steps` steps, summed per XLA op kind: the instruction name
  without its number (`ynn_fusion` is a convolution or dot run by YNNPACK, `transpose_copy_fusion`
  a layout change XLA inserted, `add_divide_fusion` an elementwise fusion ending in a divide, ...).
  Times are summed over the threads that ran each op, per step; on 2 cores their total exceeds the
  wall-clock step when ops run in parallel, and falls short of it when a thread waits.
"""

import argparse
import collections
import pathlib
import re
import statistics
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.

from benchmarks import cpu_kernels  # noqa: E402
from posergen_jax import cli, configs  # noqa: E402

# Host-side events of the runtime and of Python, not XLA ops.
_NOT_AN_OP = re.compile(
    r"Thunk|ThreadPool|^jit_|PjitFunction|Execute|^\$|PjRt|ParseArguments|TraceMe"
)


def op_kind(name: str) -> str:
  """'ynn_fusion.426' -> 'ynn_fusion': an XLA instruction name without its number."""
  return re.sub(r"[._]\d+$", "", name)


def ms_per_op_kind(trace_dir: str, steps: int) -> collections.Counter:
  """Milliseconds per step of each XLA op kind in the `jax.profiler` trace under `trace_dir`."""
  from jax import profiler  # pylint: disable=import-outside-toplevel

  (trace_file,) = pathlib.Path(trace_dir).rglob("*.xplane.pb")
  totals = collections.Counter()
  for plane in profiler.ProfileData.from_file(str(trace_file)).planes:
    for line in plane.lines:
      for event in line.events:
        if not _NOT_AN_OP.search(event.name):
          totals[op_kind(event.name)] += event.duration_ns / 1e6 / steps
  return totals


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="configs/sr3.py", help="a config file[:arg]")
  parser.add_argument("--steps", type=int, default=10, help="timed train steps")
  parser.add_argument("--trace-steps", type=int, default=5, help="train steps in the trace")
  parser.add_argument("--top", type=int, default=12, help="op kinds listed")
  cpu_kernels.add_argument(parser)
  args = parser.parse_args()
  cli.use_onednn_on_cpu(args.cpu_onednn)

  import jax  # pylint: disable=import-outside-toplevel

  from posergen_jax.families import registry  # pylint: disable=import-outside-toplevel
  from posergen_jax.training import sharding  # pylint: disable=import-outside-toplevel

  config = configs.load(args.config)
  family = registry.get_family(config)
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh), config.fsdp)
  batches = cpu_kernels.train_batches(config, family, shardings)
  batch = next(batches)
  step, state = cpu_kernels.jitted_train_step(family, shardings, batch)
  key = jax.random.key(1)
  for _ in range(2):  # Compile, then one warm call.
    state, _ = jax.block_until_ready(step(state, batch, key))
  step_ms, input_ms = [], []
  for _ in range(args.steps):
    start = time.perf_counter()
    state, _ = jax.block_until_ready(step(state, batch, key))
    step_ms.append(1e3 * (time.perf_counter() - start))
    start = time.perf_counter()
    jax.block_until_ready(next(batches))
    input_ms.append(1e3 * (time.perf_counter() - start))
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(args.trace_steps):
        state, _ = jax.block_until_ready(step(state, batch, key))
    per_kind = ms_per_op_kind(trace_dir, args.trace_steps)

  step_median = statistics.median(step_ms)
  print(
      f"\n{args.config}: batch {config.train.batch_size * family.batches_per_step}, "
      f"{jax.device_count()} device(s), AMX: {cli.cpu_has_amx()}\n"
  )
  print(f"train step: {step_median:.1f} ms (median of {args.steps})")
  print(f"input pipeline, one batch read alone: {statistics.median(input_ms):.1f} ms\n")
  print("| XLA op kind | ms per step (summed over threads) | share of the ops' time |")
  print("| --- | --- | --- |")
  total = sum(per_kind.values())
  for kind, ms in per_kind.most_common(args.top):
    print(f"| `{kind}` | {ms:.1f} | {ms / total:.0%} |")
  print(f"| all {len(per_kind)} kinds | {total:.1f} | 100% |")


if __name__ == "__main__":
  main()
