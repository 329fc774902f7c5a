r"""XLA:CPU's own kernels against oneDNN's on an SR3 config's train step and sampler.

Run from the repository root (about 4 minutes on a 2-core CPU):

  python benchmarks/cpu_kernels.py --config configs/sr3.py --rounds 3

XLA reads XLA_FLAGS once per process, so each measurement is a child process with
`--xla_cpu_use_onednn=false` or `=true`, alternating, `--rounds` times each. A child builds the
config's SR3 family on a random batch of the config's shapes, compiles the train step (the
trainer's `jit_train_step`) and times `--steps` steps after one warm-up, then the sampler on 4
images; it prints one JSON line. The table gives the median over rounds per setting and the ratio
oneDNN / XLA (< 1: oneDNN faster).

Also the benchmarks' --cpu-onednn option (`add_argument`), the entry points' choice of kernels.
"""

import argparse
from collections.abc import Callable
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.

from posergen_jax import cli, configs  # noqa: E402


def add_argument(parser: argparse.ArgumentParser) -> None:
  """Adds --cpu-onednn (auto | true | false); pass its value to `cli.use_onednn_on_cpu`."""
  parser.add_argument(
      "--cpu-onednn", choices=cli.ONEDNN_MODES, default="auto", help=cli.ONEDNN_HELP
  )


def train_batches(config, family, shardings):
  """The config's training batches as the trainer reads them (`batches_per_step` × batch_size
  examples a step, e.g. a WGAN step's n_critic critic batches), sharded by `shardings.data`."""
  from posergen_jax.data import input_pipeline  # pylint: disable=import-outside-toplevel

  dataset = input_pipeline.create_dataset(
      config.data,
      config.data.train_split,
      global_batch_size=config.train.batch_size * family.batches_per_step,
      preprocess=family.make_preprocess(True),
      train=True,
      seed=config.seed,
  )
  return input_pipeline.GlobalBatches(dataset, shardings.data)


def jitted_train_step(family, shardings, batch) -> tuple[Callable, Any]:
  """The trainer's jitted, donated `family.train_step` and a fresh state sharded by `shardings`,
  shaped for `batch` (a dict of [B,...] arrays already on the mesh)."""
  import jax  # pylint: disable=import-outside-toplevel

  from posergen_jax.training import sharding, trainer  # pylint: disable=import-outside-toplevel

  state, state_shardings = sharding.init_sharded(
      family.init_state, shardings, jax.random.key(0), batch
  )
  return trainer.jit_train_step(family.train_step, state_shardings, shardings), state


def measure(config_spec: str, steps: int) -> dict[str, float]:
  """Train-step ms (median of `steps`) and seconds to sample 4 images, in this process."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from posergen_jax.families import registry  # pylint: disable=import-outside-toplevel
  from posergen_jax.training import sharding  # pylint: disable=import-outside-toplevel

  config = configs.load(config_spec)
  family = registry.get_family(config)
  size, low, batch_size = config.data.hr_size, config.data.lr_size, config.train.batch_size
  rng = np.random.default_rng(0)
  high = rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32)
  batch = {
      "target": high,
      "cond": high,
      "lowres": rng.uniform(-1, 1, (batch_size, low, low, 3)).astype(np.float32),
  }
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh), config.fsdp)
  batch = jax.device_put(batch, shardings.data)
  step, state = jitted_train_step(family, shardings, batch)
  key = jax.random.key(1)
  start = time.perf_counter()
  state, _ = jax.block_until_ready(step(state, batch, key))
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, _ = jax.block_until_ready(step(state, batch, key))
    times.append(time.perf_counter() - start)
  sample = jax.jit(family.sample)
  cond = {"cond": batch["cond"][:4]}
  jax.block_until_ready(sample(state.ema_params, cond, key))
  start = time.perf_counter()
  jax.block_until_ready(sample(state.ema_params, cond, key))
  return {
      "step_ms": 1e3 * statistics.median(times),
      "compile_s": compile_s,
      "sample_s": time.perf_counter() - start,
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="configs/sr3.py", help="an SR3 config file[:arg]")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--steps", type=int, default=15)
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(args.config, args.steps)))
    return
  results = {"false": [], "true": []}
  for _ in range(args.rounds):
    for onednn in results:
      env = {**os.environ, "XLA_FLAGS": f"--xla_cpu_use_onednn={onednn}"}
      env["TF_CPP_MIN_LOG_LEVEL"] = "3"
      out = subprocess.run(
          [sys.executable, __file__, "--child", f"--config={args.config}", f"--steps={args.steps}"],
          env=env,
          capture_output=True,
          text=True,
          check=True,
      ).stdout
      results[onednn].append(json.loads(out.strip().splitlines()[-1]))
  median = {
      onednn: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
      for onednn, runs in results.items()
  }
  print(
      f"\n{args.config}, {args.rounds} alternating rounds, {os.cpu_count()} CPUs, "
      f"AMX: {cli.cpu_has_amx()}\n"
  )
  print("| kernels | train step ms | 4 samples s | compile s |")
  print("| --- | --- | --- | --- |")
  for onednn, name in (("false", "XLA's own"), ("true", "oneDNN")):
    m = median[onednn]
    print(f"| {name} | {m['step_ms']:.1f} | {m['sample_s']:.2f} | {m['compile_s']:.1f} |")
  ratio = {k: median["true"][k] / median["false"][k] for k in ("step_ms", "sample_s")}
  print(f"\noneDNN / XLA: train step {ratio['step_ms']:.2f}, sampling {ratio['sample_s']:.2f}")
  print(
      "per round (XLA, oneDNN) step ms:",
      [
          (round(a["step_ms"]), round(b["step_ms"]))
          for a, b in zip(results["false"], results["true"])
      ],
  )


if __name__ == "__main__":
  main()
