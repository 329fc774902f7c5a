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
    "env, mode, has_amx, xla_flags",
    [
        ({}, "auto", True, "--xla_cpu_use_onednn=true"),
        ({}, "auto", False, None),
        ({}, "true", False, "--xla_cpu_use_onednn=true"),
        ({}, "false", True, None),
        (
            {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
            "auto",
            True,
            "--xla_force_host_platform_device_count=8 --xla_cpu_use_onednn=true",
        ),
        ({"XLA_FLAGS": "--xla_cpu_use_onednn=false"}, "true", True, "--xla_cpu_use_onednn=false"),
        ({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}, "false", True, "--xla_dump_to=/tmp/x"),
    ],
)
def test_onednn_follows_the_mode_unless_xla_flags_name_it(env, mode, has_amx, xla_flags):
  cli.use_onednn_on_cpu(mode, env, has_amx=lambda: has_amx)
  assert env.get("XLA_FLAGS") == xla_flags


def test_a_bad_onednn_mode_is_named():
  with pytest.raises(ValueError, match="--cpu_onednn='yes'"):
    cli.use_onednn_on_cpu("yes", {})


def test_amx_is_read_from_the_cpu_flags(tmp_path):
  intel, amd = tmp_path / "intel", tmp_path / "amd"
  intel.write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8\n")
  amd.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512f avx512_bf16\n")
  assert cli.cpu_has_amx(str(intel)) and not cli.cpu_has_amx(str(amd))
  assert not cli.cpu_has_amx(str(tmp_path / "missing"))


def test_the_tests_run_with_the_entry_points_cpu_kernels():
  # conftest.py chooses as the entry points do ("auto"), before JAX starts; subprocesses inherit.
  assert ("--xla_cpu_use_onednn=true" in os.environ["XLA_FLAGS"].split()) == cli.cpu_has_amx()
