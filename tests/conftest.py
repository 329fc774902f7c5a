"""Test set-up: 8 simulated CPU devices and the entry points' CPU kernels, fixed before any JAX
backend starts."""

import os
import pathlib
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Both xdist workers load libtpu (tpu_compile_test.py): without this the second finds it locked.
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
# Fast compiles for tiny test models; set in the environment so that the
# entry-point subprocesses some tests start run under the same flags.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
# One persistent compilation cache for the whole run (both xdist workers and the entry-point
# subprocesses): the quick configs' steps are compiled once, not once per test. Every program
# is cached, however fast it compiled.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "posergen_jax_tests_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402  (must come after XLA_FLAGS)

from posergen_jax import cli  # noqa: E402

# The entry points' choice of CPU kernels (oneDNN where the CPU has AMX), for the tests and the
# subprocesses they start alike.
cli.use_onednn_on_cpu()
jax.config.update("jax_platforms", "cpu")

import pytest  # noqa: E402

# The test tiers, the one place that assigns them (docs/testing.md, "Tiers"). Plain `pytest`
# runs the unit tier; `-m e2e` the real entry points and trained workdirs; `-m system` the
# multi-process runs, the multi-device layouts, the TPU compiles, the browser and the notebooks;
# README's command runs all three. A test is in a tier when its node id starts with one of the
# tier's paths, or when it uses one of the tier's fixtures (directly or through another
# fixture); the first tier that claims it wins, and a test no tier claims is a unit test.
TIERS = {
    "system": {
        "paths": (
            "colabs/",
            "tests/multihost_fid_test.py",
            "tests/multihost_main_test.py",
            "tests/pretrained_colab_test.py",
            "tests/tpu_compile_test.py",
            "tests/demo_test.py::test_a_browser_submits_a_prompt_and_shows_the_poster",
            # Each family's step on 8 devices against 1.
            "tests/attn_stackgan_test.py::test_sharded_step_matches_single_device",
            "tests/text_ddpm_test.py::test_sharded_step_matches_single_device",
            "tests/wgan_test.py::test_sharded_step_matches_single_device",
        ),
        # The trainer's mesh layouts against the 8-device data-parallel reference.
        "fixtures": ("data_parallel",),
    },
    "e2e": {
        "paths": (
            "tests/attn_stackgan_test.py::test_main_trains_samples_evaluates_then_resumes",
            "tests/cli_fuzz_test.py",
            "tests/console_test.py::test_the_console_script_loads_a_config_from_outside_the",
            "tests/console_test.py::test_each_command_refuses_bad_input_in_one_line",
            "tests/corrupt_checkpoint_test.py::test_training_resumes_before_a_damaged_checkpoint",
            "tests/cpu_profile_test.py::test_profiles_the_quick_sr3_step",
            "tests/faults_test.py",
            "tests/import_layers_test.py::test_the_trainer_loads_no_family",
            "tests/microbatches_test.py::test_sr3_trains_in_microbatches_over_eight_devices",
            "tests/own_posters_test.py::test_the_walkthrough_trains_every_stage_on_your_posters",
            "tests/r_precision_test.py::test_eval_reports_r_precision_of_the_generated_images",
            "tests/r_precision_test.py::test_encoder_reads_the_caption_the_image_was_generated",
            "tests/remote_paths_test.py",
            "tests/shipped_pipeline_test.py::test_readmes_command_writes_posters",
            "tests/text_ddpm_test.py::test_pipeline_turns_prompts_into_posters_through_the_ddpm",
            "tests/train_test.py::test_train_writes_outputs_then_resumes",
            "tests/wgan_test.py::test_main_trains_samples_and_evaluates",
        ),
        # The trained quick GAN_SR3 and SR3 workdirs.
        "fixtures": ("gan_sr3_trained", "sr3_quick_run"),
    },
}
TIER_ORDER = (*TIERS, "unit")  # Longest first, so that two workers end together.


# Tests that share one xdist worker (pytest_xdist_make_scheduler below): the multi-process runs,
# one at a time since each starts several JAX processes; and each file with a module fixture,
# whose fixture (a few trained steps, a loaded tower) is then built once rather than once per
# worker. Every other test goes to whichever worker is free.
SHARED_WORKER = {
    "tests/multihost_fid_test.py": "multihost",
    "tests/multihost_main_test.py": "multihost",
}
TESTS = pathlib.Path(__file__).parent
MODULE_FIXTURE_FILES = frozenset(
    f"tests/{path.name}"
    for path in TESTS.glob("*_test.py")
    if 'scope="module"' in path.read_text(encoding="utf-8")
)


def worker_scope(nodeid: str) -> str:
  """The unit of work xdist gives one worker: a SHARED_WORKER group, a file with module fixtures,
  or the test alone."""
  path = nodeid.split("::")[0]
  if path in SHARED_WORKER:
    return SHARED_WORKER[path]
  return path if path in MODULE_FIXTURE_FILES else nodeid


def pytest_xdist_make_scheduler(config, log):
  """xdist's scope scheduling by `worker_scope` (pytest-xdist's own `--dist loadgroup` marks no
  longer reach its scheduler under pytest 9.2)."""
  from xdist.scheduler import LoadScopeScheduling

  class WorkerScopeScheduling(LoadScopeScheduling):

    def _split_scope(self, nodeid: str) -> str:
      return worker_scope(nodeid)

  return WorkerScopeScheduling(config, log)


def tier_of(item: pytest.Item) -> str:
  """The tier of a collected test: 'system', 'e2e' or 'unit'."""
  fixtures = set(getattr(item, "fixturenames", ()))
  for name, tier in TIERS.items():
    if item.nodeid.startswith(tier["paths"]) or fixtures.intersection(tier["fixtures"]):
      return name
  return "unit"


def pytest_collection_modifyitems(config, items):
  """Marks each test with its tier and orders the files by their longest tier, first; with no
  `-m` and no paths named on the command line, keeps the unit tier only."""
  tiers = {item: tier_of(item) for item in items}
  rank = {}  # Per file: its longest tier's place in TIER_ORDER.
  for item, tier in tiers.items():
    item.add_marker(tier)
    path = item.nodeid.split("::")[0]
    rank[path] = min(rank.get(path, len(TIER_ORDER)), TIER_ORDER.index(tier))
  # Whole files, in their own order, so that a module fixture is built once, not once per tier.
  items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])
  if config.option.markexpr or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
    return
  config.hook.pytest_deselected(items=[item for item in items if tiers[item] != "unit"])
  items[:] = [item for item in items if tiers[item] == "unit"]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the built `synthetic_posters/tiny` dataset."""
  import tensorflow_datasets as tfds

  import posergen_jax.data.synthetic_posters  # noqa: F401  (registers the builder)

  data_dir = tmp_path_factory.mktemp("tfds")
  tfds.builder("synthetic_posters/tiny", data_dir=data_dir).download_and_prepare()
  return str(data_dir)


@pytest.fixture
def quick_config(tiny_data_dir):
  """configs/sr3.py:quick reading the session's tiny dataset."""
  from posergen_jax.configs import sr3

  config = sr3.get_config("quick")
  config.data.data_dir = tiny_data_dir
  return config


@pytest.fixture(scope="session")
def sr3_quick_run(tiny_data_dir, tmp_path_factory):
  """(configs/sr3.py:quick, its workdir): 4 steps trained (checkpoints of steps 2 and 4), a
  sample grid and an evaluation, into the relative workdir `run` as users type one. Shared: copy
  the workdir (`shutil.copytree`) and the config (`copy_and_resolve_references`) before changing
  either."""
  import contextlib

  from posergen_jax.configs import sr3
  from posergen_jax.families import registry
  from posergen_jax.training import trainer

  config = sr3.get_config("quick")
  config.data.data_dir = tiny_data_dir
  base = tmp_path_factory.mktemp("sr3_quick")
  with contextlib.chdir(base):
    trainer.train_and_evaluate(config, "run", registry.get_family(config))
  return config, base / "run"


@pytest.fixture(scope="session")
def gan_sr3_trained(tiny_data_dir, tmp_path_factory):
  """(configs/gan_sr3.py:quick, a workdir with each of its stages trained for one step)."""
  from posergen_jax.configs import gan_sr3
  from tests import helpers

  config = helpers.quick_staged_config(gan_sr3.get_config("quick"), tiny_data_dir)
  workdir = tmp_path_factory.mktemp("gan_sr3")
  helpers.train_stages(config, workdir, config.stage_order)
  return config, workdir
