"""What the command-line entry points (main, generate) share: flag parsing and JAX set-up."""

from collections.abc import Callable, MutableMapping
import os
import sys

from absl import flags
import jax
import tensorflow as tf

FLAGS = flags.FLAGS
# JAX's own variable (which the launch scripts set) wins over the project's default folder.
DEFAULT_COMPILATION_CACHE = (
    os.environ.get("JAX_COMPILATION_CACHE_DIR") or "~/.cache/posergen_jax/xla"
)


# --matmul_precision values: JAX's names for float32 matmul/conv precision on GPU/TPU ("default"
# lets bf16 passes through on TPU and TF32 on Ampere+ GPUs; "highest" is full float32).
MATMUL_PRECISIONS = ("default", "high", "highest")


# XLA_FLAGS option that sends XLA:CPU's convolutions and matmuls through oneDNN. It speeds up the
# SR3 train step on a CPU with Intel AMX and not on an AMD EPYC without AMX (docs/results.md,
# section "CPU kernels: XLA's own or oneDNN"), so "auto" turns it on where the CPU has AMX.
# XLA:GPU and XLA:TPU ignore it.
ONEDNN_OPTION = "xla_cpu_use_onednn"
ONEDNN_MODES = ("auto", "true", "false")
ONEDNN_HELP = (
    "On CPU, run convolutions and matmuls through oneDNN (--xla_cpu_use_onednn=true): auto "
    "(on where the CPU has Intel AMX), true or false (XLA's own kernels). "
    "XLA_FLAGS naming xla_cpu_use_onednn wins."
)


def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
  """Whether the CPU has Intel AMX tiles (the `amx_tile` flag of Linux's cpuinfo)."""
  try:
    with open(cpuinfo, encoding="utf-8") as f:
      return any(line.startswith("flags") and "amx_tile" in line.split() for line in f)
  except OSError:  # Not Linux, or no cpuinfo.
    return False


def use_onednn_on_cpu(
    mode: str = "auto",
    env: MutableMapping[str, str] = os.environ,
    has_amx: Callable[[], bool] = cpu_has_amx,
) -> None:
  """Adds `--xla_cpu_use_onednn=true` to `env["XLA_FLAGS"]` for mode "true", and for "auto" on
  a CPU with AMX; leaves XLA_FLAGS as it is otherwise, or when it already names the option.

  Call before JAX starts a backend (its first device or array): XLA reads XLA_FLAGS then.
  """
  if mode not in ONEDNN_MODES:
    raise ValueError(f"--cpu_onednn={mode!r} is not one of {ONEDNN_MODES}.")
  flags_now = env.get("XLA_FLAGS", "")
  if ONEDNN_OPTION in flags_now or mode == "false" or (mode == "auto" and not has_amx()):
    return
  env["XLA_FLAGS"] = f"{flags_now} --{ONEDNN_OPTION}=true".strip()


def use_matmul_precision(precision: str) -> None:
  """Sets JAX's default float32 matmul precision ('default' | 'high' | 'highest')."""
  if precision not in MATMUL_PRECISIONS:
    raise ValueError(f"matmul precision {precision!r} is not one of {MATMUL_PRECISIONS}.")
  jax.config.update("jax_default_matmul_precision", precision)


def use_compilation_cache(path: str) -> None:
  """Points JAX's persistent compilation cache at `path` (`~` expanded); '' leaves it off."""
  if path:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))


def keep_tensorflow_off_accelerators() -> None:
  """tf.data only: hide GPUs and TPUs from TensorFlow so JAX has them."""
  tf.config.set_visible_devices([], "GPU")
  tf.config.set_visible_devices([], "TPU")


def define_jax_flags() -> None:
  """Defines the JAX set-up flags every entry point takes: --compilation_cache (the persistent
  XLA cache folder; '' turns it off), --matmul_precision (jax_default_matmul_precision) and
  --cpu_onednn (XLA:CPU's oneDNN kernels)."""
  flags.DEFINE_string(
      "compilation_cache",
      DEFAULT_COMPILATION_CACHE,
      "Persistent XLA compilation cache, reused by later runs ('' turns it off); "
      "defaults to $JAX_COMPILATION_CACHE_DIR when that is set.",
  )
  flags.DEFINE_enum(
      "matmul_precision",
      "default",
      MATMUL_PRECISIONS,
      "Precision of float32 matmuls/convs on GPU/TPU: default (fastest: bf16 "
      "passes on TPU, TF32 on GPU), high, or highest (full float32).",
  )
  flags.DEFINE_enum("cpu_onednn", "auto", ONEDNN_MODES, ONEDNN_HELP)


def multihost_arguments(env=os.environ) -> dict[str, int] | None:
  """`jax.distributed.initialize` arguments for a multi-process launch, or None for one process.

  Multi-process means POSERGEN_DISTRIBUTED=1 (JAX detects the cluster: Cloud TPU multislice),
  JAX_COORDINATOR_ADDRESS is set (launch/ scripts; JAX_NUM_PROCESSES and
  JAX_PROCESS_ID, when set, are passed on, otherwise JAX detects them, e.g. on TPU VMs), or a
  SLURM step with more than one task (JAX reads SLURM's variables). A lone SLURM allocation shell
  (SLURM_JOB_ID but one task) is a single process.
  """
  if env.get("POSERGEN_DISTRIBUTED") == "1":  # launch/tpu_vm.sh on multislice: JAX detects all.
    return {}
  if "JAX_COORDINATOR_ADDRESS" in env:
    names = {"num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}
    return {arg: int(env[name]) for arg, name in names.items() if name in env}
  if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
    return {}
  return None


def set_up_jax() -> None:
  """After flag parsing, before JAX starts a backend: oneDNN on CPU, TensorFlow off the
  accelerators, the flags' cache and precision, then `jax.distributed` for a multi-process
  launch."""
  use_onednn_on_cpu(FLAGS.cpu_onednn)
  keep_tensorflow_off_accelerators()
  use_compilation_cache(FLAGS.compilation_cache)
  use_matmul_precision(FLAGS.matmul_precision)
  distributed = multihost_arguments()
  if distributed is not None:
    # CPU processes (tests, CPU clusters) talk through gloo; accelerators use their own links.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**distributed)


def _one_line(text: str) -> str:
  return " ".join(text.split())


def require_text(*names: str) -> None:
  """Makes flags `names` (paths) fail at parsing when given as empty or blank strings."""
  for name in names:
    flags.register_validator(
        name, lambda value: value is None or bool(value.strip()), f"--{name} must name a path"
    )


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing: a bad flag, a bad `--config.*` override, a config file that does not
  load or an argument that is not a flag exits with one line; returns `[program]`."""
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    message = str(e)
    if "Traceback (most recent call last)" in message:  # The config file's get_config raised.
      flag = message.partition(": Error whilst parsing")[0]
      message = f"{flag}: {message.strip().splitlines()[-1]}"
    sys.exit(f"error: {_one_line(message)} (pass --help for usage)")
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    # ml_collections reports unknown keys (with the closest match) this way.
    message = str(e.args[0] if e.args else e)
    if len(message) > 1 and message[0] == message[-1] == "'":  # a repr()'d KeyError
      message = message[1:-1].replace("\\n", " ").replace("\\'", "'")
    sys.exit(f"error: invalid config override: {_one_line(message)}")
  except Exception as e:  # noqa: BLE001  Running the config file raised (the user's code).
    sys.exit(f"error: the --config file raised {type(e).__name__}: {_one_line(str(e))}")
  try:  # ml_collections defers a config file's load failure to the config's first use.
    _ = "config" in FLAGS and FLAGS.config is not None and "stages" in FLAGS.config
  except OSError as e:
    sys.exit(f"error: --config: {_one_line(str(e))}")
  if len(rest) > 1:
    sys.exit(f"error: unexpected arguments {rest[1:]}: every option is a --flag=value.")
  return rest
