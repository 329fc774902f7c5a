"""benchmarks/cpu_profile.py end to end on the quick SR3 config, and its op-kind names."""

import os
import re
import subprocess
import sys

from benchmarks import cpu_profile
from tests import helpers


def test_op_kind_drops_the_instruction_number():
  assert cpu_profile.op_kind("ynn_fusion.426") == "ynn_fusion"
  assert cpu_profile.op_kind("transpose_copy_fusion") == "transpose_copy_fusion"
  assert cpu_profile.op_kind("convolution-base-dilated.2") == "convolution-base-dilated"


def test_profiles_the_quick_sr3_step(tiny_data_dir):
  """Times the step and the input pipeline and lists XLA op kinds with positive times."""
  result = subprocess.run(
      [
          sys.executable,
          "benchmarks/cpu_profile.py",
          "--config=configs/sr3.py:quick",
          "--steps=2",
          "--trace-steps=1",
      ],
      cwd=helpers.REPO,
      env={**os.environ, "TFDS_DATA_DIR": tiny_data_dir},
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  assert float(re.search(r"train step: ([\d.]+) ms", out).group(1)) > 0
  assert re.search(r"input pipeline, one batch read alone: [\d.]+ ms", out)
  kinds = re.findall(r"^\| `([^`]+)` \| ([\d.]+) \|", out, re.MULTILINE)
  assert kinds and all(float(ms) >= 0 for _, ms in kinds)
  assert not any(re.search(r"Thunk|ThreadPool|^\$", kind) for kind, _ in kinds)
  total = float(re.search(r"^\| all \d+ kinds \| ([\d.]+) \|", out, re.MULTILINE).group(1))
  assert total > 0
