"""Every config file builds: each stage's model initialises (abstractly) at its data sizes."""
import functools

import jax
import jax.numpy as jnp
import pytest

from configs import sr3, sr3_cascade, sr3_paper
from posergen_jax.models.utils import param_count
from posergen_jax.training import stages
from posergen_jax.training import sr3 as sr3_family


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
  params = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0),
                          image, image, level, aug)["params"]
  return param_count(params)


@pytest.mark.parametrize("module", [sr3, sr3_cascade, sr3_paper])
@pytest.mark.parametrize("arg", [None, "quick"])
def test_every_stage_builds_at_its_sizes(module, arg):
  for config in _stage_configs(module, arg).values():
    assert config.data.hr_size % config.data.lr_size == 0
    assert _param_count(config) > 0


def test_paper_scale_parameter_counts_are_the_documented_ones():
  counts = {name: round(_param_count(config) / 1e6, 1)
            for name, config in _stage_configs(sr3_paper, None).items()}
  assert counts == {"sr3_128": 574.8, "sr3_256": 633.6, "sr3_512": 638.2}
  assert all(f"{name} {count}M" in sr3_paper.__doc__ for name, count in counts.items())
