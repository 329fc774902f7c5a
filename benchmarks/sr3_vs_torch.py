r"""JAX vs PyTorch on the SR3 U-Net: train-step and DDPM-sampling times, side by side.

Run from the repository root (a few minutes on a 2-core CPU at these sizes):

  python benchmarks/sr3_vs_torch.py --config default --sizes 32,64 --batch 4 --reps 5

Both frameworks run in this one process on the same machine and the same batch. The network comes
from `configs/sr3.py` (`--config default|quick`, or `paper` when `configs/sr3_paper.py` exists);
the PyTorch side is its layer-for-layer twin (`benchmarks/torch_sr3_unet.py`) holding a copy of
the Flax weights. What is timed:

* train step: SR3 L1 eps loss at random noise levels, forward + backward + AdamW update with
  global-norm clipping. JAX: one jitted function of (params, opt_state, batch, rng) with params and
  optimizer state donated, using the project's `make_optimizer` (which also skips non-finite
  updates). PyTorch: eager `loss.backward()`, `clip_grad_norm_`, `AdamW.step()`; with `--compile`
  also the `torch.compile`d network (or the reason it could not be compiled).
* sampling: ancestral DDPM over `--sample-steps` steps of the config's (respaced) sampling
  schedule. JAX: the project's `ddpm_sample` under jit; PyTorch: the same loop, eager.

Compilation and warm-up calls are excluded (JAX compile times are reported apart). Repetitions
alternate between the frameworks (rotating which goes first) and every call blocks until its
result is ready; a ratio is the median over repetitions of the paired JAX/torch ratio, so slow
phases of a shared machine hit both sides. FLOPs per train step come from XLA's cost analysis of
the compiled step; MFU = (FLOPs per step / seconds per step) / peak FLOP/s (`--peak-tflops`).
"""

import argparse
from collections.abc import Callable
import copy
import functools
import importlib.util
import json
import os
from pathlib import Path
import platform
import statistics
import sys
import time

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.
# PyTorch's OpenMP threads otherwise spin between ops; on a shared or small CPU that spinning,
# not the network, dominates its times (measured: 4-20x). Set it before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402

from benchmarks import cpu_kernels, torch_sr3_unet  # noqa: E402
from posergen_jax import cli  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.configs import sr3 as sr3_config  # noqa: E402
from posergen_jax.diffusion import losses, samplers, schedules  # noqa: E402
from posergen_jax.families import sr3 as sr3_family  # noqa: E402
from posergen_jax.training import optimizers  # noqa: E402

CONFIG_NAMES = ("quick", "default", "paper")
IMAGE_CHANNELS = 3


def load_config(name: str) -> ml_collections.ConfigDict | None:
  """configs/sr3.py (`default`, `quick`) or configs/sr3_paper.py (`paper`; None if absent).

  A staged config (the paper cascade) comes back whole; `resolve_stage` picks one stage.
  """
  if name == "quick":
    return sr3_config.get_config("quick")
  if name == "default":
    return sr3_config.get_config()
  if name == "paper":
    if importlib.util.find_spec("posergen_jax.configs.sr3_paper") is None:
      return None
    return importlib.import_module("posergen_jax.configs.sr3_paper").get_config()
  raise ValueError(f'unknown --config {name!r}; valid: {", ".join(CONFIG_NAMES)}')


def resolve_stage(
    name: str, config: ml_collections.ConfigDict, stage: str | None
) -> tuple[str, ml_collections.ConfigDict]:
  """(row label, one-model config): stage `stage` (default: the config's own) of a staged one."""
  if not stages.is_staged(config):
    return name, config
  stage = stage or config.stage
  return f"{name}/{stage}", stages.stage_config(config, stage)


# ----------------------------------------------------------------------------------------- JAX


def jax_train_step(model, tx, schedule, aug_max_level, params, opt_state, batch, rng):
  """One SR3 step: (params, opt_state, batch {'target','cond'} [B,H,W,3], rng) -> same + loss.

  Returns (params, opt_state, next rng, scalar loss). Draws the condition's augmentation level
  in [0, aug_max_level) when the model takes one, as the trainer does.
  """
  rng, noise_rng, aug_rng, level_rng, dropout_rng = jax.random.split(rng, 5)
  cond, aug_level = batch["cond"], None
  if model.cond_augmentation:
    aug_level = jax.random.uniform(level_rng, cond.shape[:1], jnp.float32, 0.0, aug_max_level)
    cond = losses.augment_condition(cond, aug_level, aug_rng)

  def loss_fn(p):
    denoise = lambda x, c, level: model.apply(
        {"params": p}, x, c, level, aug_level, train=True, rngs={"dropout": dropout_rng}
    )
    return losses.sr3_loss(
        denoise, batch["target"], cond, noise_rng, schedule, loss_type="l1", prediction="eps"
    )[0]

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, rng, loss


def jax_sample(model, schedule, aug_sample_level, params, cond, rng):
  """The project's `ddpm_sample` for cond [B,H,W,3] -> samples [B,H,W,3]."""
  aug_level = None
  if model.cond_augmentation:
    aug_rng, rng = jax.random.split(rng)
    aug_level = jnp.full(cond.shape[:1], aug_sample_level, jnp.float32)
    cond = losses.augment_condition(cond, aug_level, aug_rng)
  denoise = lambda x, c, level: model.apply({"params": params}, x, c, level, aug_level, train=False)
  return samplers.ddpm_sample(denoise, cond, rng, schedule)


def _flops(compiled) -> float:
  """XLA's FLOP count of a compiled function (cost_analysis is a dict, or a list of them)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))


def _timed_compile(fn, *args) -> tuple[Callable, float]:
  """(compiled fn, seconds spent lowering and compiling it)."""
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  return compiled, time.perf_counter() - start


# ------------------------------------------------------------------------------------- PyTorch


def torch_twin(config: ml_collections.ConfigDict, size: int) -> torch_sr3_unet.UNet:
  """The PyTorch twin of `sr3_family.make_model(config)` for images of side `size`."""
  return torch_sr3_unet.UNet(size, **sr3_family.unet_architecture(config))


def _torch_augment(cond: torch.Tensor, aug_level: torch.Tensor) -> torch.Tensor:
  """`losses.augment_condition` in PyTorch: cond [B,C,H,W], aug_level [B] -> [B,C,H,W]."""
  level = aug_level[:, None, None, None]
  return torch.sqrt(1 - level**2) * cond + level * torch.randn_like(cond)


def torch_train_step(model, optimizer, target, cond, levels, aug_max_level, clip_norm, autocast):
  """The JAX step in PyTorch: target, cond [B,3,H,W]; levels (gammas, gammas_prev) float32 [T].

  The learning rate is constant (the JAX optimizer warms it up; the work is the same).
  """
  gammas, gammas_prev = levels
  batch = target.shape[0]
  aug_level = None
  if model.cond_augmentation:
    aug_level = torch.rand(batch, device=target.device) * aug_max_level
    cond = _torch_augment(cond, aug_level)
  # SR3's piecewise-continuous noise levels, as `losses.sample_noise_level`.
  t = torch.randint(0, gammas.shape[0], (batch,), device=target.device)
  low = torch.sqrt(gammas[t])
  high = torch.sqrt(gammas_prev[t])
  level = low + (high - low) * torch.rand(batch, device=target.device)
  eps = torch.randn_like(target)
  scale = level[:, None, None, None]
  x_noisy = scale * target + torch.sqrt(1 - scale**2) * eps
  with autocast:
    prediction = model(x_noisy, cond, level, aug_level)
  loss = torch.mean(torch.abs(prediction.float() - eps))
  optimizer.zero_grad(set_to_none=True)
  loss.backward()
  if clip_norm > 0:
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
  optimizer.step()
  return loss


@torch.inference_mode()
def torch_ddpm_sample(model, cond, schedule: dict[str, np.ndarray], aug_sample_level, autocast):
  """`samplers.ddpm_sample` (eps prediction, clipped x0) in PyTorch: cond [B,3,H,W] -> [B,3,H,W].

  `schedule` holds the float32 numpy arrays [T] of the `schedules.Schedule` sampled with.
  """
  batch = cond.shape[0]
  aug_level = None
  if model.cond_augmentation:
    aug_level = torch.full((batch,), aug_sample_level, device=cond.device)
    cond = _torch_augment(cond, aug_level)
  x = torch.randn(batch, IMAGE_CHANNELS, *cond.shape[2:], device=cond.device)
  for t in reversed(range(len(schedule["gammas"]))):
    sqrt_gamma = float(np.sqrt(schedule["gammas"][t]))
    with autocast:
      eps = model(x, cond, torch.full((batch,), sqrt_gamma, device=x.device), aug_level)
    x0 = ((x - np.sqrt(1.0 - sqrt_gamma**2) * eps.float()) / sqrt_gamma).clamp(-1.0, 1.0)
    x = (
        float(schedule["posterior_mean_coef_x0"][t]) * x0
        + float(schedule["posterior_mean_coef_xt"][t]) * x
        + float(np.sqrt(schedule["posterior_variance"][t])) * torch.randn_like(x)
    )
  return x


def _synchronize(device: torch.device) -> None:
  if device.type == "cuda":
    torch.cuda.synchronize(device)


# -------------------------------------------------------------------------------------- timing


def interleaved_times(runners: dict[str, Callable[[], None]], reps: int) -> dict[str, list]:
  """Seconds per call of each blocking runner, `reps` each, alternating and rotating the order."""
  names = list(runners)
  times = {name: [] for name in names}
  for rep in range(reps):
    shift = rep % len(names)
    for name in names[shift:] + names[:shift]:
      start = time.perf_counter()
      runners[name]()
      times[name].append(time.perf_counter() - start)
  return times


def paired_ratio(times: dict[str, list], a: str, b: str) -> float:
  """Median over repetitions of times[a][i] / times[b][i]."""
  return statistics.median(x / y for x, y in zip(times[a], times[b]))


def _ms(seconds: list) -> float:
  return 1e3 * statistics.median(seconds)


def bench(
    config_name: str, config: ml_collections.ConfigDict, size: int, args: argparse.Namespace
) -> dict:
  """Times one (config, image size); returns one result row (see `format_table`)."""
  log = functools.partial(print, file=sys.stderr, flush=True)
  batch_size, device = args.batch, torch.device(args.torch_device)
  dtype = config.model.dtype
  autocast = torch.autocast(device.type, dtype=getattr(torch, dtype), enabled=dtype != "float32")
  diffusion = config.diffusion
  aug_max, aug_sample = diffusion.cond_aug.max_level, diffusion.cond_aug.sample_level
  sample_schedule = sr3_family.schedule_from_config(diffusion.sample_schedule)
  steps = min(args.sample_steps, sample_schedule.num_steps)
  sample_schedule = schedules.respace(sample_schedule, steps)
  train_schedule = sr3_family.schedule_from_config(diffusion.train_schedule)

  data = np.random.default_rng(0).uniform(-1, 1, (2, batch_size, size, size, IMAGE_CHANNELS))
  target, cond = data.astype(np.float32)
  batch = {"target": jnp.asarray(target), "cond": jnp.asarray(cond)}
  to_torch = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(device)
  t_target, t_cond = to_torch(target), to_torch(cond)

  model = sr3_family.make_model(config)
  levels = jnp.ones((batch_size,), jnp.float32)
  params = jax.jit(
      lambda key: model.init(
          key,
          batch["target"],
          batch["cond"],
          levels,
          levels if model.cond_augmentation else None,
          train=False,
      )
  )(jax.random.key(0))["params"]
  twin = torch_twin(config, size).to(device)
  torch_sr3_unet.load_flax_params(twin, params)
  tx, _ = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
  opt = config.optimizer
  make_torch_optimizer = lambda net: torch.optim.AdamW(
      net.parameters(), lr=opt.learning_rate, betas=(opt.b1, opt.b2), weight_decay=opt.weight_decay
  )
  optimizer = make_torch_optimizer(twin)

  # JAX: compile the train step, the sampler and (for FLOPs) the bare forward.
  step_fn = jax.jit(
      functools.partial(jax_train_step, model, tx, train_schedule, aug_max), donate_argnums=(0, 1)
  )
  # Under jit, so every leaf of the optimizer state is its own buffer: eagerly, equal scalars
  # (the step counters) can share one, and donating them both is an error.
  state = {"params": params, "opt": jax.jit(tx.init)(params), "rng": jax.random.key(1)}
  train_compiled, train_compile_s = _timed_compile(
      step_fn, state["params"], state["opt"], batch, state["rng"]
  )
  sample_fn = jax.jit(functools.partial(jax_sample, model, sample_schedule, aug_sample))
  sample_compiled, sample_compile_s = _timed_compile(
      sample_fn, params, batch["cond"], jax.random.key(2)
  )
  forward = jax.jit(
      lambda p, x, c, level: model.apply(
          {"params": p}, x, c, level, levels if model.cond_augmentation else None, train=False
      )
  )
  forward_flops = _flops(forward.lower(params, batch["target"], batch["cond"], levels).compile())
  train_flops = _flops(train_compiled)
  log(
      f"[{config_name} {size}px] JAX compile: train {train_compile_s:.1f} s, "
      f"sample {sample_compile_s:.1f} s"
  )

  def jax_train():
    state["params"], state["opt"], state["rng"], loss = train_compiled(
        state["params"], state["opt"], batch, state["rng"]
    )
    jax.block_until_ready((state["params"], state["opt"], loss))

  train_levels = tuple(
      torch.from_numpy(np.array(a)).to(device)
      for a in (train_schedule.gammas, train_schedule.gammas_prev)
  )

  def torch_trainer(net, net_optimizer):
    def run():
      net.train()
      torch_train_step(
          net, net_optimizer, t_target, t_cond, train_levels, aug_max, opt.grad_clip_norm, autocast
      )
      _synchronize(device)

    return run

  train_runners = {"jax": jax_train, "torch": torch_trainer(twin, optimizer)}
  compile_note = None
  if args.compile:
    compiled_twin = torch.compile(copy.deepcopy(twin))
    compiled_train = torch_trainer(compiled_twin, make_torch_optimizer(compiled_twin))
    start = time.perf_counter()
    try:
      compiled_train()
      train_runners["torch_compile"] = compiled_train
      compile_note = f"torch.compile first call {time.perf_counter() - start:.1f} s"
    except Exception as e:  # pylint: disable=broad-except  # Any failure is reported, not fatal.
      compile_note = f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    log(f"[{config_name} {size}px] {compile_note}")

  sample_np = {
      k: np.asarray(getattr(sample_schedule, k))
      for k in ("gammas", "posterior_mean_coef_x0", "posterior_mean_coef_xt", "posterior_variance")
  }
  sample_key = jax.random.key(3)  # The same noise each call: the work does not depend on it.

  def jax_sampling():
    jax.block_until_ready(sample_compiled(state["params"], batch["cond"], sample_key))

  def torch_sampling():
    twin.eval()
    torch_ddpm_sample(twin, t_cond, sample_np, aug_sample, autocast)
    _synchronize(device)

  sample_runners = {"jax": jax_sampling, "torch": torch_sampling}
  for _ in range(args.warmup):
    for runner in [*train_runners.values(), *sample_runners.values()]:
      runner()
  log(f"[{config_name} {size}px] timing {args.reps} reps")
  train_times = interleaved_times(train_runners, args.reps)
  sample_times = interleaved_times(sample_runners, args.reps)

  row = dict(
      config=config_name,
      size=size,
      batch=batch_size,
      dtype=dtype,
      params_jax=sum(p.size for p in jax.tree.leaves(state["params"])),
      params_torch=sum(p.numel() for p in twin.parameters()),
      jax_ms_per_step=_ms(train_times["jax"]),
      torch_ms_per_step=_ms(train_times["torch"]),
      ratio_step=paired_ratio(train_times, "jax", "torch"),
      sample_steps=steps,
      jax_ms_per_image=_ms(sample_times["jax"]) / batch_size,
      torch_ms_per_image=_ms(sample_times["torch"]) / batch_size,
      ratio_sample=paired_ratio(sample_times, "jax", "torch"),
      gflop_per_step=train_flops / 1e9,
      gflop_forward=forward_flops / 1e9,
      jax_compile_s_train=train_compile_s,
      jax_compile_s_sample=sample_compile_s,
      torch_compile=compile_note,
      times_s={"train": train_times, "sample": sample_times},
  )
  if "torch_compile" in train_times:
    row["torch_compile_ms_per_step"] = _ms(train_times["torch_compile"])
    row["ratio_step_compiled"] = paired_ratio(train_times, "jax", "torch_compile")
  for name in train_runners:
    achieved = train_flops / statistics.median(train_times[name])
    row[f"{name}_gflops_per_s"] = achieved / 1e9
    if args.peak_tflops:
      row[f"{name}_mfu"] = achieved / (args.peak_tflops * 1e12)
  return row


# ------------------------------------------------------------------------------------- output


def format_table(rows: list[dict], peak_tflops: float | None) -> str:
  """Markdown table of `bench` rows."""
  compiled = any("torch_compile_ms_per_step" in r for r in rows)
  columns = [
      ("config", lambda r: r["config"]),
      ("size", lambda r: f"{r['size']}²"),
      ("batch", lambda r: r["batch"]),
      ("params JAX / torch", lambda r: f"{r['params_jax']:,} / {r['params_torch']:,}"),
      ("JAX ms/step", lambda r: f"{r['jax_ms_per_step']:.1f}"),
      ("torch ms/step", lambda r: f"{r['torch_ms_per_step']:.1f}"),
      ("JAX/torch step", lambda r: f"{r['ratio_step']:.2f}"),
  ]
  if compiled:
    columns += [
        (
            "torch.compile ms/step",
            lambda r: f"{r['torch_compile_ms_per_step']:.1f}"
            if "torch_compile_ms_per_step" in r
            else "n/a",
        ),
        (
            "JAX/compiled step",
            lambda r: f"{r['ratio_step_compiled']:.2f}" if "ratio_step_compiled" in r else "n/a",
        ),
    ]
  columns += [
      ("DDPM steps", lambda r: r["sample_steps"]),
      ("JAX ms/image", lambda r: f"{r['jax_ms_per_image']:.1f}"),
      ("torch ms/image", lambda r: f"{r['torch_ms_per_image']:.1f}"),
      ("JAX/torch sample", lambda r: f"{r['ratio_sample']:.2f}"),
      ("GFLOP/step", lambda r: f"{r['gflop_per_step']:.2f}"),
      ("JAX GFLOP/s", lambda r: f"{r['jax_gflops_per_s']:.1f}"),
      ("torch GFLOP/s", lambda r: f"{r['torch_gflops_per_s']:.1f}"),
  ]
  if peak_tflops:
    columns += [
        ("JAX MFU", lambda r: f"{r['jax_mfu']:.1%}"),
        ("torch MFU", lambda r: f"{r['torch_mfu']:.1%}"),
    ]
  columns += [
      (
          "JAX compile s (train/sample)",
          lambda r: f"{r['jax_compile_s_train']:.1f} / {r['jax_compile_s_sample']:.1f}",
      )
  ]
  lines = ["| " + " | ".join(name for name, _ in columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(str(cell(r)) for _, cell in columns) + " |" for r in rows]
  return "\n".join(lines)


def machine() -> dict:
  """Versions and devices the numbers were taken on."""
  return dict(
      platform=platform.platform(),
      cpu_count=os.cpu_count(),
      python=platform.python_version(),
      jax=jax.__version__,
      jax_backend=jax.default_backend(),
      jax_device=jax.devices()[0].device_kind,
      torch=torch.__version__,
      torch_threads=torch.get_num_threads(),
      omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
      xla_flags=os.environ.get("XLA_FLAGS"),
      torch_cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
  )


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument(
      "--config",
      default="default",
      help=f"comma-separated presets from {CONFIG_NAMES} (paper: configs/"
      "sr3_paper.py, skipped when absent)",
  )
  parser.add_argument(
      "--stage",
      default=None,
      help="stage of a staged preset (paper: sr3_128, sr3_256, sr3_512); "
      "default: the config's own `stage`",
  )
  parser.add_argument(
      "--dtype",
      default=None,
      choices=("float32", "bfloat16"),
      help="compute dtype for both frameworks (default: the config's; "
      "torch runs bfloat16 under torch.autocast)",
  )
  parser.add_argument("--sizes", default="32,64", help="comma-separated image sides (pixels)")
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--reps", type=int, default=5, help="timed repetitions per framework")
  parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
  parser.add_argument(
      "--sample-steps",
      type=int,
      default=10,
      help="DDPM steps (capped at the config sampling schedule length)",
  )
  parser.add_argument("--compile", action="store_true", help="also time torch.compile")
  parser.add_argument(
      "--peak-tflops",
      type=float,
      default=None,
      help="peak TFLOP/s of the device, for the MFU columns",
  )
  parser.add_argument("--torch-device", default="cuda" if torch.cuda.is_available() else "cpu")
  parser.add_argument(
      "--torch-threads",
      type=int,
      default=None,
      help="torch.set_num_threads (default: torch's own, one per core)",
  )
  parser.add_argument("--json", default=None, help="also write the results to this file")
  cpu_kernels.add_argument(parser)
  args = parser.parse_args(argv)
  if args.batch < 1 or args.reps < 1 or args.sample_steps < 1 or args.warmup < 0:
    parser.error("--batch, --reps and --sample-steps must be >= 1, --warmup >= 0")
  return args


def main(argv=None) -> None:
  args = parse_args(argv)
  cli.use_onednn_on_cpu(args.cpu_onednn)
  if args.torch_threads:
    torch.set_num_threads(args.torch_threads)
  sizes = [int(s) for s in args.sizes.split(",")]
  rows, notes = [], []
  for name in args.config.split(","):
    config = load_config(name)
    if config is None:
      notes.append(f"{name}: configs/sr3_paper.py does not exist yet; preset skipped")
      continue
    name, config = resolve_stage(name, config, args.stage)
    if args.dtype:
      config.model.dtype = args.dtype
    factor = 2 ** (len(config.model.ch_mult) - 1)
    for size in sizes:
      if size % factor:
        notes.append(f"{name} {size}px: size not divisible by {factor}; skipped")
        continue
      rows.append(bench(name, config, size, args))
  info = machine()
  print(format_table(rows, args.peak_tflops) if rows else "no results")
  print(
      f"\nMachine: {info['platform']}, {info['cpu_count']} CPUs, JAX {info['jax']} on "
      f"{info['jax_backend']} ({info['jax_device']}), torch {info['torch']} on "
      f"{args.torch_device} ({info['torch_threads']} threads, "
      f"OMP_WAIT_POLICY={info['omp_wait_policy'] or 'unset'}); "
      f"XLA_FLAGS={info['xla_flags'] or 'unset'}."
  )
  print(
      "Ratios: median over repetitions of paired JAX/torch times (< 1: JAX faster). "
      "GFLOP/step: XLA cost analysis of the compiled JAX train step (forward + backward + "
      "optimizer), used for both frameworks. MFU = (GFLOP/step / s per step) / peak"
      + (
          f" ({args.peak_tflops} TFLOP/s given)."
          if args.peak_tflops
          else "; pass --peak-tflops to print it."
      )
  )
  for note in notes + [
      f"{r['config']} {r['size']}px: {r['torch_compile']}" for r in rows if r["torch_compile"]
  ]:
    print(f"Note: {note}")
  if args.json:
    Path(args.json).write_text(
        json.dumps(
            dict(argv=sys.argv, args=vars(args), machine=info, rows=rows, notes=notes), indent=2
        )
    )


if __name__ == "__main__":
  main()
