"""The generic trainer with the SR3 family: sharding equality, checkpoints, end to end."""

import json
import shutil

import jax
import numpy as np
from PIL import Image
import pytest

from posergen_jax.configs import sr3 as sr3_config
from posergen_jax.families import registry, sr3
from posergen_jax.training import checkpoint, sharding, trainer
from tests import helpers


def _train(family, batch, devices, num_steps, mesh=(("data", -1),)):
  """(state, metrics) after `num_steps` steps (metrics None for 0 steps)."""
  states, history = helpers.train_steps(family, batch, devices, num_steps, mesh)
  return states[-1], (history or [None])[-1]


@pytest.fixture(scope="module")
def data_parallel(tiny_data_dir):
  """(family, batch, state, metrics) after 2 quick-SR3 steps data-parallel over the 8 devices:
  the reference each other layout is compared with."""
  config = sr3_config.get_config("quick")
  config.data.data_dir = tiny_data_dir
  family = sr3.make_family(config)
  batch = helpers.first_train_batch(family, config)
  return family, batch, *_train(family, batch, jax.devices(), num_steps=2)


def test_sharded_step_matches_single_device(data_parallel):
  family, batch, state8, metrics8 = data_parallel
  state1, metrics1 = _train(family, batch, jax.devices()[:1], num_steps=2)
  assert all(x.sharding.num_devices == 8 for x in jax.tree.leaves(state8.params))
  np.testing.assert_allclose(metrics8["loss"], metrics1["loss"], rtol=1e-5)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      state8.params,
      state1.params,
  )
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      state8.ema_params,
      state1.ema_params,
  )


def test_model_axis_2x4_matches_data_parallel_8x1(data_parallel):
  """Kernels split over a 4-way model axis give the 8-way data-parallel result."""
  family, batch, state_8x1, metrics_8x1 = data_parallel
  state_2x4, metrics_2x4 = _train(
      family, batch, jax.devices(), num_steps=2, mesh=(("data", 2), ("model", 4))
  )
  kernel = state_2x4.params["conv_in"]["kernel"]
  assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, None, None, "model")
  assert kernel.addressable_shards[0].data.shape[-1] == kernel.shape[-1] // 4
  np.testing.assert_allclose(metrics_2x4["loss"], metrics_8x1["loss"], rtol=1e-5)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      state_2x4.ema_params,
      state_8x1.ema_params,
  )


def test_slices_axis_2x4_with_fsdp_matches_data_parallel_8x1(data_parallel):
  """Multislice: the batch split over (slices, data), the state over data only (inside a
  slice), gives the 8-way data-parallel result."""
  family, batch, state_8x1, metrics_8x1 = data_parallel
  states, history = helpers.train_steps(
      family, batch, jax.devices(), 2, mesh=(("slices", 2), ("data", 4)), fsdp=True
  )
  split = [leaf for leaf in jax.tree.leaves(states[-1].params) if "data" in leaf.sharding.spec]
  assert split  # FSDP inside a slice: 4 shards each, none over the slices.
  assert all(leaf.addressable_shards[0].data.size == leaf.size // 4 for leaf in split)
  assert not any("slices" in leaf.sharding.spec for leaf in jax.tree.leaves(states[-1]))
  np.testing.assert_allclose(history[-1]["loss"], metrics_8x1["loss"], rtol=1e-5)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      states[-1].ema_params,
      state_8x1.ema_params,
  )


def test_checkpoint_restores_bit_identical(data_parallel, tmp_path):
  family, batch, state, _ = data_parallel
  manager = checkpoint.make_manager(str(tmp_path), max_to_keep=2)
  checkpoint.save(manager, 2, state)
  manager.wait_until_finished()

  fresh, _ = _train(family, batch, jax.devices(), num_steps=0)
  restored = checkpoint.restore_latest(checkpoint.make_manager(str(tmp_path), max_to_keep=2), fresh)
  assert int(restored.step) == 2
  helpers.assert_states_equal(restored, state)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(fresh)):
    assert got.sharding == want.sharding


def test_restore_without_checkpoint_returns_state(tmp_path):
  manager = checkpoint.make_manager(str(tmp_path), max_to_keep=1)
  state = {"w": np.ones(3)}
  assert checkpoint.restore_latest(manager, state) is state


def test_train_writes_outputs_then_resumes(sr3_quick_run, tmp_path, caplog):
  shared_config, shared_workdir = sr3_quick_run  # Trained in the relative workdir `run`.
  assert sorted(p.name for p in (shared_workdir / "checkpoints").iterdir() if p.name.isdigit()) == [
      "2",
      "4",
  ]
  assert list(shared_workdir.glob("events.out.tfevents.*"))
  assert (shared_workdir / "samples" / "step_000004.png").exists()
  report = json.loads((shared_workdir / "eval.json").read_text())
  assert report["step"] == 4
  metrics = report["metrics"]
  assert metrics["num_examples"] == shared_config.evals.num_examples
  for name in ("sr3_psnr", "sr3_ssim", "bicubic_psnr", "bicubic_ssim"):
    assert np.isfinite(metrics[name])
  assert 10 < metrics["bicubic_psnr"] < 60
  assert metrics["seconds_per_example"] > 0

  config = shared_config.copy_and_resolve_references()
  workdir = tmp_path / "run"
  shutil.copytree(shared_workdir, workdir)
  # --mode=eval with KID through the real FID Inception; the real images' features are cached.
  config.evals.image_metrics = ("kid",)
  config.evals.fid_reference = str(tmp_path / "reference.npz")
  metrics = trainer.evaluate_checkpoint(config, str(workdir), registry.get_family(config))
  assert np.isfinite(metrics["kid"]) and metrics["kid_std"] >= 0
  assert (tmp_path / "reference.npz").is_file()
  config.evals.image_metrics = ()

  # --mode=sample on the newest checkpoint: a grid of low-res | SR3 | ground truth.
  grid = np.asarray(
      Image.open(trainer.sample_checkpoint(config, str(workdir), registry.get_family(config)))
  )
  rows, columns = config.evals.grid_size, 3
  assert grid.shape == (rows * (32 + 2) + 2, columns * (32 + 2) + 2, 3)

  # The same workdir resumes: two more steps start from the saved step 4.
  config.train.num_steps = 6
  caplog.set_level("INFO")
  trainer.train_and_evaluate(config, str(workdir), registry.get_family(config))
  assert "Restoring checkpoint of step 4" in caplog.text
  assert "Training from step 4 to 6." in caplog.text
  assert "No input-pipeline state" not in caplog.text
  assert json.loads((workdir / "eval.json").read_text())["step"] == 6


def test_fsdp_splits_the_state_over_the_data_axis_and_matches_data_parallel(data_parallel):
  """Parameters, Adam moments and the EMA copy split 8 ways over the data axis (FSDP) give the
  replicated data-parallel result."""
  family, batch, state_dp, metrics_dp = data_parallel
  states, history = helpers.train_steps(family, batch, jax.devices(), 2, fsdp=True)
  state_fsdp, metrics_fsdp = states[-1], history[-1]
  split = [
      leaf
      for leaf in jax.tree.leaves((state_fsdp.params, state_fsdp.opt_state, state_fsdp.ema_params))
      if isinstance(leaf, jax.Array) and "data" in leaf.sharding.spec
  ]
  big = [k for k in jax.tree.leaves(state_fsdp.params) if "data" in k.sharding.spec]
  assert big and len(split) == 4 * len(big)  # Each big kernel, its 2 Adam moments, its EMA.
  assert all(leaf.size >= sharding.FSDP_MIN_ELEMENTS for leaf in split)
  assert all(leaf.addressable_shards[0].data.size == leaf.size // 8 for leaf in split)
  np.testing.assert_allclose(metrics_fsdp["loss"], metrics_dp["loss"], rtol=1e-5)
  for fsdp_tree, dp_tree in (
      (state_fsdp.params, state_dp.params),
      (state_fsdp.ema_params, state_dp.ema_params),
  ):
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), fsdp_tree, dp_tree
    )
