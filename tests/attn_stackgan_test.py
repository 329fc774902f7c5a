"""Gt-StackGAN through the generic trainer: config arguments, text conditioning, steps, e2e."""

import json
import subprocess
import sys

import jax
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from benchmarks import stackgan_fidelity_share
from posergen_jax.config import stages
from posergen_jax.configs import attn_stackgan as attn_stackgan_config
from posergen_jax.data import input_pipeline
from posergen_jax.families import attn_stackgan
from posergen_jax.text import conditioning
from tests import helpers

# The in-process train tests use channel attention (cheap on CPU; PAM at 64x64 is not) with the
# VGG fidelity loss on; the end-to-end run uses the full dual-attention quick config.
TRAIN_ARG = "quick,cam"


@pytest.mark.parametrize(
    "arg, attention, vgg",
    [
        ("quick", "dual", "vgg16_lpips"),
        ("quick,baseline", "none", "none"),
        ("pam", "pam", "vgg16_lpips"),
        ("quick,cam", "cam", "vgg16_lpips"),
        ("paper,no_vgg", "dual", "none"),
    ],
)
def test_config_arguments_set_the_ablation(arg, attention, vgg):
  config = attn_stackgan_config.get_config(arg)
  assert (config.model.attention, config.model.vgg) == (attention, vgg)
  assert config.data.name.startswith(
      "synthetic_posters/tiny"
      if "quick" in arg
      else "cub_birds"
      if "paper" in arg
      else "synthetic_posters/128"
  )


@pytest.mark.parametrize("arg", ["quik", "quick,pam,cam", "quick,paper"])
def test_bad_config_arguments_are_named(arg):
  with pytest.raises(ValueError, match=f"Bad config argument {arg!r}"):
    attn_stackgan_config.get_config(arg)


def test_dataset_conditioning_picks_one_caption_embedding():
  config = attn_stackgan_config.get_config("paper").text
  text = conditioning.make_text_conditioning(config)
  embeddings = np.arange(10 * 6, dtype=np.float32).reshape(10, 6)
  example = {"embedding": tf.constant(embeddings)}
  seed = tf.constant([0, 0], tf.int64)
  first = text.preprocess_fn(False)(example, seed)["embedding"].numpy()
  np.testing.assert_array_equal(first, embeddings[0])
  picked = {
      int(text.preprocess_fn(True)(example, tf.constant([0, i], tf.int64))["embedding"][0])
      for i in range(40)
  }
  assert len(picked) > 3 and picked <= set(embeddings[:, 0].astype(int))
  batch = {"embedding": np.stack([first, first])}
  assert text.encode(batch).shape == (2, 6)


def test_encoder_conditioning_matches_encoding_the_caption(tiny_data_dir):
  config = attn_stackgan_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  text = conditioning.make_text_conditioning(config.text)
  ds = input_pipeline.create_dataset(
      config.data,
      "test",
      global_batch_size=4,
      preprocess=text.preprocess_fn(False),
      train=False,
      seed=0,
  )
  batch = next(ds.as_numpy_iterator())
  assert batch["input_ids"].shape == batch["attention_mask"].shape == (4, 64)
  vectors = jax.jit(text.encode)(batch)
  assert vectors.shape == (4, 32) and np.isfinite(vectors).all()

  # Evaluation takes the first English caption (index 5: 5 Chinese come first).
  examples = tfds.builder(config.data.name, data_dir=tiny_data_dir).as_dataset(split="test[:4]")
  captions = [ex["captions"][5].decode() for ex in tfds.as_numpy(examples)]
  np.testing.assert_allclose(vectors, text.encode_prompts(captions), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def fixed_batch(tiny_data_dir):
  config = attn_stackgan_config.get_config(TRAIN_ARG)
  config.data.data_dir = tiny_data_dir
  family = attn_stackgan.make_family(config)
  return family, helpers.first_train_batch(family, config)


@pytest.fixture(scope="module")
def single_device_run(fixed_batch):
  family, batch = fixed_batch
  return helpers.train_steps(family, batch, jax.devices()[:1], num_steps=5)


def test_train_steps_reduce_discriminator_loss(single_device_run):
  states, history = single_device_run
  state = states[-1]
  assert int(state.step) == 5
  for metrics in history:
    assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert {"d_loss", "g_loss", "kl", "fidelity", "d_loss_64", "d_loss_128"} <= set(history[0])
  assert history[-1]["d_loss"] < history[0]["d_loss"]
  assert all(np.isfinite(x).all() for x in jax.tree.leaves((state.params, state.ema_params)))


def test_sharded_step_matches_single_device(fixed_batch, single_device_run):
  family, batch = fixed_batch
  states8, history8 = helpers.train_steps(family, batch, jax.devices(), num_steps=2)
  states1, history1 = single_device_run
  state8, state1 = states8[2], states1[2]
  assert all(x.sharding.num_devices == 8 for x in jax.tree.leaves(state8.params))
  for name in ("d_loss", "g_loss", "fidelity"):
    np.testing.assert_allclose(history8[1][name], history1[1][name], rtol=1e-4)
  # Adam moves a weight by up to lr (2e-4) per step however small its gradient, so a near-zero
  # gradient summed in another order can move a rare weight differently: every weight within
  # the 2 steps' 2 lr, and on average within 1e-5 (lr / 20).
  for part in ("params", "batch_stats", "ema_params"):
    for a, b in zip(jax.tree.leaves(getattr(state8, part)), jax.tree.leaves(getattr(state1, part))):
      np.testing.assert_allclose(a, b, rtol=1e-3, atol=4e-4)
      assert np.mean(np.abs(np.asarray(a) - np.asarray(b))) < 1e-5


def test_fidelity_share_measures_each_reduction(fixed_batch, single_device_run, tiny_data_dir):
  """benchmarks/stackgan_fidelity_share.py's gradients at the 128² image: the summed fidelity
  term's is the mean's times the feature count (conv1_1: 128·128·64), and the adversarial one
  is not zero."""
  _, batch = fixed_batch
  states, _ = single_device_run
  config = attn_stackgan_config.get_config(TRAIN_ARG)
  config.data.data_dir = tiny_data_dir
  terms = stackgan_fidelity_share.make_term_gradients(config)(states[-1], batch, jax.random.key(3))
  (mean_value, mean_norm), (sum_value, sum_norm) = terms["fidelity_mean"], terms["fidelity_sum"]
  np.testing.assert_allclose(sum_value, 128 * 128 * 64 * mean_value, rtol=1e-4)
  np.testing.assert_allclose(sum_norm, 128 * 128 * 64 * mean_norm, rtol=1e-4)
  assert float(terms["adversarial"][1]) > 0 and float(mean_value) > 0


def test_main_trains_samples_evaluates_then_resumes(tiny_data_dir, tmp_path):
  workdir = tmp_path / "run"

  def main(*overrides):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "posergen_jax.main",
            "--config=configs/attn_stackgan.py:quick",
            f"--workdir={workdir}",
            f"--config.data.data_dir={tiny_data_dir}",
            *overrides,
        ],
        cwd=helpers.REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr

  log = main("--config.train.num_steps=2", "--config.ckpt.every=1")  # quick's 4 steps, halved.
  assert "evaluating: 100%" in log and "2/2 [" in log  # The evaluation's progress bar.
  recorded = stages.from_json((workdir / "config.json").read_text())  # As trained.
  assert recorded.train.num_steps == 2 and recorded.family == "attn_stackgan"
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [
      "1",
      "2",
  ]
  grid = np.asarray(Image.open(workdir / "samples" / "step_000002.png"))
  assert grid.shape == (8 * (128 + 2) + 2, 3 * (128 + 2) + 2, 3)  # real | 64 | 128 per row
  report = json.loads((workdir / "eval.json").read_text())
  assert report["step"] == 2
  for name in ("ssim_64", "ssim_128", "psnr_64", "psnr_128"):
    assert np.isfinite(report["metrics"][name])

  log = main("--config.train.num_steps=3")
  assert "Restoring checkpoint of step 2" in log
  assert "Training from step 2 to 3." in log
  assert json.loads((workdir / "eval.json").read_text())["step"] == 3
