"""Every `:quick` config's train step compiles for a TPU slice (v5e:2x2), without a TPU: XLA's
TPU compiler (libtpu) runs on the CPU, so a change that breaks TPU lowering fails here."""

import json

import pytest

from posergen_jax import aot
from posergen_jax.config import stages
from posergen_jax.io import errors
from posergen_jax.training import aot as aot_lib
from tests.configs_test import CONFIG_FILES, _module

TOPOLOGY = "v5e:2x2"
# libtpu 0.0.42's compiler aborts the process on the char-CNN-RNN tower's backward convolution
# ("space_to_batch_converter.cc: Check failed: PropagateOnBackpropFilterConv"), whatever the
# XLA flags tried; `python -m posergen_jax.aot --config=configs/text_image_encoder.py:quick
# --topology=v5e:2x2` shows it.
COMPILER_CRASHES = {"char_cnn_rnn": "libtpu 0.0.42 aborts compiling the char-CNN-RNN backward"}
# configs/sr3.py:quick compiles in test_a_multislice_step_compiles_with_a_slices_axis (over two
# slices, its state split by FSDP); the SR3 cascades' stages compile here.
MULTISLICE_CONFIG = "sr3/sr3"


def _quick_stages():
  """Each distinct stage program of the `:quick` configs. Stages that differ only in their image
  sizes (the SR3 cascades' stages) lower the same operations: the smallest stands for them."""
  smallest = {}
  for name in CONFIG_FILES:
    for config in aot.stage_configs(_module(name).get_config("quick")):
      unsized = json.loads(stages.to_json(config))
      for size in ("hr_size", "lr_size"):
        unsized["data"].pop(size, None)
      key = json.dumps(unsized, sort_keys=True)
      side = config.data.get("hr_size", 0)
      if key not in smallest or side < smallest[key][1].data.get("hr_size", 0):
        smallest[key] = (f"{name}/{config.get('stage') or config.family}", config)
  found = []
  for label, config in smallest.values():
    if label == MULTISLICE_CONFIG:
      continue
    crash = COMPILER_CRASHES.get(config.get("text", {}).get("tower"))
    marks = [pytest.mark.skip(reason=crash)] if crash else []
    found.append(pytest.param(config, id=label, marks=marks))
  return found


@pytest.mark.parametrize("config", _quick_stages())
def test_the_train_step_compiles_for_a_tpu_slice(config):
  fit = aot.fit(config, TOPOLOGY)  # Reads the dataset's feature spec only, never its data.
  assert not fit.error, fit.error
  assert fit.chips == 4
  assert 0 < fit.argument_bytes and 0 < fit.flops  # The cost model's seconds may be n/a.
  assert fit.total_bytes < aot.CHIPS["v5e"][0] * aot.GIB


def test_a_denoising_step_is_priced_on_one_chip(quick_config):
  cost = aot.sampling_cost(quick_config, TOPOLOGY, batch_size=4)
  assert (cost.stage, cost.chip, cost.batch_size) == ("sr3", "v5e", 4)
  assert cost.flops > 0 and cost.seconds > 0
  # 100 DDPM steps cost five times 20 DDIM steps; per image, over the 4 images of a step.
  assert cost.seconds_per_image(100) == pytest.approx(5 * cost.seconds_per_image(20))
  assert cost.seconds_per_image(20) == pytest.approx(20 * cost.seconds / 4)
  assert "| sr3 | 1 v5e | 4 |" in aot.sampling_table([cost])
  unknown = aot_lib.SamplingCost("sr3", "v5e", 4, seconds=-1.0, flops=1e12)  # The cost model's n/a.
  assert aot.sampling_table([unknown]).endswith("| sr3 | 1 v5e | 4 | 1.000 | n/a | n/a | n/a |")


def test_a_multislice_step_compiles_with_a_slices_axis(quick_config):
  """configs/sr3.py:quick over two v5e:2x2 slices: the batch over (slices, data), the state
  split inside each slice."""
  quick_config.mesh = (("slices", 2), ("data", -1))
  quick_config.fsdp = True
  fit = aot.fit(quick_config, "2*" + TOPOLOGY)
  assert not fit.error, fit.error
  assert fit.chips == 8 and fit.flops > 0
  assert fit.total_bytes < aot.CHIPS["v5e"][0] * aot.GIB
  quick_config.mesh = (("data", -1),)
  with pytest.raises(errors.ConfigError, match="add a \\('slices', number of slices\\) axis"):
    aot.fit(quick_config, "2*" + TOPOLOGY)
