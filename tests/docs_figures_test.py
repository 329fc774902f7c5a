"""Each measured figure README shows cites the docs/results.md section that states it, and
every `#anchor` link in the documentation names a heading of its target file.

Pure text parsing, no JAX: a figure is a number with a unit of measure (a time, a step rate,
dB, GiB, a speed-up, a test count) or a decimal number (a score); settings such as "1,000
steps" or "batch 16" are not figures.
"""

import pathlib
import re

import pytest

from tests.docs_links_test import LINK, MARKDOWN_FILES, README, ROOT, _without_code

RESULTS = ROOT / "docs" / "results.md"
# Decimal numbers in README that are not measurements.
NOT_FIGURES = ("Python ≥ 3.11", "License 2.0")

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_RANGE = rf"{_NUMBER}(?:\s*[–-]\s*{_NUMBER})?"
_UNIT = (
    r"(?:min\s+\d+\s+s|minutes?|min|seconds?|s/step|ms/step|steps/s|s|ms|hours?|h|dB|GiB"
    r"|passed|skipped|×(?!\s*\d))"
)
# A number with a unit of measure ("9 min 20 s", "3.1–4.0 steps/s", "1.48 s/step", "1.6 s"),
# or a decimal number on its own (a score: "0.195", "26.97").
FIGURE = re.compile(rf"(?<![\w.,/=:-])(?:{_RANGE}\s*{_UNIT}(?![\w/])|\d+\.\d+(?![\d.]))")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
# A sentence ends at . ! ? before a space and a capital, a backtick, bold or a bracket.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\[])")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.")


def slug(heading: str, seen: dict[str, int]) -> str:
  """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.

  Args:
    heading: the heading's text (markdown as written).
    seen: slugs already given in this file, counted; a repeat gets "-1", "-2", ...

  Returns:
    The anchor, without the "#".
  """
  text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # A link's text stays.
  base = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
  count = seen.get(base, 0)
  seen[base] = count + 1
  return base if count == 0 else f"{base}-{count}"


def sections(text: str) -> dict[str, str]:
  """Each heading's anchor, mapped to its section: the heading to the next of its level or above.

  Args:
    text: a markdown file.

  Returns:
    anchor -> the section's text (subsections included).
  """
  lines = _without_fences(text).splitlines()
  raw = text.splitlines()
  starts = []
  seen: dict[str, int] = {}
  for number, line in enumerate(lines):
    match = HEADING.match(line)
    if match:
      starts.append((number, len(match.group(1)), slug(match.group(2), seen)))
    for anchor in HTML_ID.findall(line):
      starts.append((number, 7, anchor))
  result = {}
  for i, (start, level, anchor) in enumerate(starts):
    end = next((s for s, lvl, _ in starts[i + 1 :] if lvl <= level), len(raw))
    result[anchor] = "\n".join(raw[start:end])
  return result


def _without_fences(text: str) -> str:
  """Fenced code blocks blanked, the lines kept (a `#` comment in code is no heading)."""
  lines, in_fence = [], False
  for line in text.splitlines():
    if re.match(r"^\s*(```|~~~)", line):
      in_fence = not in_fence
      lines.append("")
    else:
      lines.append("" if in_fence else line)
  return "\n".join(lines)


def _canonical(text: str) -> str:
  """One spelling per unit and single spaces, so that a figure compares as a string."""
  text = text.replace("\u00a0", " ").replace("\u2009", " ")
  text = re.sub(r"\bminutes?\b", "min", text)
  text = re.sub(r"\bseconds?\b", "s", text)
  text = re.sub(r"\bhours?\b", "h", text)
  text = re.sub(r"\b(m?s) per step\b", r"\1/step", text)
  return re.sub(r"\s+", " ", text)


def units(text: str) -> list[tuple[str, list[str]]]:
  """README's prose split into sentences and its tables into rows, code removed.

  A table row also carries the links of the sentence that introduces the table (the last
  sentence before it, when it ends with a colon).

  Args:
    text: README's markdown.

  Returns:
    (sentence or row, the link targets that count for it) pairs.
  """
  text = _without_code(text)
  for phrase in NOT_FIGURES:
    text = text.replace(phrase, " " * len(phrase))
  blocks, block = [], []
  for line in text.splitlines():
    in_table = bool(block) and block[-1].startswith("|")
    starts_item = bool(re.match(r"^\s*(?:[-*]|\d+\.)\s", line))
    starts_table = line.startswith("|") and not in_table
    if not line.strip() or line.startswith("#") or ((starts_item or starts_table) and block):
      if block:
        blocks.append(block)
      block = []
    if line.strip() and not line.startswith("#"):
      block.append(line)
  if block:
    blocks.append(block)
  result, introduction = [], []
  for block in blocks:
    if block[0].startswith("|"):
      for row in block:
        result.append((row, [m.group(2) for m in LINK.finditer(row)] + introduction))
      introduction = []
      continue
    paragraph = " ".join(line.strip() for line in block)
    for abbreviation in ABBREVIATIONS:
      paragraph = paragraph.replace(abbreviation, abbreviation.replace(".", "\0"))
    sentences = [s.replace("\0", ".") for s in SENTENCE_END.split(paragraph)]
    for sentence in sentences:
      result.append((sentence, [m.group(2) for m in LINK.finditer(sentence)]))
    last = sentences[-1].rstrip()
    introduction = result[-1][1] if last.endswith(":") else []
  return result


def figure_problems(readme: str, results: str, results_link: str = "docs/results.md") -> list[str]:
  """What is wrong with the figures of a README against its results file.

  Args:
    readme: README's markdown.
    results: docs/results.md's markdown.
    results_link: how README links to the results file.

  Returns:
    One line per figure that cites no results section, or that its cited sections do not state;
    one line per link to a results section that does not exist.
  """
  results_sections = {anchor: _canonical(body) for anchor, body in sections(results).items()}
  problems = []
  for sentence, targets in units(readme):
    figures = [m.group(0) for m in FIGURE.finditer(_canonical(LINK.sub(r"\1", sentence)))]
    cited = []
    for target in targets:
      file_part, _, anchor = target.partition("#")
      if file_part != results_link or not anchor:
        continue
      if anchor not in results_sections:
        problems.append(f"{target}: no such section in {results_link}")
        continue
      cited.append(anchor)
    for figure in figures:
      if not cited:
        problems.append(f"{figure!r} cites no {results_link}#section: {sentence.strip()[:120]}")
        continue
      # "633.6" matches "633.6M" but not "633.62"; "9 min" does not match "9 mins".
      end = r"(?![\w])" if figure[-1].isalpha() else r"(?!\d|[.,]\d)"
      pattern = re.compile(rf"(?<![\w.,]){re.escape(figure)}{end}")
      if not any(pattern.search(results_sections[anchor]) for anchor in cited):
        problems.append(f"{figure!r} is not in {results_link}#{' or #'.join(cited)}")
  return list(dict.fromkeys(problems))  # A table's rows share their introduction's links.


def anchor_problems(path: pathlib.Path) -> list[str]:
  """Links in a markdown file whose `#anchor` names no heading of the file they point at.

  Args:
    path: a markdown file.

  Returns:
    One line per broken anchor ("file:line: target").
  """
  text = _without_code(path.read_text(encoding="utf-8"))
  problems = []
  for match in LINK.finditer(text):
    target = match.group(2)
    if "#" not in target or target.startswith(("http://", "https://", "mailto:")):
      continue
    file_part, _, anchor = target.partition("#")
    linked = (path.parent / file_part).resolve() if file_part else path
    if linked.suffix != ".md" or not linked.is_file():
      continue  # A missing file is docs_links_test's to report.
    if anchor not in sections(linked.read_text(encoding="utf-8")):
      number = text.count("\n", 0, match.start()) + 1
      problems.append(f"{path.name}:{number}: {target}")
  return problems


def test_readme_figures_are_the_ones_results_md_states():
  readme = README.read_text(encoding="utf-8")
  figures = [f for s, _ in units(readme) for f in FIGURE.finditer(_canonical(s))]
  assert len(figures) > 30, "too few figures found: is the figure pattern right?"
  problems = figure_problems(readme, RESULTS.read_text(encoding="utf-8"))
  assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda path: path.name)
def test_every_anchor_link_names_a_heading(path):
  problems = anchor_problems(path)
  assert not problems, "\n".join(problems)


def test_github_anchors():
  seen = {}
  assert slug("In-domain text–image encoder", seen) == "in-domain-textimage-encoder"
  assert slug("CPU kernels: XLA's own or oneDNN", seen) == "cpu-kernels-xlas-own-or-onednn"
  assert slug("GAN_SR3 trained on a 2-core CPU", seen) == "gan_sr3-trained-on-a-2-core-cpu"
  assert slug("`:quick` sizes", seen) == "quick-sizes"
  assert slug("`:quick` sizes", seen) == "quick-sizes-1"


def test_a_changed_figure_a_bare_figure_and_a_broken_anchor_are_caught(tmp_path):
  results = "# R\n\n## Main job\n\nWhole run: 9 min 20 s, PSNR 26.97 dB.\n\n## Other\n\n1.6 s\n"
  good = "The job takes 9 min 20 s ([main job](docs/results.md#main-job)).\n"
  assert figure_problems(good, results) == []
  changed = good.replace("9 min 20 s", "about 7 minutes")
  assert figure_problems(changed, results) == ["'7 min' is not in docs/results.md#main-job"]
  wrong_section = good.replace("#main-job", "#other")
  assert figure_problems(wrong_section, results) == ["'9 min 20 s' is not in docs/results.md#other"]
  bare = "The job scores 26.97 dB.\n\n| what | figure |\n| --- | --- |\n| job | 1.6 s |\n"
  assert [p.split(" cites")[0] for p in figure_problems(bare, results)] == [
      "'26.97 dB'",
      "'1.6 s'",
  ]
  table = "| what | figure |\n| --- | --- |\n| job | 1.6 s |\n"
  assert figure_problems("Timed ([other](docs/results.md#other)):\n\n" + table, results) == []
  assert figure_problems("Timed ([other](docs/results.md#other)).\n\n" + table, results)
  # The same check on copies of the real files, each broken once.
  (tmp_path / "docs").mkdir()
  (tmp_path / "docs" / "results.md").write_text(RESULTS.read_text(encoding="utf-8"))
  readme = README.read_text(encoding="utf-8")
  assert "9 min 20 s" in readme
  results_md = RESULTS.read_text(encoding="utf-8")
  assert figure_problems(readme.replace("9 min 20 s", "9 min 21 s", 1), results_md)
  broken = tmp_path / "README.md"
  broken.write_text(readme.replace("docs/results.md#tpu-fit", "docs/results.md#tpu-fits", 1))
  assert anchor_problems(broken) == [
      f"README.md:{_line_of(broken, '#tpu-fits')}: docs/results.md#tpu-fits"
  ]


def _line_of(path: pathlib.Path, needle: str) -> int:
  return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)
