"""gs:// wherever a path is accepted: a posters folder (its check, fingerprint and build), a text
tower's weights and tokenizer with the conversion cache in gs://, a title font, FID reference
statistics, the workdir probe and an exported pipeline writing posters, run by
tests/remote_paths.py against an in-memory gs://.
"""

import os

from tests import helpers


def test_user_paths_may_be_gs_urls(tmp_path):
  env = {**os.environ, "HOME": str(tmp_path / "home")}  # Local copies of remote files land here.
  env.pop("POSERGEN_JAX_CACHE", None)
  run = helpers.run_module("tests.remote_paths", str(tmp_path), env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  assert run.stdout.splitlines()[-5:] == [
      "ok posters folder",
      "ok weights and tokenizer",
      "ok font",
      "ok fid reference and workdir",
      "ok pretrained pipeline",
  ]
  copies = list((tmp_path / "home" / ".cache" / "posergen_jax" / "remote").rglob("*.*"))
  # Readers that need a local file got a copy of each remote one; nothing else was copied.
  assert sorted(p.name for p in copies) == [
      "config.json",  # The model's and its pooling's.
      "config.json",
      "font.ttc",
      "model.safetensors",
      "vocab.txt",
  ]
