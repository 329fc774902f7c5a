"""Every path in the tier table (tests/conftest.py TIERS) names a test file, and a test function
in it, that exists: a renamed test would otherwise fall back to the unit tier unnoticed."""

import re

import pytest

from tests import conftest, helpers


@pytest.mark.parametrize(
    "path", [path for tier in conftest.TIERS.values() for path in tier["paths"]]
)
def test_each_tier_path_names_an_existing_test(path):
  file, _, name = path.partition("::")
  target = helpers.REPO / file
  assert target.exists(), f"{path}: no such file or folder"
  if name:
    assert re.search(
        rf"^def {re.escape(name)}", target.read_text(encoding="utf-8"), re.M
    ), f"{path}: no test function starts with that name"


def test_the_multi_process_runs_share_a_worker_and_module_fixtures_stay_on_one():
  """tests/conftest.py's xdist scopes: the two-process runs are one unit of work, a file with a
  module fixture is another, and any other test is one of its own."""
  multihost = {
      conftest.worker_scope(f"{path}::test_x")
      for path in ("tests/multihost_main_test.py", "tests/multihost_fid_test.py")
  }
  assert len(multihost) == 1
  assert "tests/attn_stackgan_test.py" in conftest.MODULE_FIXTURE_FILES
  for name in ("test_a", "test_b[1]"):
    assert conftest.worker_scope(f"tests/attn_stackgan_test.py::{name}") == (
        "tests/attn_stackgan_test.py"
    )
  assert "tests/tiers_test.py" not in conftest.MODULE_FIXTURE_FILES
  nodeid = "tests/tiers_test.py::test_each_tier_path_names_an_existing_test[colabs/]"
  assert conftest.worker_scope(nodeid) == nodeid
