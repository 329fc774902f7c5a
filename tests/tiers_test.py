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
