"""The version is written once (posergen_jax.__version__) and the release files agree with it."""

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import yaml

import posergen_jax

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_is_the_installed_distributions():
  assert posergen_jax.__version__ == importlib.metadata.version("posergen_jax")


def test_importing_the_package_for_its_version_loads_no_jax():
  code = "import sys, posergen_jax; print(posergen_jax.__version__, 'jax' in sys.modules)"
  result = subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
  )
  assert result.stdout.split() == [posergen_jax.__version__, "False"]


def test_citation_file_names_the_version():
  citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
  assert citation["cff-version"] == "1.2.0"
  assert citation["version"] == posergen_jax.__version__


def test_changelog_has_a_heading_for_the_version_below_unreleased():
  text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
  headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
  assert headings[:2] == ["Unreleased", posergen_jax.__version__], headings
