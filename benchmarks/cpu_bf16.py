r"""bfloat16 on CPU: which JAX matmuls and convolutions reach the CPU's bf16 units, against torch.

Run from the repository root (about a minute on a 2-core CPU):

  python benchmarks/cpu_bf16.py

Times, in JAX (XLA:CPU, with the entry points' choice of kernels, `--cpu-onednn`) and in torch,
a 2048×2048 matmul and a 3×3 convolution (batch 8, 64×64, 64 → 64 channels, NHWC), each in
float32, in bfloat16, and in JAX also bfloat16 inputs accumulated and returned in float32
(`preferred_element_type=jnp.float32`). GFLOP/s from the median of `--reps` calls after a warm-up.
On a CPU with AMX-BF16 (Intel Sapphire Rapids and later) a kernel that reaches it runs several
times faster than in float32.
"""

import argparse
from collections.abc import Callable
import os
import pathlib
import statistics
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # See sr3_vs_torch.py.

from benchmarks import cpu_kernels  # noqa: E402
from posergen_jax import cli  # noqa: E402

MATMUL_SIDE = 2048
CONV_SHAPE = (8, 64, 64, 64)  # Batch, height, width, channels in and out.


def median_seconds(call: Callable[[], object], reps: int) -> float:
  """Median wall-clock seconds of `call()` (which must block until its result is ready)."""
  call()
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def jax_rows(reps: int) -> list[tuple[str, str, float]]:
  """(op, dtype, GFLOP/s) of JAX's matmul and convolution in f32, bf16 and bf16 → f32."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  batch, height, width, channels = CONV_SHAPE
  matmul_flops = 2 * MATMUL_SIDE**3
  conv_flops = 2 * batch * height * width * channels * channels * 9
  rows = []
  for name, dtype, accumulate in (
      ("float32", jnp.float32, None),
      ("bfloat16", jnp.bfloat16, None),
      ("bfloat16 → float32", jnp.bfloat16, jnp.float32),
  ):
    a = jnp.ones((MATMUL_SIDE, MATMUL_SIDE), dtype)
    matmul = jax.jit(lambda x, y, acc=accumulate: jnp.dot(x, y, preferred_element_type=acc))
    seconds = median_seconds(lambda: matmul(a, a).block_until_ready(), reps)
    rows.append(("matmul 2048²", name, matmul_flops / seconds / 1e9))
    x, w = jnp.ones(CONV_SHAPE, dtype), jnp.ones((3, 3, channels, channels), dtype)
    conv = jax.jit(
        lambda x, w, acc=accumulate: jax.lax.conv_general_dilated(
            x,
            w,
            (1, 1),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            preferred_element_type=acc,
        )
    )
    seconds = median_seconds(lambda: conv(x, w).block_until_ready(), reps)
    rows.append(("conv 3×3", name, conv_flops / seconds / 1e9))
  return rows


def torch_rows(reps: int) -> list[tuple[str, str, float]]:
  """(op, dtype, GFLOP/s) of torch's matmul and (channels-last) convolution in f32 and bf16."""
  import torch  # pylint: disable=import-outside-toplevel

  batch, height, width, channels = CONV_SHAPE
  rows = []
  for dtype in (torch.float32, torch.bfloat16):
    name = str(dtype).removeprefix("torch.")
    a = torch.ones(MATMUL_SIDE, MATMUL_SIDE, dtype=dtype)
    seconds = median_seconds(lambda: a @ a, reps)
    rows.append(("matmul 2048²", name, 2 * MATMUL_SIDE**3 / seconds / 1e9))
    x = torch.ones(batch, channels, height, width, dtype=dtype)
    x = x.to(memory_format=torch.channels_last)
    w = torch.ones(channels, channels, 3, 3, dtype=dtype)
    seconds = median_seconds(lambda: torch.nn.functional.conv2d(x, w, padding=1), reps)
    conv_flops = 2 * batch * height * width * channels * channels * 9
    rows.append(("conv 3×3", name, conv_flops / seconds / 1e9))
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--reps", type=int, default=10)
  cpu_kernels.add_argument(parser)
  args = parser.parse_args()
  cli.use_onednn_on_cpu(args.cpu_onednn)
  import torch  # pylint: disable=import-outside-toplevel

  print(
      f"\n{os.cpu_count()} CPUs, AMX: {cli.cpu_has_amx()}, "
      f"XLA_FLAGS={os.environ.get('XLA_FLAGS')}, "
      f"torch {torch.__version__} ({torch.get_num_threads()} threads)\n"
  )
  print("| framework | op | dtype | GFLOP/s |")
  print("| --- | --- | --- | --- |")
  for framework, rows in (("JAX", jax_rows(args.reps)), ("torch", torch_rows(args.reps))):
    for op, dtype, gflops in rows:
      print(f"| {framework} | {op} | {dtype} | {gflops:.0f} |")


if __name__ == "__main__":
  main()
