"""WGAN stage: networks, losses against their definitions, train steps, config variants, e2e."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from posergen_jax.configs import wgan as wgan_config
from posergen_jax.families import gan_state, text_to_image
from posergen_jax.families import wgan as wgan_family
from posergen_jax.models import dual_encoder, wgan, wgan_losses
from tests import helpers
from tests.helpers import param_count


def test_networks_have_the_documented_shapes_and_sizes():
  """Shapes and parameter counts at the paper's widths, traced without running (eval_shape)."""
  generator = wgan.Generator(image_size=64, gf_dim=64, c_dim=128)
  critic = wgan.Critic(image_size=64, df_dim=64)
  z, sentence, eps = jnp.zeros((2, 100)), jnp.ones((2, 512)), jnp.zeros((2, 128))
  gen_vars = jax.eval_shape(
      lambda: generator.init(jax.random.key(0), z, sentence, eps, train=False)
  )
  images, mu, logvar = jax.eval_shape(
      lambda v: generator.apply(v, z, sentence, eps, train=False), gen_vars
  )
  assert images.shape == (2, 64, 64, 3) and images.dtype == jnp.float32
  assert mu.shape == logvar.shape == (2, 128)
  critic_vars = jax.eval_shape(lambda x: critic.init(jax.random.key(1), x, sentence), images)
  scores = jax.eval_shape(lambda v, x: critic.apply(v, x, sentence), critic_vars, images)
  assert scores.shape == (2,)
  # Paper-size widths: 4x4x512 map, 4 upsampling blocks; critic 64 -> 512 channels.
  assert param_count(gen_vars["params"]) == 3_719_363
  assert param_count(critic_vars["params"]) == 3_028_673


@pytest.mark.parametrize("size", [4, 48, 100])
def test_image_size_must_be_a_power_of_two_from_8(size):
  with pytest.raises(ValueError, match=f"image_size must be a power of two >= 8; got {size}"):
    wgan.num_resamples(size)


def test_critic_scores_each_example_on_its_own():
  critic = wgan.Critic(image_size=8, df_dim=4)
  images = jax.random.normal(jax.random.key(0), (3, 8, 8, 3))
  sentence = jax.random.normal(jax.random.key(1), (3, 5))
  variables = critic.init(jax.random.key(2), images, sentence)
  scores = critic.apply(variables, images, sentence)
  changed = critic.apply(variables, images.at[1].set(0.0), sentence.at[1].set(0.0))
  np.testing.assert_array_equal(changed[jnp.array([0, 2])], scores[jnp.array([0, 2])])
  assert changed[1] != scores[1]


def test_gradient_penalty_equals_its_definition():
  real = jax.random.normal(jax.random.key(0), (4, 2, 2, 3))
  fake = jax.random.normal(jax.random.key(1), (4, 2, 2, 3))
  alpha = jnp.array([0.0, 0.25, 0.5, 1.0])
  # A linear critic has gradient w everywhere: penalty (||w|| - 1)^2.
  w = jnp.full((2, 2, 3), 0.5)
  linear = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  np.testing.assert_allclose(
      wgan_losses.gradient_penalty(linear, real, fake, alpha),
      (np.sqrt(12 * 0.25) - 1.0) ** 2,
      rtol=1e-6,
  )
  # A nonlinear critic: each example's own gradient at alpha*real + (1-alpha)*fake.
  critic = lambda x: jnp.sum(jnp.sin(x) * x, axis=(1, 2, 3))
  points = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
  grads = jax.vmap(jax.grad(lambda x: jnp.sum(jnp.sin(x) * x)))(points)
  expected = np.mean((np.linalg.norm(np.asarray(grads).reshape(4, -1), axis=1) - 1.0) ** 2)
  np.testing.assert_allclose(
      wgan_losses.gradient_penalty(critic, real, fake, alpha), expected, rtol=1e-5
  )


def test_losses_have_the_wasserstein_signs():
  real, fake = jnp.array([3.0, 1.0]), jnp.array([-1.0, 0.0])
  assert float(wgan_losses.wasserstein_estimate(real, fake)) == 2.5
  assert float(wgan_losses.critic_loss(real, fake)) == -2.5
  assert float(wgan_losses.generator_loss(fake)) == 0.5
  clipped = wgan_losses.clip_weights({"a": jnp.array([-1.0, 0.005, 2.0])}, 0.01)
  np.testing.assert_allclose(clipped["a"], [-0.01, 0.005, 0.01], rtol=1e-6)


def test_matching_critic_loss_weighs_real_fake_and_mismatched_terms():
  real, fake, mis = jnp.array([2.0, 0.5]), jnp.array([-2.0, 0.0]), jnp.array([1.0, -3.0])
  hinge = wgan_losses.matching_critic_loss(real, fake, mis, objective="hinge", mismatch_weight=0.5)
  # relu(1 - real) = [0, 0.5]; relu(1 + fake) = [0, 1]; relu(1 + mis) = [2, 0].
  np.testing.assert_allclose(hinge, 0.25 + 0.5 * 0.5 + 0.5 * 1.0, rtol=1e-6)
  wasserstein = wgan_losses.matching_critic_loss(
      real, fake, mis, objective="wasserstein", mismatch_weight=0.25
  )
  np.testing.assert_allclose(wasserstein, -1.25 + 0.75 * -1.0 + 0.25 * -1.0, rtol=1e-6)
  # No mismatch weight: WGAN's own critic loss.
  np.testing.assert_allclose(
      wgan_losses.matching_critic_loss(
          real, fake, mis, objective="wasserstein", mismatch_weight=0.0
      ),
      wgan_losses.critic_loss(real, fake),
      rtol=1e-6,
  )


def test_matching_gradient_penalty_equals_its_definition():
  # D(x, s) = <x, a> + <s, b>: gradient (a, b) everywhere, penalty (|a|^2 + |b|^2)^(p/2).
  a, b = jnp.full((2, 2, 3), 0.5), jnp.array([1.0, -2.0])
  critic = lambda x, s: jnp.sum(x * a, axis=(1, 2, 3)) + s @ b
  real, sentence = jnp.ones((4, 2, 2, 3)), jnp.zeros((4, 2))
  np.testing.assert_allclose(
      wgan_losses.matching_gradient_penalty(critic, real, sentence, 6.0),
      (12 * 0.25 + 5.0) ** 3,
      rtol=1e-5,
  )


def test_text_modulation_starts_as_the_identity_and_reads_the_text():
  plain = wgan.Generator(image_size=8, gf_dim=4, c_dim=8)
  modulated = wgan.Generator(image_size=8, gf_dim=4, c_dim=8, text_modulation=True)
  z, eps = jnp.ones((2, 6)), jnp.zeros((2, 8))
  sentence = jax.random.normal(jax.random.key(0), (2, 5))
  variables = modulated.init(jax.random.key(1), z, sentence, eps, train=False)
  text_layers = [name for name in variables["params"] if name.endswith("_text")]
  assert text_layers == ["up0_text"]  # One upsampling block from 4x4 to 8x8.
  without = {
      "params": {k: v for k, v in variables["params"].items() if k not in text_layers},
      "batch_stats": variables["batch_stats"],
  }
  np.testing.assert_array_equal(
      modulated.apply(variables, z, sentence, eps, train=False)[0],
      plain.apply(without, z, sentence, eps, train=False)[0],
  )
  # Once the last layers are not zero, the same z gives different images for different text.
  bumped = jax.tree.map(lambda x: x + 0.1, variables)
  images = modulated.apply(bumped, z, sentence, eps, train=False)[0]
  shifted = modulated.apply(bumped, z, sentence + 1.0, eps, train=False)[0]
  assert not np.allclose(images, shifted)


@pytest.mark.parametrize(
    "arg, lipschitz, optimizer",
    [
        (None, "gp", "adam"),
        ("quick", "gp", "adam"),
        ("clip", "clip", "rmsprop"),
        ("quick,clip", "clip", "rmsprop"),
    ],
)
def test_config_variants(arg, lipschitz, optimizer):
  config = wgan_config.get_config(arg)
  assert config.loss.lipschitz == lipschitz
  assert config.optimizer.gen.name == config.optimizer.disc.name == optimizer
  assert (config.model.image_size == 8) == ("quick" in (arg or ""))


def test_paper_size_keeps_the_seed_recipe():
  """GAN_SR3's first stage as the paper has it: WGAN-GP's objective and 5 critic updates, text
  only at G's input, no mismatched captions, no augmentation, no contrastive term, untruncated
  sampling."""
  config = wgan_config.get_config("paper")
  assert dict(config.loss) == {
      "objective": "wasserstein",
      "mismatch_weight": 0.0,
      "lipschitz": "gp",
      "gp_weight": 10.0,
      "clip_value": 0.01,
      "magp_weight": 2.0,
      "magp_power": 6.0,
      "augment": (),
      "contrastive_weight": 0.0,
      "contrastive_temperature": 0.1,
      "n_critic": 5,
      "kl_weight": 1.0,
  }
  assert not config.model.text_modulation and config.model.truncation == 0.0
  assert config.optimizer.gen.learning_rate == config.optimizer.disc.learning_rate == 1e-4
  assert config.text.source == "encoder" and config.text.zh_student is None


def test_bad_loss_settings_are_named():
  config = wgan_config.get_config("quick")
  config.loss.lipschitz = "spectral"
  with pytest.raises(ValueError, match="config.loss.lipschitz='spectral'"):
    wgan_family.make_family(config)
  config.loss.lipschitz, config.loss.n_critic = "gp", 0
  with pytest.raises(ValueError, match="config.loss.n_critic=0"):
    wgan_family.make_family(config)


def _quick(tiny_data_dir, arg="quick"):
  config = wgan_config.get_config(arg)
  config.data.data_dir = tiny_data_dir
  config.loss.n_critic = 3
  family = wgan_family.make_family(config)
  return config, family, helpers.first_train_batch(family, config)


@pytest.fixture(scope="module")
def gp_run(tiny_data_dir):
  config, family, batch = _quick(tiny_data_dir)
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=6)
  return family, batch, states, history


def test_train_steps_are_finite_and_move_both_networks(gp_run):
  _, _, states, history = gp_run
  assert int(states[-1].step) == 6
  for metrics in history:
    assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert history[-1]["gradient_penalty"] > 0
  for net in (gan_state.GEN, gan_state.DISC):
    before, after = states[0].params[net], states[-1].params[net]
    assert any(
        not np.allclose(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after))
    ), net


def test_each_critic_update_reads_a_batch_of_its_own(tiny_data_dir):
  config, family, batch = _quick(tiny_data_dir)
  key = text_to_image.image_key(config)
  assert family.batches_per_step == 3 and len(batch[key]) == 3 * 8
  split = wgan_family.split_batches(jnp.arange(24), 3)
  np.testing.assert_array_equal(split, np.arange(24).reshape(8, 3).T)
  # With frozen networks the step reports the last critic update's terms, which read batch 2
  # (rows 2, 5, 8, ...) alone: blanking batches 0 and 1 changes nothing, blanking batch 2 does.
  config.optimizer.gen.learning_rate = config.optimizer.disc.learning_rate = 0.0
  family = wgan_family.make_family(config)

  def last_update(rows):
    images = np.asarray(batch[key]).copy()
    images[rows] = 0.0
    _, history = helpers.train_steps(family, {**batch, key: images}, jax.devices()[:1], num_steps=1)
    return history[0]["wasserstein"]

  unchanged = last_update([])
  np.testing.assert_allclose(last_update(np.r_[0:24:3, 1:24:3]), unchanged, rtol=1e-6)
  assert abs(last_update(np.r_[2:24:3]) - unchanged) > 1e-3


def test_critic_updates_raise_the_wasserstein_estimate(tiny_data_dir):
  """WGAN-GP: with G frozen, the critic first meets the penalty, then separates real from fake."""
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.loss.update(objective="wasserstein", mismatch_weight=0.0, augment=(), n_critic=3)
  config.optimizer.gen.learning_rate = 0.0
  config.optimizer.disc.learning_rate = 1e-3
  family = wgan_family.make_family(config)
  batch = helpers.first_train_batch(family, config)
  # 24 steps: each of the 3 critic updates per step reads its own 8 of the 24 images.
  _, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=24)
  losses = [float(m["critic_loss"]) for m in history]
  estimates = [float(m["wasserstein"]) for m in history]
  assert losses[-1] < losses[0] / 10, losses
  assert estimates[-1] > max(0.0, estimates[0] + 0.5), estimates


def test_sharded_step_matches_single_device(tiny_data_dir, gp_run):
  _, family, batch = _quick(tiny_data_dir)
  states8, history8 = helpers.train_steps(family, batch, jax.devices(), num_steps=2)
  _, _, states1, history1 = gp_run
  assert all(x.sharding.num_devices == 8 for x in jax.tree.leaves(states8[2].params))
  for name in ("critic_loss", "wasserstein", "g_loss"):
    np.testing.assert_allclose(history8[1][name], history1[1][name], rtol=1e-4, atol=1e-5)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
      states8[2].ema_params,
      states1[2].ema_params,
  )


def test_sampling_is_deterministic_for_a_key_and_differs_across_keys(gp_run):
  family, batch, states, _ = gp_run
  sample = jax.jit(family.sample)
  params = states[-1].ema_params
  first = sample(params, batch, jax.random.key(7))
  assert first.shape == (3 * 8, 8, 8, 3)  # n_critic batches of 8, 8×8 images
  np.testing.assert_array_equal(first, sample(params, batch, jax.random.key(7)))
  assert not np.allclose(first, sample(params, batch, jax.random.key(8)))


def test_df_gan_recipe_trains_and_samples(tiny_data_dir):
  """Hinge loss, mismatched captions, MA-GP, text modulation, DiffAugment and truncation."""
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.loss.update(
      objective="hinge", mismatch_weight=0.5, lipschitz="magp", augment=("translation", "cutout")
  )
  config.model.update(text_modulation=True, truncation=0.8)
  family = wgan_family.make_family(config)
  batch = helpers.first_train_batch(family, config)
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=3)
  assert all(np.isfinite(v) for m in history for v in m.values())
  assert history[-1]["gradient_penalty"] > 0
  images = jax.jit(family.sample)(states[-1].ema_params, batch, jax.random.key(0))
  assert images.shape == (2 * 8, 8, 8, 3) and np.all(np.isfinite(images))


def test_the_critic_scores_real_images_under_rolled_captions(tiny_data_dir):
  """With the whole weight on mismatches, the critic's loss is E[D(x, s')] - E[D(x, s)], s' the
  batch's captions rolled by one, and no fake enters it."""
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.loss.update(
      objective="wasserstein",
      lipschitz="clip",
      mismatch_weight=1.0,
      augment=(),
      contrastive_weight=0.0,
      n_critic=1,
  )
  config.optimizer.gen.learning_rate = config.optimizer.disc.learning_rate = 0.0
  family = wgan_family.make_family(config)
  batch = helpers.first_train_batch(family, config)
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=1)
  critic = wgan_family.make_critic(config)
  params = {"params": states[0].params[gan_state.DISC]}
  real = batch[text_to_image.image_key(config)]
  sentence = wgan_family.conditioning.make_text_conditioning(config.text, data=config.data).encode(
      batch
  )
  own = critic.apply(params, real, sentence)
  rolled = critic.apply(params, real, jnp.roll(sentence, 1, axis=0))
  np.testing.assert_allclose(history[0]["mismatch_gap"], jnp.mean(own - rolled), rtol=1e-4)
  np.testing.assert_allclose(history[0]["critic_loss"], -jnp.mean(own - rolled), rtol=1e-4)


def test_bad_recipe_settings_are_named():
  config = wgan_config.get_config("quick")
  config.loss.objective = "ls"
  with pytest.raises(ValueError, match="config.loss.objective='ls'"):
    wgan_family.make_family(config)


def test_weight_clipping_keeps_the_critic_in_its_box(tiny_data_dir):
  config, family, batch = _quick(tiny_data_dir, "quick,clip")
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=2)
  critic = jax.tree.leaves(states[-1].params[gan_state.DISC])
  assert max(float(jnp.abs(x).max()) for x in critic) <= config.loss.clip_value
  assert float(history[-1]["gradient_penalty"]) == 0.0
  assert all(np.isfinite(v) for v in history[-1].values())


def test_main_trains_samples_and_evaluates(tiny_data_dir, tmp_path):
  workdir = tmp_path / "run"
  result = subprocess.run(
      [
          sys.executable,
          "-m",
          "posergen_jax.main",
          "--config=configs/wgan.py:quick",
          f"--workdir={workdir}",
          f"--config.data.data_dir={tiny_data_dir}",
      ],
      cwd=helpers.REPO,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  grid = np.asarray(Image.open(workdir / "samples" / "step_000004.png"))
  columns = 1 + text_to_image.SAMPLES_PER_ROW  # real | samples
  assert grid.shape == (8 * (8 + 2) + 2, columns * (8 + 2) + 2, 3)
  report = json.loads((workdir / "eval.json").read_text())
  assert report["step"] == 4
  assert np.isfinite(report["metrics"]["ssim"]) and np.isfinite(report["metrics"]["psnr"])


def test_the_contrastive_term_is_infonce_of_the_critics_embeddings_and_falls(tiny_data_dir):
  """XMC-GAN's sentence term: CLIP's loss at temperature 0.1 between the critic's unit image
  and caption embeddings of the real batch; on one fixed batch, the critic learns to match them."""
  config = wgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  config.loss.update(contrastive_weight=1.0, augment=(), n_critic=1)
  family = wgan_family.make_family(config)
  batch = helpers.first_train_batch(family, config)
  states, history = helpers.train_steps(family, batch, jax.devices()[:1], num_steps=30)
  critic = wgan_family.make_critic(config)
  real = batch[text_to_image.image_key(config)]
  sentence = wgan_family.conditioning.make_text_conditioning(config.text, data=config.data).encode(
      batch
  )
  _, sown = critic.apply(
      {"params": states[0].params[gan_state.DISC]}, real, sentence, mutable=["intermediates"]
  )
  (images,), (texts,) = (sown["intermediates"][f"{x}_embedding"] for x in ("image", "text"))
  np.testing.assert_allclose(np.linalg.norm(images, axis=-1), 1.0, rtol=1e-5)
  infonce = dual_encoder.contrastive_loss(images, texts, 10.0)
  np.testing.assert_allclose(history[0]["critic_contrastive"], infonce, rtol=1e-4)
  assert history[0]["critic_contrastive"] > 0.9 * np.log(real.shape[0])  # About chance at init.
  assert history[-1]["critic_contrastive"] < 0.85 * history[0]["critic_contrastive"]
  assert np.isfinite(history[-1]["g_contrastive"])
