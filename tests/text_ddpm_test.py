"""The seed's DDPM baseline: the text-conditioned U-Net, guidance, the family, configs, pipeline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.config import stages
from posergen_jax.configs import ddpm_baseline
from posergen_jax.configs import text_ddpm as text_ddpm_config
from posergen_jax.families import text_ddpm
from posergen_jax.models import sr3_unet
from posergen_jax.poster import pipeline
from tests import helpers
from tests.helpers import param_count

TINY_UNET = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(), num_groups=4)


def _perturbed(params, seed=0):
  """Params with every leaf moved by N(0, 0.1), so zero-initialised outputs carry signal."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return treedef.unflatten([x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def test_text_unet_adds_one_projection_and_reads_the_context():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  levels, context = jnp.full((2,), 0.5), jax.random.normal(jax.random.key(1), (2, 6))
  plain = sr3_unet.UNet(**TINY_UNET)
  text = sr3_unet.UNet(**TINY_UNET, text_conditioning=True)
  plain_params = jax.eval_shape(
      lambda: plain.init(jax.random.key(2), x, None, levels, train=False)
  )["params"]
  params = jax.jit(
      lambda: text.init(jax.random.key(2), x, None, levels, train=False, context=context)
  )()["params"]
  # The projection: context [6] -> the 4*ch embedding, without bias.
  assert param_count(params) - param_count(plain_params) == 6 * 4 * 8
  params = _perturbed(params)
  apply = jax.jit(lambda c: text.apply({"params": params}, x, None, levels, train=False, context=c))
  out = apply(context)
  assert out.shape == (2, 8, 8, 3) and out.dtype == jnp.float32
  other = apply(context.at[1].set(0.0))
  np.testing.assert_array_equal(other[0], out[0])  # Each example reads its own context.
  assert not np.allclose(other[1], out[1])
  # A zero context contributes nothing: the U-Net without the projection gives the same.
  without_projection = {k: v for k, v in params.items() if k != "context_proj"}
  unconditional = jax.jit(
      lambda: plain.apply({"params": without_projection}, x, None, levels, train=False)
  )()
  np.testing.assert_allclose(other[1], unconditional[1], rtol=1e-5, atol=1e-6)


def test_context_is_required_exactly_with_text_conditioning():
  x, levels = jnp.zeros((2, 8, 8, 3)), jnp.ones((2,))
  with pytest.raises(ValueError, match="context must be given exactly when text_conditioning"):
    sr3_unet.UNet(**TINY_UNET, text_conditioning=True).init(
        jax.random.key(0), x, None, levels, train=False
    )
  with pytest.raises(ValueError, match=r"context must be \[2, E\]"):
    sr3_unet.UNet(**TINY_UNET, text_conditioning=True).init(
        jax.random.key(0), x, None, levels, train=False, context=jnp.zeros((3, 4))
    )


def _toy_denoise(x, text, level):
  """eps depends on x, the text vector and the level, so guidance's combination is visible."""
  return x * text.sum(axis=-1)[:, None, None, None] + level[:, None, None, None]


def test_guidance_combines_conditional_and_unconditional_predictions():
  x = jax.random.normal(jax.random.key(0), (3, 4, 4, 3))
  text = jax.random.normal(jax.random.key(1), (3, 5))
  level = jnp.array([0.1, 0.5, 0.9])
  assert text_ddpm.guided(_toy_denoise, 1.0) is _toy_denoise
  cond = _toy_denoise(x, text, level)
  uncond = _toy_denoise(x, jnp.zeros_like(text), level)
  np.testing.assert_allclose(
      text_ddpm.guided(_toy_denoise, 3.0)(x, text, level),
      uncond + 3.0 * (cond - uncond),
      rtol=1e-6,
      atol=1e-6,
  )


def test_text_dropout_zeroes_whole_rows_at_the_rate():
  text = jnp.ones((20_000, 4))
  dropped = text_ddpm.drop_text(text, jax.random.key(0), 0.1)
  rows = np.asarray(dropped.sum(axis=1))
  assert set(np.unique(rows)) == {0.0, 4.0}
  assert abs((rows == 0).mean() - 0.1) < 0.01
  np.testing.assert_array_equal(text_ddpm.drop_text(text, jax.random.key(0), 0.0), text)


@pytest.mark.parametrize(
    "arg, drop, scale, size",
    [("quick", 0.0, 1.0, 8), ("cfg", 0.1, 3.0, 64), ("quick,cfg", 0.1, 3.0, 8)],
)
def test_config_arguments(arg, drop, scale, size):
  config = text_ddpm_config.get_config(arg)
  assert (config.guidance.drop_prob, config.guidance.scale) == (drop, scale)
  assert config.model.image_size == size and config.family == "text_ddpm"


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match="Bad config argument 'guided'"):
    text_ddpm_config.get_config("guided")
  config = text_ddpm_config.get_config("quick")
  config.guidance.drop_prob = 1.0
  with pytest.raises(ValueError, match="config.guidance.drop_prob=1.0"):
    text_ddpm.make_family(config)


@pytest.fixture(scope="module")
def quick_run(tiny_data_dir):
  config = text_ddpm_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  family = text_ddpm.make_family(config)
  batch = helpers.first_train_batch(family, config)
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=40)
  return config, family, batch, states, history


def test_loss_falls_on_a_fixed_batch(quick_run):
  *_, history = quick_run
  losses = [float(m["loss"]) for m in history]
  assert all(np.isfinite(losses))
  assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5]), losses  # Measured: 1.00 -> 0.68.


def test_sharded_step_matches_single_device(quick_run):
  _, family, batch, states1, history1 = quick_run
  states8, history8 = helpers.train_steps(family, batch, jax.devices(), num_steps=2)
  np.testing.assert_allclose(history8[1]["loss"], history1[1]["loss"], rtol=1e-4, atol=1e-6)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
      states8[2].ema_params,
      states1[2].ema_params,
  )


def test_sampling_is_deterministic_and_guidance_changes_it(quick_run, tiny_data_dir):
  config, family, batch, states, _ = quick_run
  params = states[-1].ema_params
  sample = jax.jit(family.sample)
  first = sample(params, batch, jax.random.key(3))
  assert first.shape == (8, 8, 8, 3) and float(jnp.abs(first).max()) <= 1.0
  np.testing.assert_array_equal(first, sample(params, batch, jax.random.key(3)))
  assert not np.allclose(first, sample(params, batch, jax.random.key(4)))
  config.guidance.scale = 3.0
  guided = jax.jit(text_ddpm.make_family(config).sample)(params, batch, jax.random.key(3))
  assert guided.shape == first.shape and not np.allclose(guided, first)


def test_baseline_chains_the_ddpm_with_gan_sr3s_cascade():
  config = ddpm_baseline.get_config("quick,cfg")
  assert tuple(config.stage_order) == ("text_ddpm", "sr3_128", "sr3_256")
  first = stages.stage_config(config, "text_ddpm")
  assert first.family == "text_ddpm" and first.guidance.scale == 3.0
  assert stages.stage_config(config, "sr3_128").data.lr_size == first.model.image_size
  pipeline.prompt_tokenizer(config)  # The pipeline accepts its first stage.


def test_pipeline_turns_prompts_into_posters_through_the_ddpm(
    gan_sr3_trained, tiny_data_dir, tmp_path
):
  """The baseline's workdir: its own DDPM stage, GAN_SR3's SR stages linked in (as README says)."""
  _, gan_sr3_workdir = gan_sr3_trained
  config = helpers.quick_staged_config(ddpm_baseline.get_config("quick"), tiny_data_dir)
  helpers.train_stages(config, tmp_path, ["text_ddpm"])
  for name in ("sr3_128", "sr3_256"):
    (tmp_path / name).symlink_to(gan_sr3_workdir / name)
  with pipeline.PosterPipeline(config, str(tmp_path)) as posters:
    out = posters.generate(["一张红色圆形的极简海报", "A red circle"] * 4, jax.random.key(0))
  assert [x.shape for x in out.stage_images] == [(8, 8, 8, 3), (8, 16, 16, 3), (8, 32, 32, 3)]
  assert set(out.stage_seconds) == {"text_ddpm", "sr3_128", "sr3_256"}
