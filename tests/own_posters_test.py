"""Your own posters, end to end: one data override points every stage of every staged config at
the user's folder; the README walkthrough (train three stages, generate) on a small folder."""

import importlib
import json
import subprocess
import sys

import pytest

from posergen_jax.config import stages
from posergen_jax.families import registry
from posergen_jax.io import errors
from tests import helpers

# (config file, the dataset the documented override names): each stage keeps its image sizes.
CONFIGS = [
    ("sr3", "posters/256"),
    ("sr3_cascade", "posters/256"),
    ("sr3_paper", "posters/512"),  # Its last stage generates 512×512.
    ("gan_sr3", "posters/256"),
    ("ddpm_baseline", "posters/256"),
    ("attn_stackgan", "posters/256"),
    ("attn_stackgan", "cub_birds/128"),
]


@pytest.mark.parametrize("name, dataset", CONFIGS)
def test_one_override_points_every_stage_at_the_users_folder(name, dataset):
  config = importlib.import_module(f"posergen_jax.configs.{name}").get_config()
  sizes_before = {
      stage: dict(stages.stage_config(config, stage).data)
      for stage in (config.stage_order if stages.is_staged(config) else ())
  }
  config.data.name = dataset  # --config.data.name=...
  config.data.manual_dir = "/my/posters"  # --config.data.manual_dir=...
  config.data.data_dir = "/my/tfds"  # --config.data.data_dir=...
  registry.check_config(config, 1)
  resolved = (
      [stages.stage_config(config, stage) for stage in config.stage_order]
      if stages.is_staged(config)
      else [config]
  )
  for stage in resolved:
    assert (stage.data.name, stage.data.manual_dir, stage.data.data_dir) == (
        dataset,
        "/my/posters",
        "/my/tfds",
    )
    if stages.is_staged(config):  # The rest of each stage's data section is its own.
      before = sizes_before[stage.stage]
      assert {k: v for k, v in stage.data.items() if k not in stages.SHARED_DATA_FIELDS} == {
          k: v for k, v in before.items() if k not in stages.SHARED_DATA_FIELDS
      }


def test_a_dataset_stored_smaller_than_a_stage_generates_is_refused():
  config = importlib.import_module("posergen_jax.configs.sr3_paper").get_config()
  config.data.name = "posters/256"
  with pytest.raises(errors.ConfigError) as raised:
    registry.check_config(config, 1)
  assert str(raised.value) == (
      "config.data.name='posters/256': must be a dataset stored at >= 512 px, the side this "
      "stage generates (e.g. posters/512)."
  )


def _run(args, cwd=helpers.REPO):
  result = subprocess.run(
      [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600
  )
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_the_walkthrough_trains_every_stage_on_your_posters_and_generates(tmp_path):
  folder = helpers.write_posters_folder(tmp_path / "my_posters")
  workdir, data_dir = tmp_path / "runs", tmp_path / "tfds"
  override = [
      "--config=configs/gan_sr3.py:quick",
      f"--workdir={workdir}",
      "--config.data.name=posters/64",
      f"--config.data.manual_dir={folder}",
      f"--config.data.data_dir={data_dir}",
  ]
  names = ("wgan", "sr3_128", "sr3_256")
  fields = ("train.num_steps=1", "train.sample_every=1000", "evals.num_examples=8")
  override += [f"--config.stages.{name}.{field}" for name in names for field in fields]
  for name in names:
    _run(["posergen_jax.main", *override, f"--config.stage={name}"])
    recorded = stages.from_json((workdir / name / "config.json").read_text())
    assert (recorded.data.name, recorded.data.manual_dir) == ("posters/64", str(folder))
  assert sorted(p.name for p in (data_dir / "posters" / "64").iterdir()) == ["1.1.0"]
  _run(["posergen_jax.generate", *override, f"--out={tmp_path / 'posters'}", "--prompt=音乐会海报"])
  sidecar = json.loads((tmp_path / "posters" / "0000.json").read_text(encoding="utf-8"))
  assert sidecar["prompt"] == "音乐会海报" and sidecar["size"] == 32
