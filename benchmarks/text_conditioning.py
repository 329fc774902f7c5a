r"""What the caption embedding cache saves: a text-to-image family's train step and input
pipeline with the frozen text tower run every step ('encoder') or read from the cache ('cache').

  python benchmarks/text_conditioning.py --config=configs/wgan.py --steps 20

Builds the family as `main` does (config.text.source overridden), times the jitted train step
on one fixed sharded batch (compile and one warm-up call excluded, results blocked on), and the
input pipeline's batches per second (preprocess, tokenization included, then device_put).
The sources alternate step by step so a busy machine slows both alike. Prints a markdown table.
The cache is built on first use (the build time is printed) and reused afterwards.
"""

import argparse
from pathlib import Path
import sys
import time

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import cpu_kernels  # noqa: E402
from posergen_jax import cli, configs  # noqa: E402
from posergen_jax.families import registry  # noqa: E402
from posergen_jax.training import sharding, trainer  # noqa: E402

SOURCES = ("encoder", "cache")


def _setup(config, source: str):
  """(jitted step, state, sharded batch, batches iterator, setup seconds) for `source`."""
  config = config.copy_and_resolve_references()
  config.text.source = source
  start = time.perf_counter()
  family = registry.get_family(config)
  setup_seconds = time.perf_counter() - start
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh), config.fsdp)
  batches = cpu_kernels.train_batches(config, family, shardings)
  batch = next(batches)
  rng = jax.random.key(0)
  state, state_shardings = sharding.init_sharded(family.init_state, shardings, rng, batch)
  step = trainer.jit_train_step(family.train_step, state_shardings, shardings)
  state, _ = jax.block_until_ready(step(state, batch, rng))  # Compile and warm up.
  return step, state, batch, batches, setup_seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="configs/wgan.py", help="config file[:arg]")
  parser.add_argument("--steps", type=int, default=20)
  cpu_kernels.add_argument(parser)
  args = parser.parse_args()
  cli.use_onednn_on_cpu(args.cpu_onednn)
  config = configs.load(args.config)
  runs = {source: list(_setup(config, source)) for source in SOURCES}
  step_ms = {source: [] for source in SOURCES}
  batch_ms = {source: [] for source in SOURCES}
  for _ in range(args.steps):
    for source, (step, state, batch, batches, _) in runs.items():
      start = time.perf_counter()
      runs[source][1], _ = jax.block_until_ready(step(state, batch, jax.random.key(1)))
      step_ms[source].append(1e3 * (time.perf_counter() - start))
      start = time.perf_counter()
      jax.block_until_ready(next(batches))
      batch_ms[source].append(1e3 * (time.perf_counter() - start))
  print(
      f"\n{config.family} ({args.config}), batch {config.train.batch_size}, "
      f"{jax.device_count()} {jax.devices()[0].platform} device(s), median of {args.steps}:\n"
  )
  print("| text source | train step ms | input batch ms | set-up s (cache build included) |")
  print("|---|---|---|---|")
  for source in SOURCES:
    print(
        f"| {source} | {np.median(step_ms[source]):.1f} | {np.median(batch_ms[source]):.1f} | "
        f"{runs[source][4]:.1f} |"
    )
  ratio = np.median(np.asarray(step_ms["cache"]) / np.asarray(step_ms["encoder"]))
  print(f"\ncache/encoder train step time: {ratio:.2f} (median of paired ratios)")


if __name__ == "__main__":
  main()
