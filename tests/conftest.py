"""Test set-up: 8 simulated CPU devices, fixed before any JAX backend starts."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Fast compiles for tiny test models; set in the environment so that the
# entry-point subprocesses some tests start run under the same flags.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")

import jax  # noqa: E402  (must come after XLA_FLAGS)

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
  from configs import sr3

  config = sr3.get_config("quick")
  config.data.data_dir = tiny_data_dir
  return config
