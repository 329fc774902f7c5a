"""The documentation's links point at files in the repository, the README stays short, and CI runs
README's test command."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN_FILES = [README, *DOCS, ROOT / "launch" / "README.md"]
README_MAX_LINES = 250
FORBIDDEN = ("../shared", "DESIGN.md", "STYLE.md", "the seed", "this machine")

# `[text](target)` and `![alt](target)`; the text may span lines, a "title" may follow the target.
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = ("http://", "https://", "mailto:")


def _without_code(text: str) -> str:
  """Blanks out fenced code blocks and inline code, keeping the line numbers.

  Args:
    text: the markdown source.

  Returns:
    The same number of lines, with code (which holds no links) replaced by empty lines or spaces.
  """
  lines = []
  in_fence = False
  for line in text.splitlines():
    if FENCE.match(line):
      in_fence = not in_fence
      lines.append("")
    elif in_fence:
      lines.append("")
    else:
      lines.append(INLINE_CODE.sub(lambda match: " " * len(match.group(0)), line))
  return "\n".join(lines)


def _links(path: pathlib.Path) -> list[tuple[int, str]]:
  """Every markdown link and image target in a file, outside code.

  Args:
    path: a markdown file.

  Returns:
    (1-based line number, target) pairs in the order the links appear.
  """
  text = _without_code(path.read_text(encoding="utf-8"))
  return [(text.count("\n", 0, match.start()) + 1, match.group(2)) for match in LINK.finditer(text)]


def _file_links() -> list:
  """The links that should name a file in the repository, as pytest params."""
  params = []
  for path in MARKDOWN_FILES:
    for number, target in _links(path):
      if target.startswith(EXTERNAL) or target.startswith("#"):
        continue
      where = f"{path.relative_to(ROOT).as_posix()}:{number}:{target}"
      params.append(pytest.param(path, target, id=where))
  return params


def test_every_markdown_file_exists_and_the_readme_has_links():
  for path in MARKDOWN_FILES:
    assert path.is_file(), path
  assert _file_links(), "no links found: is the link pattern right?"


@pytest.mark.parametrize("path,target", _file_links())
def test_link_points_at_a_file_in_the_repository(path, target):
  where = f"{path.relative_to(ROOT).as_posix()}: {target!r}"
  file_part = target.split("#", 1)[0]
  assert file_part, f"empty link {where}"
  assert not file_part.startswith(("/", "\\", "~")), f"absolute link {where}"
  assert not re.match(r"^[A-Za-z]:", file_part), f"absolute or non-file link {where}"
  assert not file_part.startswith("../"), f"link that climbs out of its folder {where}"
  resolved = (path.parent / file_part).resolve()
  assert resolved.is_relative_to(ROOT), f"link out of the repository {where}"
  assert resolved.exists(), f"missing link target {where}"


def test_readme_is_at_most_250_lines():
  lines = README.read_text(encoding="utf-8").splitlines()
  assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda path: path.name)
def test_no_forbidden_strings(path):
  text = path.read_text(encoding="utf-8")
  for forbidden in FORBIDDEN:
    assert forbidden not in text, f"{path.relative_to(ROOT)} contains {forbidden!r}"


def test_ci_runs_readmes_test_command_with_every_tier():
  venv = "python3 -m venv .venv && . .venv/bin/activate && "
  [command] = [
      line.removeprefix(venv)
      for line in README.read_text(encoding="utf-8").splitlines()
      if line.startswith(venv) and "pytest" in line
  ]
  ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
  assert ci[-1] == command
  assert '-m "unit or e2e or system"' in command and "--durations=30" in command
