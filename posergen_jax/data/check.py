r"""Checks a dataset folder before building it: what a build would read, skip or stop on.

  python -m posergen_jax.data.check DIR

DIR is a `posters` folder (images and `captions.jsonl`, or Hugging Face imagefolder's
`metadata.jsonl`) or a `cub_birds` folder (`CUB_200_2011/` and `text_c10/`). Prints per split the
examples, the images a build would skip (unreadable, corrupt or truncated; the first few named),
distinct captions per example, caption length in characters, and the category histogram. Exits 1,
with one line naming the file, on what would stop a build: a missing or malformed file, or a
split with no usable image.
"""

import collections
from collections.abc import Sequence
import dataclasses
import statistics
import sys

from etils import epath

from posergen_jax.data import image_files
from posergen_jax.data.cub_birds import manual_files
from posergen_jax.data.posters import captions_file
from posergen_jax.io import errors, progress


@dataclasses.dataclass(frozen=True)
class Entry:
  """One example a build would write: its image, split, captions and category (or None)."""

  path: epath.Path
  split: str
  captions: tuple[str, ...]
  category: str | None


@dataclasses.dataclass
class SplitReport:
  """What one split holds: its entries and the images a build would skip (their errors)."""

  entries: list[Entry]
  bad_images: list[str]

  @property
  def usable(self) -> int:
    return len(self.entries) - len(self.bad_images)


def layout(directory: epath.Path) -> str:
  """'posters' or 'cub_birds', by the files `directory` holds.

  Raises:
    MissingFileError: it holds neither layout (names what each needs).
  """
  if any(
      (directory / name).exists()
      for name in (captions_file.CAPTIONS_FILE, captions_file.METADATA_FILE)
  ):
    return "posters"
  if (directory / "CUB_200_2011").is_dir():
    return "cub_birds"
  raise errors.MissingFileError(
      f"{directory} holds neither a posters folder ({captions_file.CAPTIONS_FILE} or "
      f"{captions_file.METADATA_FILE} beside the images) nor a cub_birds folder (CUB_200_2011/ "
      "and text_c10/)."
  )


def entries(directory: epath.Path) -> list[Entry]:
  """Every example a build of `directory` would read, checked as the build checks them.

  Raises:
    UserError: a missing or malformed file (names it and the line).
  """
  if layout(directory) == "posters":
    return [
        Entry(p.path, p.split, p.captions, p.category)
        for p in captions_file.read_posters(directory)
    ]
  return [
      Entry(b.path, "train" if b.is_train else "test", b.captions, b.label_name)
      for b in manual_files.read_birds(directory)
  ]


def check_images(found: Sequence[Entry]) -> dict[str, SplitReport]:
  """Per split, the entries and the images a build would skip (decoding each, with a bar)."""
  reports = collections.defaultdict(lambda: SplitReport([], []))
  for entry in progress.bar(found, desc="reading images", unit="image"):
    reports[entry.split].entries.append(entry)
    try:
      image_files.read_rgb(entry.path)
    except image_files.BadImageError as e:
      reports[entry.split].bad_images.append(str(e))
  return dict(reports)


def summary(reports: dict[str, SplitReport]) -> str:
  """The printed report: one block per split."""
  lines = []
  for split, report in sorted(reports.items()):
    distinct = [len(set(e.captions)) for e in report.entries]
    lengths = [len(c) for e in report.entries for c in set(e.captions)]
    categories = collections.Counter(e.category or "(none)" for e in report.entries)
    lines += [
        f"{split}: {len(report.entries)} examples, {report.usable} usable images, "
        f"{len(report.bad_images)} to skip",
        f"  distinct captions per example: min {min(distinct)}, median "
        f"{statistics.median(distinct):g}, max {max(distinct)}",
        f"  caption length (characters): min {min(lengths)}, median "
        f"{statistics.median(lengths):g}, max {max(lengths)}",
        f"  categories ({len(categories)}): "
        + ", ".join(f"{name} {count}" for name, count in categories.most_common()),
    ]
    lines += [f"  skipped: {error}" for error in report.bad_images[: image_files.MAX_NAMES_LOGGED]]
  return "\n".join(lines)


def build_stoppers(reports: dict[str, SplitReport]) -> list[str]:
  """What would stop a build once the files parse: a split none of whose images can be used."""
  return [
      f"split {split!r}: none of its {len(r.entries)} images can be used"
      for split, r in sorted(reports.items())
      if not r.usable
  ]


def main(argv: list[str]) -> int:
  """`python -m posergen_jax.data.check DIR`: prints the report; 0 when a build would go
  through, 1 (with one error line) when it would stop."""
  if len(argv) != 2 or argv[1].startswith("-"):
    print("usage: python -m posergen_jax.data.check DIR (a posters or cub_birds folder)")
    return 2
  directory = epath.Path(argv[1])
  try:
    kind = layout(directory)
    reports = check_images(entries(directory))
  except errors.UserError as e:
    print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
    return 1
  print(f"{directory} ({kind}):")
  print(summary(reports))
  stoppers = build_stoppers(reports)
  if stoppers:
    print(f"error: a build would stop: {'; '.join(stoppers)}", file=sys.stderr)
    return 1
  print("A build would go through.")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
