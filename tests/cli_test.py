"""Entry-point set-up shared by main and generate."""

import os

import jax
import pytest

from posergen_jax import cli


def test_matmul_precision_is_set_and_checked():
  before = jax.config.jax_default_matmul_precision
  try:
    cli.use_matmul_precision("highest")
    assert jax.config.jax_default_matmul_precision == "highest"
  finally:
    jax.config.update("jax_default_matmul_precision", before)
  with pytest.raises(ValueError, match="'fast' is not one of"):
    cli.use_matmul_precision("fast")


@pytest.mark.parametrize(
    "env, enabled, xla_flags",
    [
        ({}, True, "--xla_cpu_use_onednn=true"),
        (
            {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
            True,
            "--xla_force_host_platform_device_count=8 --xla_cpu_use_onednn=true",
        ),
        ({"XLA_FLAGS": "--xla_cpu_use_onednn=false"}, True, "--xla_cpu_use_onednn=false"),
        ({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}, False, "--xla_dump_to=/tmp/x"),
        ({}, False, None),
    ],
)
def test_onednn_is_added_unless_xla_flags_set_it_or_it_is_turned_off(env, enabled, xla_flags):
  cli.use_onednn_on_cpu(enabled, env)
  assert env.get("XLA_FLAGS") == xla_flags


def test_the_tests_run_with_onednn():
  # conftest.py sets it before JAX starts, so the entry-point subprocesses inherit it.
  assert "--xla_cpu_use_onednn=true" in os.environ["XLA_FLAGS"].split()
