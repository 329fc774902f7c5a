"""Every field of every config file is checked before any work: given 0, -1, NaN, inf, None and a
value of the wrong type, `registry.check_config` accepts it only where this file's own table says
the field allows it, and otherwise fails with one line naming the field, the value and what is
allowed; fields that must agree with each other are checked too."""

import math

import ml_collections
import pytest

from posergen_jax.config import stages
from posergen_jax.configs import gan_sr3, sr3, sr3_cascade
from posergen_jax.families import registry
from posergen_jax.io import errors
from tests.configs_test import CONFIG_FILES, _module, _valid_arguments

NUM_DEVICES = 8  # What the tests simulate (conftest.py).
# Fields (optimizer.gen.X and optimizer.disc.X as optimizer.X) where 0 means something.
ZERO_ALLOWED = {
    "seed",
    "optimizer.learning_rate",  # Freezes the network.
    "optimizer.b1",
    "optimizer.b2",
    "optimizer.weight_decay",
    "optimizer.grad_clip_norm",  # <= 0: no clipping.
    "optimizer.warmup_steps",
    "model.dropout",
    "data.dead_leaves",  # Posters only.
    "diffusion.ddim_eta",
    "diffusion.cond_aug.max_level",  # Off.
    "diffusion.cond_aug.sample_level",
    "guidance.drop_prob",
    "guidance.scale",  # Unconditional samples.
    "loss.gp_weight",
    "loss.mismatch_weight",  # The critic sees no mismatched captions.
    "model.truncation",  # Untruncated noise.
    "loss.magp_weight",
    "loss.contrastive_weight",  # No contrastive term.
    "loss.kl_weight",
    "loss.uncond_weight",
    "loss.fidelity_weight",
    "loss.color_weight",
    "ema.decay",  # EMA = the latest parameters.
}
MINUS_ONE_ALLOWED = {"optimizer.grad_clip_norm"}
NONE_ALLOWED = {
    "data.data_dir",
    "data.manual_dir",
    "diffusion.sample_steps",
    "model.vgg_layers",
    "evals.fid_reference",
    "evals.inception_classifier",
    "evals.r_precision.encoder_workdir",
    "evals.r_precision.language",
    "text.zh_student",  # The tower reads every caption.
}


def _expected_to_pass(path: str, value) -> bool:
  path = path.replace("optimizer.gen.", "optimizer.").replace("optimizer.disc.", "optimizer.")
  if value is None:
    return path in NONE_ALLOWED
  if isinstance(value, float) and not math.isfinite(value):
    return False
  if isinstance(value, (int, float)) and not isinstance(value, bool):  # 0 or -1 (maybe as floats)
    return (value == 0 and path in ZERO_ALLOWED) or (value == -1 and path in MINUS_ONE_ALLOWED)
  return False  # The wrong type.


def _wrong_type(value):
  """A value of another type than `value`: a string for numbers, tuples and bools, a tuple for
  strings and unset optional fields (paths or counts)."""
  return ("x",) if value is None or isinstance(value, str) else "1"


def _single_configs():
  """pytest.param(label, config) of every config file's default and quick size; each stage of a
  staged config as a standalone config."""
  for name in CONFIG_FILES:
    for arg in (None, "quick"):
      config = _module(name).get_config(arg)
      if not stages.is_staged(config):
        yield pytest.param(f"{name}:{arg}", config, id=f"{name}:{arg}")
        continue
      for stage in config.stage_order:
        fields = stages.own_fields(stages.stage_config(config, stage))
        label = f"{name}:{arg}/{stage}"
        yield pytest.param(label, ml_collections.ConfigDict(fields), id=label)


def _section_and_leaf(config, path):
  *sections, leaf = path.split(".")
  for name in sections:
    config = config[name]
  return config, leaf


@pytest.mark.parametrize("label, config", list(_single_configs()))
def test_every_field_given_bad_values_fails_naming_it_or_is_allowed(label, config):
  registry.check_config(config, NUM_DEVICES)  # As shipped: valid.
  checked = 0
  for path, original in list(stages.leaves(config)):
    section, leaf = _section_and_leaf(config, path)
    for value in (0, -1, math.nan, math.inf, None, _wrong_type(original)):
      with config.ignore_type():
        section[leaf] = value
      value = section[leaf]  # As a float field holds it (-1 -> -1.0).
      try:
        registry.check_config(config, NUM_DEVICES)
        error = None
      except errors.ConfigError as e:
        error = str(e)
      finally:
        with config.ignore_type():
          section[leaf] = original
      if _expected_to_pass(path, value):
        assert error is None, (label, path, value, error)
      else:
        assert error is not None, (label, path, value, "accepted")
        assert "\n" not in error and error.startswith(f"config.{path}={value!r}: must be "), error
      checked += 1
  assert checked >= 6 * 40, label  # Every field of the config, six values each.


@pytest.mark.parametrize(
    "name, arg", [(n, a) for n in CONFIG_FILES for a in _valid_arguments(n)], ids=str
)
@pytest.mark.parametrize("num_devices", [1, NUM_DEVICES])
def test_every_config_file_passes_as_shipped(name, arg, num_devices):
  registry.check_config(_module(name).get_config(arg), num_devices)


def _fails(config, message, num_devices=NUM_DEVICES):
  with pytest.raises(errors.ConfigError) as error:
    registry.check_config(config, num_devices)
  assert str(error.value) == message


def test_fields_that_must_agree():
  config = sr3.get_config("quick")
  config.diffusion.train_schedule.start = 0.5
  _fails(
      config,
      "config.diffusion.train_schedule.start=0.5: must be <= "
      "config.diffusion.train_schedule.end=0.01.",
  )
  config = sr3.get_config("quick")
  config.diffusion.update(sampler="ddpm", sample_steps=6)
  _fails(
      config,
      "config.diffusion.sample_steps=6: must be <= config.diffusion.sample_schedule.num_steps=5 "
      "(the sampler's schedule).",
  )
  config.diffusion.sampler = "ddim"  # DDIM respaces the 100-step training schedule.
  registry.check_config(config, NUM_DEVICES)
  config = sr3.get_config("quick")
  config.data.lr_size = 32
  _fails(config, "config.data.lr_size=32: must be < config.data.hr_size=32.")
  config = sr3.get_config("quick")
  config.model.num_groups = 3
  _fails(config, "config.model.num_groups=3: must be a divisor of every level's width [16, 32].")
  config = sr3.get_config("quick")
  config.data.hr_size = 33
  _fails(config, "config.data.hr_size=33: must be a multiple of 2 (the U-Net halves it 1 times).")


def test_batches_must_split_over_the_data_parallel_devices():
  config = sr3.get_config("quick")
  config.train.batch_size = 12
  registry.check_config(config, 4)
  _fails(config, "config.train.batch_size=12: must be a multiple of the 8 data-parallel devices.")
  config.mesh = (("data", 4), ("model", 2))  # 4 data-parallel shards of 8 devices.
  registry.check_config(config, 8)
  config.mesh = (("data", 3),)
  _fails(config, "config.mesh=[('data', 3)] has 3 devices, but 8 are present.")


def test_a_field_no_family_reads_is_named():
  config = sr3.get_config("quick")
  config.train.batch_sise = 8
  _fails(
      config,
      "config.train.batch_sise: no family reads this field (a typo, or a field of another "
      "config file?).",
  )


def test_a_stage_field_is_named_where_it_is_set():
  config = sr3_cascade.get_config("quick")
  config.stages.sr3_256.train.batch_size = 0
  _fails(config, "config.stages.sr3_256.train.batch_size=0: must be an integer >= 1.")
  config = sr3_cascade.get_config("quick")
  config.train.batch_size = -1  # Shared by the stages that do not set their own.
  _fails(config, "config.train.batch_size=-1: must be an integer >= 1.")


def test_each_stage_takes_the_images_the_stage_before_it_generates():
  config = gan_sr3.get_config("quick")
  config.stages.sr3_128.data.lr_size = 4  # The WGAN generates 8×8.
  _fails(
      config,
      "config.stages.sr3_128.data.lr_size=4: must be 8, the side of the images stage 'wgan' "
      "generates.",
  )
  config = sr3_cascade.get_config("quick")
  config.stage = "sr3_1024"
  with pytest.raises(errors.ConfigError, match="config.stage='sr3_1024' is not a stage"):
    registry.check_config(config, NUM_DEVICES)
