"""Staged configs and the SR3 cascade: stage selection, chaining, and sampling end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from posergen_jax import main
from posergen_jax.config import stages
from posergen_jax.configs import sr3_cascade
from posergen_jax.data import preprocess
from posergen_jax.diffusion import cascade
from posergen_jax.families import sr3


def _quick_cascade(tiny_data_dir):
  config = sr3_cascade.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.train.num_steps = 1
  config.train.sample_every = 1000
  config.evals.after_train = False
  return config


def test_stage_config_applies_the_stage_entry_over_the_shared_fields():
  config = sr3_cascade.get_config()
  config.train.num_steps = 7  # a shared override reaches both stages
  first, second = (stages.stage_config(config, name) for name in config.stage_order)
  assert (first.data.lr_size, first.data.hr_size, second.data.lr_size, second.data.hr_size) == (
      64,
      128,
      128,
      256,
  )
  assert first.stage == "sr3_128" and second.diffusion.cond_aug.max_level > 0
  assert first.diffusion.cond_aug.max_level == 0 and first.train.num_steps == 7
  assert second.train.num_steps == 7 and second.model.ch == config.model.ch
  with pytest.raises(AttributeError):
    second.no_such_field = 1  # locked, like a main-module config


def test_unknown_stage_is_named_with_the_valid_ones():
  with pytest.raises(stages.StageError, match="config.stage='sr3_1024'.*sr3_128, sr3_256"):
    stages.stage_config(sr3_cascade.get_config(), "sr3_1024")


def test_upsample_matches_the_input_pipeline_conditioning():
  """The cascade's bicubic upsampling is the one the stages were trained on (tf.image, bicubic)."""
  hr = tf.constant(np.random.default_rng(0).uniform(-1, 1, (32, 32, 3)), tf.float32)
  pair = preprocess.make_sr_pair(hr, 16)
  ours = cascade.upsample(jnp.asarray(pair["lowres"].numpy())[None], 32)[0]
  np.testing.assert_allclose(ours, pair["cond"].numpy(), atol=2e-3)


def test_chain_feeds_each_stage_the_upsampled_previous_output_and_the_upsampled_input():
  seen = []

  def stage(offset):
    def sample(cond, colour_reference, rng):
      seen.append((cond.shape, colour_reference, rng))
      return jnp.clip(cond + offset, -1, 1)

    return sample

  lowres = jnp.linspace(-0.5, 0.5, 2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
  outputs = cascade.chain([stage(0.1), stage(0.2)], [8, 16], lowres, jax.random.key(0))
  assert [o.shape for o in outputs] == [(2, 8, 8, 3), (2, 16, 16, 3)]
  np.testing.assert_allclose(outputs[-1], cascade.upsample(outputs[0], 16) + 0.2, atol=1e-6)
  assert [shape for shape, _, _ in seen] == [(2, 8, 8, 3), (2, 16, 16, 3)]
  for (_, reference, _), size in zip(seen, [8, 16]):
    np.testing.assert_array_equal(reference, cascade.upsample(lowres, size))
  assert not jnp.array_equal(jax.random.key_data(seen[0][2]), jax.random.key_data(seen[1][2]))


def test_sample_names_an_untrained_stage_then_chains_the_trained_ones(
    gan_sr3_trained, tiny_data_dir, tmp_path
):
  """--mode=sample of the quick cascade on the SR stages of the trained quick GAN_SR3 workdir
  (the same two stage configs), linked into a workdir of its own."""
  _, trained = gan_sr3_trained
  config = _quick_cascade(tiny_data_dir)
  workdir = tmp_path / "cascade"
  workdir.mkdir()
  (workdir / "sr3_128").symlink_to(trained / "sr3_128")
  with pytest.raises(
      FileNotFoundError, match="Stage 'sr3_256' has no checkpoint.*--config.stage=sr3_256"
  ):
    main.run_mode("sample", config, str(workdir))

  (workdir / "sr3_256").symlink_to(trained / "sr3_256")
  report = main.run_mode("sample", config, str(workdir))
  assert report["steps"] == {"sr3_128": 1, "sr3_256": 1}
  assert report == json.loads((workdir / "cascade.json").read_text())
  assert np.isfinite(report["cascade_psnr"]) and np.isfinite(report["bicubic_psnr"])
  assert report["cascade_colour_error"] >= 0 and report["bicubic_colour_error"] >= 0
  grid = np.asarray(Image.open(workdir / "samples" / "cascade.png"))
  grid_size = config.evals.grid_size
  assert grid.shape == (grid_size * 34 + 2, 4 * 34 + 2, 3)  # 4 columns of 32 px, 2 px padding


def test_default_cascade_turns_64_into_256_with_each_stage_own_settings():
  """sr3_cascade's default stages, freshly initialised (untrained), chained on a 64×64 input."""
  config = sr3_cascade.get_config()
  config.diffusion.sample_steps = 2  # Two network calls per stage keep this a shape check.
  samplers, sizes = [], []
  for name in config.stage_order:
    stage = stages.stage_config(config, name)
    family = sr3.make_family(stage)
    size = stage.data.hr_size
    example = {"target": jnp.zeros((1, size, size, 3)), "cond": jnp.zeros((1, size, size, 3))}
    params = jax.jit(family.init_state)(jax.random.key(0), example).ema_params
    assert ("Dense_0" in params) and params["Dense_0"]["kernel"].shape[0] == (
        2 * stage.model.ch if stage.diffusion.cond_aug.max_level > 0 else stage.model.ch
    )
    samplers.append(
        jax.jit(
            lambda cond, reference, rng, f=family, p=params: f.sample(
                p, {"cond": cond, "colour_reference": reference}, rng
            )
        )
    )
    sizes.append(size)
  lowres = jnp.zeros((1, 64, 64, 3))
  outputs = cascade.chain(samplers, sizes, lowres, jax.random.key(1))
  assert [o.shape for o in outputs] == [(1, 128, 128, 3), (1, 256, 256, 3)]
  assert all(bool(jnp.all(jnp.isfinite(o))) for o in outputs)
