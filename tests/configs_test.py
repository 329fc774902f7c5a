"""Every config file builds with every argument it accepts and names itself when given another;
each SR3 stage's model initialises (abstractly) at its data sizes."""

import functools
import importlib
import itertools
import pathlib
import re

import jax
import jax.numpy as jnp
import pytest

from posergen_jax.config import stages
from posergen_jax.configs import sr3, sr3_cascade, sr3_paper
from posergen_jax.families import sr3 as sr3_family
from tests.helpers import param_count

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
# Every config file, by module name (common.py holds the shared helpers).
CONFIG_FILES = sorted(
    path.stem for path in CONFIG_DIR.glob("*.py") if path.name not in ("__init__.py", "common.py")
)


def _module(name):
  return importlib.import_module(f"posergen_jax.configs.{name}")


def _valid_arguments(name):
  """None, each size, each variant and each size,variant pair the file declares."""
  module = _module(name)
  sizes, variants = getattr(module, "SIZES", ()), getattr(module, "VARIANTS", ())
  return [
      ",".join(part for part in pair if part) or None
      for pair in itertools.product((None, *sizes), (None, *variants))
  ]


def test_every_config_file_declares_its_arguments():
  assert len(CONFIG_FILES) >= 9 and "sr3" in CONFIG_FILES
  for name in CONFIG_FILES:
    module = _module(name)
    assert isinstance(module.SIZES, tuple) and isinstance(module.VARIANTS, tuple), name
    assert "quick" in module.SIZES, name  # The size the tests and smoke runs use.


@pytest.mark.parametrize(
    "name, arg", [(name, arg) for name in CONFIG_FILES for arg in _valid_arguments(name)], ids=str
)
def test_every_config_file_builds_with_every_argument(name, arg):
  config = _module(name).get_config(arg)
  config.lock()
  assert "family" in config or "stage_order" in config
  if stages.is_staged(config):
    assert config.stage in config.stage_order
    for stage in config.stage_order:
      stage_config = stages.stage_config(config, stage)
      assert stage_config.is_locked and "family" in stage_config, stage


@pytest.mark.parametrize("name", CONFIG_FILES)
@pytest.mark.parametrize("arg", ["no_such_size", "quick,quick"])
def test_unknown_arguments_raise_naming_the_file(name, arg):
  message = re.escape(f"config argument {arg!r} for configs/{name}.py")
  with pytest.raises(ValueError, match=message) as error:
    _module(name).get_config(arg)
  assert str(_module(name).SIZES) in str(error.value)  # The valid arguments are named too.


def _stage_configs(module, arg):
  config = module.get_config(arg)
  if not stages.is_staged(config):
    return {"": config}
  return {name: stages.stage_config(config, name) for name in config.stage_order}


def _param_count(config):
  """Parameters of the SR3 U-Net `config` describes, from shapes only."""
  model = sr3_family.make_model(config)
  size = config.data.hr_size
  image = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  level = jax.ShapeDtypeStruct((1,), jnp.float32)
  aug = level if config.diffusion.cond_aug.max_level > 0 else None
  params = jax.eval_shape(
      functools.partial(model.init, train=False), jax.random.key(0), image, image, level, aug
  )["params"]
  return param_count(params)


# configs/sr3_paper.py at its own size: test_paper_scale_parameter_counts_are_the_documented_ones.
@pytest.mark.parametrize(
    "module, arg",
    [
        (sr3, None),
        (sr3, "quick"),
        (sr3_cascade, None),
        (sr3_cascade, "quick"),
        (sr3_paper, "quick"),
    ],
)
def test_every_stage_builds_at_its_sizes(module, arg):
  for config in _stage_configs(module, arg).values():
    assert config.data.hr_size % config.data.lr_size == 0
    assert _param_count(config) > 0


def test_paper_scale_parameter_counts_are_the_documented_ones():
  counts = {
      name: round(_param_count(config) / 1e6, 1)
      for name, config in _stage_configs(sr3_paper, None).items()
  }
  assert counts == {"sr3_128": 574.8, "sr3_256": 633.6, "sr3_512": 638.2}
  assert all(f"{name} {count}M" in sr3_paper.__doc__ for name, count in counts.items())
