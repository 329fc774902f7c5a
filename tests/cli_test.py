"""Entry-point set-up shared by main and generate."""

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
