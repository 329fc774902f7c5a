"""Reads CUB-200-2011 and StackGAN's caption and embedding files from a manual_dir.

Layout (`<manual_dir>/...`):
  CUB_200_2011/images.txt, train_test_split.txt, bounding_boxes.txt,
    image_class_labels.txt, classes.txt, images/<class>/<image>.jpg
  text_c10/<class>/<image>.txt                     10 captions, one a line
  birds/{train,test}/char-CNN-RNN-embeddings.pickle, filenames.pickle
                                                   (only for `*_emb` configs)

Everything but the image pixels is read and checked here, before the build
decodes any image, so a wrong manual_dir fails at once with the file named.
"""

from collections.abc import Callable
import dataclasses
from typing import TypeVar

from etils import epath
import numpy as np

from posergen_jax.io import errors, safe_pickle

NUM_CLASSES = 200
NUM_CAPTIONS = 10
EMBEDDING_DIM = 1024
EMBEDDING_SPLITS = ("train", "test")

_CUB_HINT = (
    "download CUB_200_2011.tgz from "
    "https://www.vision.caltech.edu/datasets/cub_200_2011/ and extract it there"
)
_TEXT_HINT = (
    "StackGAN's bird captions: the text_c10 folder of birds.zip from "
    "https://github.com/hanzhanggit/StackGAN (Reed et al.'s cvpr2016_cub captions)"
)
_EMBEDDING_HINT = (
    "StackGAN's char-CNN-RNN embeddings for birds, from "
    "https://github.com/hanzhanggit/StackGAN (Data/birds/{train,test}); "
    "or use a config without the '_emb' suffix"
)

INSTRUCTIONS = f"""\
Put these in the manual_dir (by default `<data_dir>/downloads/manual/`):
  CUB_200_2011/   ({_CUB_HINT})
    images.txt, train_test_split.txt, bounding_boxes.txt, image_class_labels.txt,
    classes.txt, images/<class>/<image>.jpg
  text_c10/<class>/<image>.txt   ({_TEXT_HINT})
  birds/train/ and birds/test/, each with char-CNN-RNN-embeddings.pickle and
    filenames.pickle (only for the `*_emb` configs; {_EMBEDDING_HINT})
"""

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class Bird:
  """One CUB image and everything the builder stores with it.

  Attributes:
    filename: path as in images.txt,
      e.g. '001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg'.
    path: the image file.
    bbox: (x, y, width, height), truncated to whole pixels as StackGAN's `load_bbox`.
    label: class id - 1, in [0, NUM_CLASSES).
    label_name: the class name in classes.txt, e.g. '001.Black_footed_Albatross'.
    captions: the first NUM_CAPTIONS non-blank lines of its text_c10 file, in order.
    is_train: train_test_split.txt's flag.
  """

  filename: str
  path: epath.Path
  bbox: tuple[int, int, int, int]
  label: int
  label_name: str
  captions: tuple[str, ...]
  is_train: bool

  @property
  def stem(self) -> str:
    """The filename without its extension: StackGAN's filenames.pickle entry."""
    return self.filename.rsplit(".", 1)[0]


def _missing(path: epath.Path, hint: str) -> errors.MissingFileError:
  return errors.MissingFileError(f"cub_birds: expected {path} ({hint}).\n{INSTRUCTIONS}")


def _read_table(path: epath.Path, parse: Callable[[list[str]], _T]) -> dict[int, _T]:
  """{id: parse(fields)} of a CUB index file whose lines are '<id> <field> ...'."""
  if not path.exists():
    raise _missing(path, _CUB_HINT)
  table = {}
  for line_number, line in enumerate(path.read_text().splitlines(), start=1):
    if not line.strip():
      continue
    fields = line.split()
    try:
      image_id, value = int(fields[0]), parse(fields[1:])
    except (ValueError, IndexError) as e:
      raise errors.InputError(
          f"cub_birds: {path}:{line_number}: cannot parse {line!r} ({e})."
      ) from e
    if image_id in table:
      raise errors.InputError(f"cub_birds: {path}:{line_number}: id {image_id} appears twice.")
    table[image_id] = value
  return table


def _one(fields: list[str]) -> str:
  (value,) = fields
  return value


def _split_flag(fields: list[str]) -> bool:
  flag = _one(fields)
  if flag not in ("0", "1"):
    raise ValueError(f"the train flag must be 0 or 1, not {flag!r}")
  return flag == "1"


def _bbox(fields: list[str]) -> tuple[int, int, int, int]:
  x, y, w, h = (int(float(v)) for v in fields)
  if w <= 0 or h <= 0 or x < 0 or y < 0:
    raise ValueError("a box needs x, y >= 0 and width, height > 0")
  return x, y, w, h


def _class_id(fields: list[str]) -> int:
  class_id = int(_one(fields))
  if not 1 <= class_id <= NUM_CLASSES:
    raise ValueError(f"class ids run from 1 to {NUM_CLASSES}")
  return class_id


def _captions(path: epath.Path) -> tuple[str, ...]:
  if not path.exists():
    raise _missing(path, _TEXT_HINT)
  lines = [line.strip() for line in path.read_bytes().decode("utf-8", "replace").splitlines()]
  captions = tuple(line for line in lines if line)
  if len(captions) < NUM_CAPTIONS:
    raise errors.InputError(
        f"cub_birds: {path} has {len(captions)} captions; expected {NUM_CAPTIONS}, one a line."
    )
  return captions[:NUM_CAPTIONS]


def read_birds(manual_dir: epath.PathLike) -> list[Bird]:
  """All images listed in CUB_200_2011/images.txt, in its order, checked.

  Raises:
    FileNotFoundError: an index file, a listed image or its caption file is
      missing; the message names the expected path.
    ValueError: a malformed line (file and line number named), an id missing
      from one of the index files, or a caption file with fewer than 10 lines.
  """
  manual_dir = epath.Path(manual_dir)
  cub = manual_dir / "CUB_200_2011"
  text_dir = manual_dir / "text_c10"
  files = {
      name: cub / name
      for name in (
          "images.txt",
          "train_test_split.txt",
          "bounding_boxes.txt",
          "image_class_labels.txt",
          "classes.txt",
      )
  }
  images = _read_table(files["images.txt"], _one)
  is_train = _read_table(files["train_test_split.txt"], _split_flag)
  bboxes = _read_table(files["bounding_boxes.txt"], _bbox)
  labels = _read_table(files["image_class_labels.txt"], _class_id)
  class_names = _read_table(files["classes.txt"], _one)
  for name, table in (
      ("train_test_split.txt", is_train),
      ("bounding_boxes.txt", bboxes),
      ("image_class_labels.txt", labels),
  ):
    if missing := sorted(set(images) - set(table)):
      raise errors.InputError(
          f"cub_birds: {files[name]} has no line for image id(s) {missing[:5]} "
          f"of {files['images.txt']}."
      )
  if not text_dir.exists():
    raise _missing(text_dir, _TEXT_HINT)
  birds = []
  for image_id, filename in images.items():
    path = cub / "images" / filename
    if not path.exists():
      raise _missing(path, f"listed as id {image_id} in {files['images.txt']}")
    class_id = labels[image_id]
    if class_id not in class_names:
      raise errors.InputError(
          f"cub_birds: {files['classes.txt']} has no class {class_id} (of image id {image_id})."
      )
    birds.append(
        Bird(
            filename=filename,
            path=path,
            bbox=bboxes[image_id],
            label=class_id - 1,
            label_name=class_names[class_id],
            captions=_captions(text_dir / (filename.rsplit(".", 1)[0] + ".txt")),
            is_train=is_train[image_id],
        )
    )
  return birds


def _load_pickle(path: epath.Path):
  if not path.exists():
    raise _missing(path, _EMBEDDING_HINT)
  # Python 2 pickles of numpy arrays and lists of names: numpy's globals are the only ones allowed.
  return safe_pickle.load(path, encoding="latin1")


def read_embeddings(manual_dir: epath.PathLike, birds: list[Bird]) -> dict[str, np.ndarray]:
  """{bird.filename: float32 [NUM_CAPTIONS, EMBEDDING_DIM]} from StackGAN's pickles.

  Rows are matched to images by name (filenames.pickle holds '<class>/<image>'
  without extension), from both birds/train and birds/test, so the pickles'
  order and split do not matter.

  Raises:
    FileNotFoundError: a pickle is missing; the message names it.
    ValueError: a pickle's shape does not fit its filenames, or a bird has no row.
    pickle.UnpicklingError: a pickle names a global other than numpy's array globals
      (safe_pickle.RefusedGlobalError, naming the file and the global).
  """
  rows = {}
  for split in EMBEDDING_SPLITS:
    folder = epath.Path(manual_dir) / "birds" / split
    names = [
        n.decode("latin1") if isinstance(n, bytes) else str(n)
        for n in _load_pickle(folder / "filenames.pickle")
    ]
    embedding_path = folder / "char-CNN-RNN-embeddings.pickle"
    embeddings = np.asarray(_load_pickle(embedding_path), np.float32)
    if embeddings.shape != (len(names), NUM_CAPTIONS, EMBEDDING_DIM):
      raise errors.InputError(
          f"cub_birds: {embedding_path} holds an array of shape {embeddings.shape}; "
          f"expected ({len(names)}, {NUM_CAPTIONS}, {EMBEDDING_DIM}) to match "
          f"{folder / 'filenames.pickle'}."
      )
    rows.update(zip(names, embeddings))
  if missing := [bird.stem for bird in birds if bird.stem not in rows]:
    raise errors.InputError(
        f"cub_birds: {len(missing)} image(s) have no char-CNN-RNN embedding in "
        f"{epath.Path(manual_dir) / 'birds'}/*/filenames.pickle, e.g. {missing[:3]}."
    )
  return {bird.filename: rows[bird.stem] for bird in birds}
