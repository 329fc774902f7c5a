"""The pipeline shipped in pretrained/: README's command writes posters from it on a fresh machine,
with no training and no dataset anywhere, and its model card says how it was trained."""

import json
import os
import re
import shlex
import subprocess
import sys

from PIL import Image

from posergen_jax.poster import pretrained
from tests import helpers

SHIPPED = helpers.REPO / "pretrained" / "gan_sr3"


def readme_command() -> list[str]:
  """README's `generate --pretrained=pretrained/gan_sr3 ...` line, as arguments."""
  readme = (helpers.REPO / "README.md").read_text(encoding="utf-8")
  [line] = re.findall(
      r"^python -m posergen_jax\.generate --pretrained=pretrained/\S+ .*$", readme, re.M
  )
  return shlex.split(line)


def test_it_is_small_and_its_card_says_how_it_was_trained():
  size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
  assert size <= 15 * 2**20
  summary = pretrained.read_summary(SHIPPED)
  assert summary["stage_order"] == ["wgan", "sr3_128", "sr3_256"]
  card = (SHIPPED / "MODEL_CARD.md").read_text(encoding="utf-8")
  for name in summary["stage_order"]:
    assert f"--config.stage={name}" in card  # The command that trained it.
    assert f"| {name} | " in card
  assert "## How it was trained" in card and "What it is not" in card


def test_readmes_command_writes_posters_with_no_training_and_no_dataset(tmp_path):
  command = readme_command()
  assert command[:3] == ["python", "-m", "posergen_jax.generate"]
  clean, data_dir = tmp_path / "fresh", tmp_path / "tfds"
  clean.mkdir()
  data_dir.mkdir()
  out = tmp_path / "posters"
  args = [a for a in command[3:] if not a.startswith("--out=")]
  args = [f"--pretrained={SHIPPED}" if a.startswith("--pretrained=") else a for a in args]
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # One device, as a user.
  env.update(TFDS_DATA_DIR=str(data_dir), PYTHONPATH=str(helpers.REPO))
  result = subprocess.run(
      # Two DDIM steps per stage: the pipeline and files, not the pictures, are checked here.
      [sys.executable, "-m", "posergen_jax.generate", *args, f"--out={out}", "--sampler=ddim"]
      + ["--steps=2"],
      cwd=clean,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert Image.open(out / "0000.png").size == (256, 256)
  sidecar = json.loads((out / "0000.json").read_text(encoding="utf-8"))
  assert sidecar["checkpoint_steps"] == pretrained.read_summary(SHIPPED)["steps"]
  assert list(clean.iterdir()) == [] and list(data_dir.iterdir()) == []
