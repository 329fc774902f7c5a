"""Test set-up: 8 simulated CPU devices and the entry points' CPU kernels, fixed before any JAX
backend starts."""

import fcntl
import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Both xdist workers load libtpu (tpu_compile_test.py): without this the second finds it locked.
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
# Fast compiles for tiny test models; set in the environment so that the
# entry-point subprocesses some tests start run under the same flags.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
# One persistent compilation cache for the whole run (both xdist workers and the entry-point
# subprocesses): the quick configs' steps are compiled once, not once per test. Every program
# is cached, however fast it compiled.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "posergen_jax_tests_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402  (must come after XLA_FLAGS)

from posergen_jax import cli  # noqa: E402

# The entry points' choice of CPU kernels (oneDNN where the CPU has AMX), for the tests and the
# subprocesses they start alike.
cli.use_onednn_on_cpu()
jax.config.update("jax_platforms", "cpu")

import pytest  # noqa: E402


def _built_once(tmp_path_factory, name: str, build) -> pathlib.Path:
  """The folder `name` that `build(folder)` fills, built by the first xdist worker that asks for
  it while the others wait, then shared by all of them (its users only read it)."""
  root = tmp_path_factory.getbasetemp()
  if "PYTEST_XDIST_WORKER" in os.environ:
    root = root.parent  # The run's folder, above each worker's own.
  folder = root / name
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (root / f"{name}.built").exists():
      shutil.rmtree(folder, ignore_errors=True)
      folder.mkdir()
      build(folder)
      (root / f"{name}.built").touch()
  return folder


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the built `synthetic_posters/tiny` dataset."""
  import tensorflow_datasets as tfds

  import posergen_jax.data.synthetic_posters  # noqa: F401  (registers the builder)

  def build(data_dir):
    tfds.builder("synthetic_posters/tiny", data_dir=data_dir).download_and_prepare()

  return str(_built_once(tmp_path_factory, "tfds", build))


@pytest.fixture
def quick_config(tiny_data_dir):
  """configs/sr3.py:quick reading the session's tiny dataset."""
  from posergen_jax.configs import sr3

  config = sr3.get_config("quick")
  config.data.data_dir = tiny_data_dir
  return config


@pytest.fixture(scope="session")
def gan_sr3_trained(tiny_data_dir, tmp_path_factory):
  """(configs/gan_sr3.py:quick, a workdir with each of its stages trained for one step)."""
  from posergen_jax.configs import gan_sr3
  from tests import helpers

  config = helpers.quick_staged_config(gan_sr3.get_config("quick"), tiny_data_dir)
  workdir = _built_once(
      tmp_path_factory,
      "gan_sr3",
      lambda folder: helpers.train_stages(config, folder, config.stage_order),
  )
  return config, workdir
