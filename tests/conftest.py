"""Test set-up: 8 simulated CPU devices and the entry points' CPU kernels, fixed before any JAX
backend starts."""

import os
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


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the built `synthetic_posters/tiny` dataset."""
  import tensorflow_datasets as tfds

  import posergen_jax.data.synthetic_posters  # noqa: F401  (registers the builder)

  data_dir = tmp_path_factory.mktemp("tfds")
  tfds.builder("synthetic_posters/tiny", data_dir=data_dir).download_and_prepare()
  return str(data_dir)


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
  workdir = tmp_path_factory.mktemp("gan_sr3")
  helpers.train_stages(config, workdir, config.stage_order)
  return config, workdir
