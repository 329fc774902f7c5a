"""Reads and checks a poster collection's `captions.jsonl`.

One JSON object a line (blank lines are ignored, unknown keys too):
  {"image": "movies/0001.jpg",        path relative to the manual_dir
   "captions": ["...", ...],          1 or more strings
   "category": "concert",             optional; see `category_label`
   "split": "test"}                   optional "train" or "test"; see `hash_split`

Captions are fixed at NUM_CAPTIONS per poster by `fixed_captions`: fewer are
repeated in order (a, b, c -> a, b, c, a, b, c, a, b, c, a), more are cut to
the first NUM_CAPTIONS.
"""

from collections.abc import Sequence
import dataclasses
import hashlib
import itertools
import json

from etils import epath

from posergen_jax.io import errors

CAPTIONS_FILE = "captions.jsonl"
NUM_CAPTIONS = 10
SPLITS = ("train", "test")
# Share of the posters without a "split" field that `hash_split` sends to test.
TEST_PERCENT = 10

INSTRUCTIONS = f"""\
Put the poster images (any layout of folders) and a `{CAPTIONS_FILE}` in the
manual_dir (by default `<data_dir>/downloads/manual/`). Each line of
`{CAPTIONS_FILE}` is one JSON object:
  {{"image": "<path relative to the manual_dir>", "captions": ["...", ...],
   "category": "<optional category>", "split": "<optional train|test>"}}
"""


@dataclasses.dataclass(frozen=True)
class Poster:
  """One line of captions.jsonl, checked.

  Attributes:
    filename: the "image" path as written, relative to the manual_dir.
    path: the image file.
    captions: NUM_CAPTIONS strings (`fixed_captions`).
    label: index of its category in the config's list, or -1 when it has none.
    split: "train" or "test".
  """

  filename: str
  path: epath.Path
  captions: tuple[str, ...]
  label: int
  split: str


def fixed_captions(captions: Sequence[str]) -> tuple[str, ...]:
  """Exactly NUM_CAPTIONS captions: `captions` repeated in order, or cut (see module doc)."""
  return tuple(itertools.islice(itertools.cycle(captions), NUM_CAPTIONS))


def hash_split(filename: str) -> str:
  """'test' for about TEST_PERCENT% of file names, else 'train'; fixed by the name alone."""
  digest = hashlib.sha256(filename.encode("utf-8")).digest()
  return "test" if int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT else "train"


def normalize_category(name: str) -> str:
  """'Academic Conference' / 'academic-conference' -> 'academic_conference'."""
  return "_".join(name.strip().lower().replace("-", " ").split())


def category_label(category: str | None, categories: Sequence[str]) -> int:
  """Index of `category` (normalized) in `categories`; -1 for None or ''.

  Raises:
    ValueError: the category is not one of `categories`.
  """
  if not category:
    return -1
  name = normalize_category(category)
  if name not in categories:
    raise ValueError(f"unknown category {category!r}; this config knows {list(categories)}")
  return list(categories).index(name)


def _parse_line(line: str, manual_dir: epath.Path, categories: Sequence[str]) -> Poster:
  """The Poster of one non-blank line; ValueError or FileNotFoundError says what is wrong."""
  try:
    record = json.loads(line)
  except json.JSONDecodeError as e:
    raise ValueError(f"not valid JSON ({e})") from e
  if not isinstance(record, dict):
    raise ValueError("expected a JSON object")
  filename, captions = record.get("image"), record.get("captions")
  if (
      not isinstance(filename, str)
      or not filename
      or filename.startswith("/")
      or (".." in filename.split("/"))
  ):
    raise ValueError(f'"image" must be a path inside the manual_dir, not {filename!r}')
  if (
      not isinstance(captions, list)
      or not captions
      or not all(isinstance(c, str) and c.strip() for c in captions)
  ):
    raise ValueError('"captions" must be a non-empty list of non-empty strings')
  split = record.get("split") or hash_split(filename)
  if split not in SPLITS:
    raise ValueError(f'"split" must be one of {SPLITS}, not {split!r}')
  category = record.get("category")
  if category is not None and not isinstance(category, str):
    raise ValueError(f'"category" must be a string, not {category!r}')
  path = manual_dir / filename
  if not path.exists():
    raise FileNotFoundError(f"expected the image {path}")
  return Poster(
      filename=filename,
      path=path,
      captions=fixed_captions([c.strip() for c in captions]),
      label=category_label(category, categories),
      split=split,
  )


def read_posters(manual_dir: epath.PathLike, categories: Sequence[str]) -> list[Poster]:
  """All posters of `<manual_dir>/captions.jsonl`, in file order, checked.

  Args:
    manual_dir: the folder holding captions.jsonl and the images.
    categories: the config's category names (normalized, snake_case).

  Raises:
    FileNotFoundError: captions.jsonl or a listed image is missing; the
      message names the expected path (and the line).
    ValueError: a malformed line (the message names the file and line
      number), or no line at all.
  """
  manual_dir = epath.Path(manual_dir)
  captions_path = manual_dir / CAPTIONS_FILE
  if not captions_path.exists():
    raise errors.MissingFileError(f"posters: expected {captions_path}\n{INSTRUCTIONS}")
  posters, first_line = [], {}
  lines = captions_path.read_text(encoding="utf-8-sig").splitlines()
  for line_number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    where = f"posters: {captions_path}:{line_number}"
    try:
      poster = _parse_line(line, manual_dir, categories)
    except FileNotFoundError as e:
      raise errors.MissingFileError(f"{where}: {e}") from e
    except ValueError as e:
      raise errors.InputError(f"{where}: {e}") from e
    if poster.filename in first_line:
      raise errors.InputError(
          f"{where}: {poster.filename!r} is already on line {first_line[poster.filename]}"
      )
    first_line[poster.filename] = line_number
    posters.append(poster)
  if not posters:
    raise errors.InputError(f"posters: {captions_path} lists no posters.")
  return posters
