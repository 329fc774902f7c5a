"""Helpers shared by the tests: the repository root, a module run as a program, parameter counts,
a family's train steps on a fixed batch, restored train states compared bit for bit, quick
staged configs trained stage by stage, a user's
poster folder, and TFDS's builder checks on a fake manual folder."""

from collections.abc import Callable
import json
import math
import pathlib
import socket
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from posergen_jax.config import stages
from posergen_jax.data import input_pipeline
from posergen_jax.families import registry
from posergen_jax.training import sharding, trainer

# The repository root: the working folder of the entry-point subprocesses tests start.
REPO = pathlib.Path(__file__).resolve().parents[1]


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
  """`python -m module args...` run from the repository root (with `env`, else this process's
  environment), its stdout and stderr captured as text; a non-zero exit is returned, not raised."""
  command = [sys.executable, "-m", module, *args]
  return subprocess.run(
      command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
  )


def param_count(params) -> int:
  """Total number of scalars in a parameter pytree (any nesting; array or jax.ShapeDtypeStruct
  leaves, e.g. from `jax.eval_shape`)."""
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))


def first_batch(data, split: str, preprocess, *, batch_size: int, train=False, seed=0) -> dict:
  """The first global batch (numpy, `batch_size` examples) of `split` of the dataset a config's
  `data` section names, through `preprocess`: shuffled and repeated when `train`, else in
  order."""
  ds = input_pipeline.create_dataset(
      data, split, global_batch_size=batch_size, preprocess=preprocess, train=train, seed=seed
  )
  return next(ds.as_numpy_iterator())


def first_train_batch(family, config, batch_size: int = 8) -> dict:
  """The first global training batch (numpy) of `config.data` through the family's preprocess:
  `family.batches_per_step` batches of `batch_size`, as the trainer hands them over."""
  return first_batch(
      config.data,
      config.data.train_split,
      family.make_preprocess(True),
      batch_size=batch_size * family.batches_per_step,
      train=True,
  )


def train_steps(family, batch, devices, num_steps, mesh=(("data", -1),), fsdp=False):
  """`num_steps` jitted train steps on `batch` over a `mesh` of `devices` (`fsdp`: the state
  split over the data axis too).

  The state is created and the step jitted by the trainer's own `sharding.init_sharded` and
  `trainer.jit_train_step`; each step donates a copy, so every state returned stays readable.
  Every step uses the same base key.

  Returns:
    ([initial state, state after step 1, ...], [metrics (numpy) of step 1, ...]).
  """
  shardings = sharding.make_shardings(sharding.make_mesh(mesh, devices=devices), fsdp)
  batch = jax.device_put(batch, shardings.data)
  state, state_shardings = sharding.init_sharded(
      family.init_state, shardings, jax.random.key(0), batch
  )
  step_fn = trainer.jit_train_step(family.train_step, state_shardings, shardings)
  states, history = [state], []
  for _ in range(num_steps):
    state, metrics = step_fn(jax.tree.map(jnp.copy, state), batch, jax.random.key(1))
    states.append(state)
    history.append(jax.device_get(metrics))
  return states, history


def restored_state(config, workdir, family=None):
  """The train state the trainer restores from `workdir`'s newest checkpoint for `config` (its
  family made from `config` unless given)."""
  family = family or registry.get_family(config)
  return trainer.setup(config, str(workdir), family).state


def assert_states_equal(got, want) -> None:
  """Parameters, optimizer state and EMA of two train states are equal bit for bit."""
  for part in ("params", "opt_state", "ema_params"):
    jax.tree.map(np.testing.assert_array_equal, getattr(got, part), getattr(want, part))


def quick_staged_config(config, data_dir):
  """A quick staged config whose stages read `data_dir` and train one step, without sample
  grids or evaluation."""
  for name in config.stage_order:
    stage = config.stages[name]
    stage.data.data_dir = data_dir
    stage.train.num_steps = 1
    stage.train.sample_every = 1000
    stage.evals.after_train = False
  return config


def train_stages(config, workdir, names) -> None:
  """Trains stages `names` of a staged config, each in `workdir/<stage>`."""
  for name in names:
    stage = stages.stage_config(config, name)
    trainer.train_and_evaluate(
        stage, str(stages.stage_workdir(workdir, name)), registry.get_family(stage)
    )


def free_port() -> int:
  """A TCP port on 127.0.0.1 that nothing listens on (for a local server or coordinator)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def write_posters_folder(root, count=24, num_test=8):
  """A user's poster folder: `count` images with captions.jsonl, movie-genre categories (none of
  the synthetic poster types) and the last `num_test` in the test split."""
  rng = np.random.default_rng(0)
  lines = []
  for i in range(count):
    name = f"films/{i:03d}.jpg"
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(root / name)
    genre = ("western", "film noir", "musical")[i % 3]
    split = "test" if i >= count - num_test else "train"
    captions = [f"一张{genre}电影海报", f"A {genre} film poster, number {i}"]
    lines.append(
        json.dumps({"image": name, "captions": captions, "category": genre, "split": split})
    )
  (root / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
  return root


def build_from_folder(name: str, manual_dir, data_dir) -> tfds.core.DatasetBuilder:
  """The TFDS builder `name` (e.g. 'posters/64') prepared in `data_dir` from `manual_dir`."""
  builder = tfds.builder(name, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
  )
  return builder


class ManualFolderBuilderTest(tfds.testing.DatasetBuilderTestCase):
  """TFDS's own builder checks on a fake manual folder: a subclass sets DATASET_CLASS, SPLITS,
  BUILDER_CONFIG_NAMES_TO_TEST and `write_folder(root) -> folder`, which writes the folder once
  per class into a temporary directory."""

  write_folder: Callable[[pathlib.Path], pathlib.Path]

  @classmethod
  def setUpClass(cls):
    cls._tree = tempfile.TemporaryDirectory()
    cls.EXAMPLE_DIR = str(cls.write_folder(pathlib.Path(cls._tree.name)))
    super().setUpClass()

  @classmethod
  def tearDownClass(cls):
    super().tearDownClass()
    cls._tree.cleanup()
