"""Reads and checks a poster collection's `captions.jsonl` or `metadata.jsonl`.

One JSON object a line (blank lines are ignored, unknown keys too):
  {"image": "movies/0001.jpg",        path relative to the manual_dir
   "captions": ["...", ...],          1 or more strings
   "category": "concert",             optional, free-form; see `category_labels`
   "split": "test"}                   optional "train" or "test"; see `hash_split`

A folder in Hugging Face's `imagefolder` layout holds `metadata.jsonl` instead,
read the same way with "file_name" for "image" and "text" for "captions" ("text"
may also be one string). `source_path` says which file a folder's build reads.

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
METADATA_FILE = "metadata.jsonl"
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
Or, as Hugging Face's imagefolder, a `{METADATA_FILE}` whose lines are
  {{"file_name": "<path relative to the manual_dir>", "text": "..." or ["...", ...]}}
with the same optional "category" and "split".
"""


@dataclasses.dataclass(frozen=True)
class _Keys:
  """Where a line of one source file holds the image path and the captions.

  Attributes:
    image: the key of the image path.
    captions: the key of the captions.
    one_string: whether the captions may also be a single string (one caption).
  """

  image: str
  captions: str
  one_string: bool


_KEYS = {
    CAPTIONS_FILE: _Keys("image", "captions", one_string=False),
    METADATA_FILE: _Keys("file_name", "text", one_string=True),
}


@dataclasses.dataclass(frozen=True)
class Poster:
  """One line of captions.jsonl (or metadata.jsonl), checked.

  Attributes:
    filename: the "image" ("file_name") path as written, relative to the manual_dir.
    path: the image file.
    captions: NUM_CAPTIONS strings (`fixed_captions`).
    category: its category, normalized (`normalize_category`), or None when it has none.
    split: "train" or "test".
    line: its line number in the file.
  """

  filename: str
  path: epath.Path
  captions: tuple[str, ...]
  category: str | None
  split: str
  line: int


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


def category_labels(
    posters: Sequence[Poster], categories: Sequence[str] | None, captions_path: epath.PathLike
) -> tuple[tuple[str, ...], list[int]]:
  """(label names, each poster's label): the names are `categories` when given, else every
  category the posters name, sorted; a poster without one gets -1.

  Raises:
    InputError: a poster's category is not one of the given `categories` (names its line).
  """
  names = tuple(categories) if categories else tuple(sorted({p.category for p in posters} - {None}))
  index = {name: i for i, name in enumerate(names)}
  for poster in posters:
    if poster.category is not None and poster.category not in index:
      raise errors.InputError(
          f"posters: {captions_path}:{poster.line}: unknown category {poster.category!r}; this "
          f"config knows {list(names)}"
      )
  return names, [-1 if p.category is None else index[p.category] for p in posters]


def source_path(manual_dir: epath.PathLike) -> epath.Path:
  """The file a build of `manual_dir` reads: its captions.jsonl or its metadata.jsonl.

  Raises:
    MissingFileError: it holds neither (names both, with `INSTRUCTIONS`).
    InputError: it holds both (names both).
  """
  manual_dir = epath.Path(manual_dir)
  found = [manual_dir / name for name in _KEYS if (manual_dir / name).exists()]
  if not found:
    raise errors.MissingFileError(
        f"posters: expected {manual_dir / CAPTIONS_FILE} or {manual_dir / METADATA_FILE}\n"
        f"{INSTRUCTIONS}"
    )
  if len(found) > 1:
    raise errors.InputError(
        f"posters: {manual_dir} holds both {CAPTIONS_FILE} and {METADATA_FILE}; a build reads "
        "one: remove the other."
    )
  return found[0]


def fingerprint(manual_dir: epath.PathLike) -> str:
  """A hex digest of what a build reads: the bytes of its `source_path` and each image that
  lists (name and size in bytes, in file order; unlisted files are not read). Other content,
  other digest; a folder with neither file has the digest of nothing.

  Raises:
    InputError: the folder holds both captions.jsonl and metadata.jsonl.
  """
  manual_dir = epath.Path(manual_dir)
  digest = hashlib.sha256()
  try:
    path = source_path(manual_dir)
  except errors.MissingFileError:
    return digest.hexdigest()
  text = path.read_bytes()
  digest.update(text)
  for line in text.decode("utf-8-sig", errors="replace").splitlines():
    try:
      filename = json.loads(line).get(_KEYS[path.name].image)
    except (json.JSONDecodeError, AttributeError):
      continue
    if isinstance(filename, str) and (manual_dir / filename).is_file():
      digest.update(f"\n{filename}\t{(manual_dir / filename).stat().length}".encode())
  return digest.hexdigest()


def _parse_line(line: str, line_number: int, manual_dir: epath.Path, keys: _Keys) -> Poster:
  """The Poster of one non-blank line of the file read by `keys`; ValueError or
  FileNotFoundError says what is wrong."""
  try:
    record = json.loads(line)
  except json.JSONDecodeError as e:
    raise ValueError(f"not valid JSON ({e})") from e
  if not isinstance(record, dict):
    raise ValueError("expected a JSON object")
  filename, captions = record.get(keys.image), record.get(keys.captions)
  if keys.one_string and isinstance(captions, str):
    captions = [captions]
  if (
      not isinstance(filename, str)
      or not filename
      or filename.startswith("/")
      or (".." in filename.split("/"))
  ):
    raise ValueError(f'"{keys.image}" must be a path inside the manual_dir, not {filename!r}')
  if (
      not isinstance(captions, list)
      or not captions
      or not all(isinstance(c, str) and c.strip() for c in captions)
  ):
    raise ValueError(
        f'"{keys.captions}" must be a non-empty list of non-empty strings'
        + (" or one non-empty string" if keys.one_string else "")
    )
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
      category=normalize_category(category) if category and category.strip() else None,
      split=split,
      line=line_number,
  )


def read_posters(manual_dir: epath.PathLike) -> list[Poster]:
  """All posters of the manual_dir's `source_path`, in file order, checked.

  Args:
    manual_dir: the folder holding captions.jsonl (or metadata.jsonl) and the images.

  Raises:
    FileNotFoundError: neither file or a listed image is there; the
      message names the expected path (and the line).
    ValueError: a malformed line (the message names the file and line
      number), no line at all, or both files present.
  """
  manual_dir = epath.Path(manual_dir)
  source = source_path(manual_dir)
  posters, first_line = [], {}
  lines = source.read_text(encoding="utf-8-sig").splitlines()
  for line_number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    where = f"posters: {source}:{line_number}"
    try:
      poster = _parse_line(line, line_number, manual_dir, _KEYS[source.name])
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
    raise errors.InputError(f"posters: {source} lists no posters.")
  return posters
