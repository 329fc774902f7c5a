"""GAN_SR3 end to end: train the three quick stages, then prompts → posters (pipeline and CLI)."""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
from PIL import Image
import pytest

from posergen_jax import main
from posergen_jax.config import stages
from posergen_jax.configs import gan_sr3
from posergen_jax.io import errors
from posergen_jax.poster import outputs, pipeline
from tests import helpers

PROMPTS = ["一张红色圆形的极简海报", "A minimalist poster of a red circle"]


def _config(tiny_data_dir):
  return helpers.quick_staged_config(gan_sr3.get_config("quick"), tiny_data_dir)


@pytest.fixture(scope="module")
def trained(gan_sr3_trained):
  return gan_sr3_trained


def test_stages_are_the_wgan_and_cascade_configs():
  config = gan_sr3.get_config()
  wgan, sr3_128, sr3_256 = (stages.stage_config(config, name) for name in config.stage_order)
  assert (wgan.family, sr3_128.family, sr3_256.family) == ("wgan", "sr3", "sr3")
  assert wgan.model.image_size == sr3_128.data.lr_size == 64
  assert sr3_128.data.hr_size == sr3_256.data.lr_size == 128 and sr3_256.data.hr_size == 256
  assert "diffusion" not in wgan and "text" not in sr3_128
  with pytest.raises(ValueError, match="Bad config argument 'paper'"):
    gan_sr3.get_config("paper")


def test_with_sampling_overrides_only_the_diffusion_stages():
  config = gan_sr3.get_config()
  changed = pipeline.with_sampling(config, "ddpm", 7)
  for name in ("sr3_128", "sr3_256"):
    assert changed.stages[name].diffusion.sampler == "ddpm"
    assert changed.stages[name].diffusion.sample_steps == 7
  assert config.stages.sr3_128.diffusion.sampler == "ddim"  # the original is untouched
  with pytest.raises(ValueError, match="sampler 'plms'"):
    pipeline.with_sampling(config, "plms", None)
  with pytest.raises(ValueError, match="steps must be at least 1"):
    pipeline.with_sampling(config, None, 0)


@pytest.fixture(scope="module")
def posters(trained):
  config, workdir = trained
  with pipeline.PosterPipeline(config, str(workdir)) as opened:
    yield opened


def test_pipeline_gives_each_stage_size_and_is_deterministic(posters):
  assert posters.checkpoint_steps == {"wgan": 1, "sr3_128": 1, "sr3_256": 1}
  prompts = PROMPTS * 4
  first = posters.generate(prompts, jax.random.key(0))
  again = posters.generate(prompts, jax.random.key(0))
  other = posters.generate(prompts, jax.random.key(1))
  assert [x.shape for x in first.stage_images] == [(8, 8, 8, 3), (8, 16, 16, 3), (8, 32, 32, 3)]
  assert set(first.stage_seconds) == {"wgan", "sr3_128", "sr3_256"}
  for a, b in zip(first.stage_images, again.stage_images):
    np.testing.assert_array_equal(a, b)
  assert not np.allclose(first.stage_images[-1], other.stage_images[-1])
  assert np.all(np.abs(first.stage_images[-1]) <= 1.0)


def test_missing_stage_checkpoint_names_the_stage_and_folder(trained, tmp_path):
  config, workdir = trained
  partial = tmp_path / "partial"
  shutil.copytree(workdir / "wgan", partial / "wgan")
  shutil.copytree(workdir / "sr3_128", partial / "sr3_128")
  with pytest.raises(FileNotFoundError) as error:
    pipeline.PosterPipeline(config, str(partial))
  assert "Stage 'sr3_256' has no checkpoint in" in str(error.value)
  assert str(partial / "sr3_256") in str(error.value)
  assert not (partial / "sr3_256").exists()  # The check only reads.


def test_write_posters_gives_a_png_and_sidecar_per_prompt(posters, tmp_path):
  out = tmp_path / "posters"
  prompts = PROMPTS + ["A third prompt"]
  outputs.check_out_dir(out, len(prompts), overwrite=False)
  summary = outputs.write_posters(posters, prompts, out, seed=3, batch_size=2)
  assert summary["num_posters"] == 3 and summary["size"] == 32
  assert summary["batch_size"] == 8  # rounded up to the 8 devices
  assert set(summary["seconds_per_image"]) == {"wgan", "sr3_128", "sr3_256"}
  for i, prompt in enumerate(prompts):
    image = np.asarray(Image.open(out / f"{i:04d}.png"))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    sidecar = json.loads((out / f"{i:04d}.json").read_text(encoding="utf-8"))
    assert sidecar["prompt"] == prompt and sidecar["seed"] == 3 and sidecar["index"] == i
    assert sidecar["sampling"]["sr3_256"] == {"sampler": "ddim", "steps": 5}  # quick's steps
  assert not (out / "0003.png").exists()  # the padding is never written
  # A batch larger than the prompts shrinks to them (rounded up to the devices): same posters.
  outputs.check_out_dir(tmp_path / "shrunk", len(prompts), overwrite=False)
  shrunk = outputs.write_posters(posters, prompts, tmp_path / "shrunk", seed=3, batch_size=64)
  assert shrunk["batch_size"] == 8
  for name in (f"{i:04d}.png" for i in range(len(prompts))):
    assert (tmp_path / "shrunk" / name).read_bytes() == (out / name).read_bytes()
  with pytest.raises(errors.InputError, match="already holds 0000.png"):
    outputs.check_out_dir(out, len(prompts), overwrite=False)


def test_input_checks_name_a_bad_prompt_title_font_or_prompts_file(tmp_path):
  # That generate runs them before any model loads: tests/cli_fuzz_test.py (its stand-in for the
  # pipeline is never reached by such a case).
  tokens = pipeline.prompt_tokenizer(gan_sr3.get_config("quick"))
  assert tokens(PROMPTS)["input_ids"].shape == (2, 64)
  with pytest.raises(ValueError, match="empty or whitespace-only"):
    tokens(["fine", "   "])
  with pytest.raises(errors.InputError, match="--title is empty"):
    outputs.check_title(" ", None)
  with pytest.raises(errors.InputError, match="--font=/no/such.ttf is not a file"):
    outputs.check_title("Title", "/no/such.ttf")
  with pytest.raises(errors.InputError, match="No prompts"):
    outputs.read_prompts([], None)
  prompts_file = tmp_path / "prompts.txt"
  prompts_file.write_text("first\n\n  second  \n", encoding="utf-8")
  assert outputs.read_prompts(["zero"], str(prompts_file)) == ["zero", "first", "second"]


def test_batches_pad_the_last_one_with_its_final_prompt():
  assert outputs.batches(["a", "b", "c"], 2) == [(0, ["a", "b"]), (2, ["c", "c"])]


def test_main_sample_mode_points_to_generate_for_a_prompt_config(tiny_data_dir, tmp_path):
  with pytest.raises(stages.StageError, match="posergen_jax.generate"):
    main.run_mode("sample", _config(tiny_data_dir), str(tmp_path))


def test_generate_command_line(trained, tiny_data_dir, tmp_path):
  config, workdir = trained
  out = tmp_path / "cli"
  command = [
      sys.executable,
      "-m",
      "posergen_jax.generate",
      "--config=configs/gan_sr3.py:quick",
      f"--workdir={workdir}",
      f"--out={out}",
      *(f"--prompt={p}" for p in PROMPTS),
      "--title=夏日音乐节",
      "--subtitle=Summer Music Festival",
      *(f"--config.stages.{name}.data.data_dir={tiny_data_dir}" for name in config.stage_order),
  ]
  result = subprocess.run(command, cwd=helpers.REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Wrote 2 posters (32x32)" in result.stdout
  assert sorted(p.name for p in out.iterdir()) == [
      "0000.json",
      "0000.png",
      "0001.json",
      "0001.png",
      "generate.json",
  ]
  sidecar = json.loads((out / "0001.json").read_text(encoding="utf-8"))
  assert (sidecar["prompt"], sidecar["title"]) == (PROMPTS[1], "夏日音乐节")
  again = subprocess.run(command, cwd=helpers.REPO, capture_output=True, text=True, timeout=600)
  assert again.returncode == 1 and "already holds 0000.png" in again.stderr


def test_an_exported_pipeline_travels_and_writes_the_same_posters(
    trained, posters, tiny_data_dir, tmp_path
):
  config, workdir = trained
  recorded = stages.from_json((workdir / "wgan" / "config.json").read_text())
  assert recorded.family == "wgan" and recorded.data.data_dir == tiny_data_dir  # As trained.
  exported = tmp_path / "exported"
  notes = tmp_path / "how_trained.md"
  notes.write_text("One step per stage:\n\n```bash\ntrain ...\n```\n", encoding="utf-8")
  export = [
      sys.executable,
      "-m",
      "posergen_jax.export",
      "--config=configs/gan_sr3.py:quick",
      f"--workdir={workdir}",
      f"--out={exported}",
      f"--how_trained={notes}",
      *(f"--config.stages.{name}.data.data_dir={tiny_data_dir}" for name in config.stage_order),
  ]
  result = subprocess.run(export, cwd=helpers.REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Exported wgan → sr3_128 → sr3_256" in result.stdout
  for name in config.stage_order:
    evaluated = ["eval.json"] if (workdir / name / "eval.json").exists() else []
    assert sorted(p.name for p in (exported / name).iterdir()) == sorted(
        ["config.json", "ema_params.msgpack", *evaluated]
    )
  card = (exported / "MODEL_CARD.md").read_text()
  assert "| wgan | wgan | synthetic_posters/tiny | 1 |" in card
  assert "## How it was trained\n\nOne step per stage:\n\n```bash\ntrain ...\n```\n" in card
  travelled = tmp_path / "elsewhere" / "pipeline"
  shutil.move(exported, travelled)

  outputs.write_posters(posters, PROMPTS, tmp_path / "from_workdir", seed=5, batch_size=8)
  with pipeline.PosterPipeline.from_pretrained(str(travelled)) as loaded:
    assert loaded.checkpoint_steps == posters.checkpoint_steps
    outputs.write_posters(loaded, PROMPTS, tmp_path / "from_export", seed=5, batch_size=8)
  # The command line in a clean folder, with no dataset anywhere TFDS would look.
  clean = tmp_path / "clean"
  clean.mkdir()
  command = [
      sys.executable,
      "-m",
      "posergen_jax.generate",
      f"--pretrained={travelled}",
      f"--out={tmp_path / 'from_cli'}",
      *(f"--prompt={p}" for p in PROMPTS),
      "--seed=5",
  ]
  env = {**os.environ, "TFDS_DATA_DIR": str(clean), "PYTHONPATH": str(helpers.REPO)}
  result = subprocess.run(command, cwd=clean, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  for i in range(len(PROMPTS)):
    want = (tmp_path / "from_workdir" / f"{i:04d}.png").read_bytes()
    assert (tmp_path / "from_export" / f"{i:04d}.png").read_bytes() == want
    assert (tmp_path / "from_cli" / f"{i:04d}.png").read_bytes() == want
  assert list(clean.iterdir()) == []  # Nothing written beside the command.
