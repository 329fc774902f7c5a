"""A Chinese student of the English text tower: Chinese captions -> the tower's English space.

The CPU text tower (all-MiniLM-L6-v2) reads English only: its vocabulary holds few CJK
characters, so a Chinese caption comes out mostly as [UNK]. Multilingual knowledge distillation
(Reimers & Gurevych 2020) maps a translated sentence to the vector the teacher gives the original.
The bilingual datasets hold that parallel corpus already: caption k of a poster in Chinese and
caption k in English describe the same things from the same catalogue slots.

The student is a bag of character uni- and bigrams (the n-grams seen at least `min_count` times in
the training captions), weighted 1 + log(count) and L2-normalised, then one linear map to the
teacher's space, fitted in closed form by ridge regression onto the teacher's vectors of the
parallel English captions. Characters it never saw carry nothing; `unseen_characters` names them
so a prompt that uses them gets a warning.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
import dataclasses
import io

from etils import epath
import numpy as np

from posergen_jax.io import errors, files

# Code point ranges of CJK ideographs (the unified blocks, extension A and B, compatibility).
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF))


def is_cjk(char: str) -> bool:
  """Whether `char` (one character) is a CJK ideograph."""
  code = ord(char)
  return any(low <= code <= high for low, high in _CJK_RANGES)


def has_cjk(text: str) -> bool:
  """Whether `text` holds any CJK ideograph: such prompts are read by the student."""
  return any(is_cjk(char) for char in text)


def ngrams(text: str) -> list[str]:
  """Character unigrams and bigrams of `text` (whitespace dropped, Latin letters lower-cased)."""
  chars = [char for char in text.lower() if not char.isspace()]
  return chars + [a + b for a, b in zip(chars, chars[1:])]


@dataclasses.dataclass(frozen=True)
class CharNgramStudent:
  """A fitted student.

  Attributes:
    vocabulary: the n-grams it reads (features are in this order), V strings.
    weights: float32 [V, E], the linear map to the teacher's space.
    bias: float32 [E].
  """

  vocabulary: tuple[str, ...]
  weights: np.ndarray
  bias: np.ndarray

  @property
  def dim(self) -> int:
    """E, the teacher's vector size."""
    return self.weights.shape[1]

  def features(self, texts: Sequence[str]) -> np.ndarray:
    """B strings -> float32 [B, V]: 1 + log(count) of each known n-gram, rows L2-normalised."""
    return bag_of_ngrams(texts, {gram: i for i, gram in enumerate(self.vocabulary)})

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    """B strings -> float32 [B, E] vectors in the teacher's space."""
    return self.features(texts) @ self.weights + self.bias

  def unseen_characters(self, text: str) -> list[str]:
    """The CJK characters of `text` the student never saw, in order of first appearance."""
    known = set(gram for gram in self.vocabulary if len(gram) == 1)
    return list(dict.fromkeys(c for c in text if is_cjk(c) and c.lower() not in known))

  def save(self, path: str | epath.PathLike) -> None:
    """Writes the student to `path` (an .npz; its folder made if missing), atomically."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        vocabulary=np.asarray(self.vocabulary, dtype=str),
        weights=self.weights,
        bias=self.bias,
    )
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomically(path, buffer.getvalue())

  @classmethod
  def load(cls, path: str | epath.PathLike) -> "CharNgramStudent":
    """The student saved at `path`.

    Raises:
      MissingFileError: no file at `path`.
      InputError: the file is not a saved student.
    """
    path = epath.Path(path)
    if not path.is_file():
      raise errors.MissingFileError(f"No Chinese text student at {path}.")
    try:
      with path.open("rb") as f:
        saved = np.load(io.BytesIO(f.read()), allow_pickle=False)
        return cls(
            tuple(str(gram) for gram in saved["vocabulary"]),
            saved["weights"].astype(np.float32),
            saved["bias"].astype(np.float32),
        )
    except (KeyError, ValueError, OSError) as e:
      raise errors.InputError(f"{path} is not a Chinese text student ({e}).") from e


def bag_of_ngrams(texts: Sequence[str], index: dict[str, int]) -> np.ndarray:
  """B strings -> float32 [B, len(index)]: 1 + log(count) per n-gram in `index`, L2-normalised."""
  out = np.zeros((len(texts), len(index)), np.float32)
  for row, text in enumerate(texts):
    for gram, count in Counter(g for g in ngrams(text) if g in index).items():
      out[row, index[gram]] = 1.0 + np.log(count)
  norms = np.linalg.norm(out, axis=1, keepdims=True)
  return out / np.maximum(norms, 1e-12)


def build_vocabulary(texts: Iterable[str], min_count: int) -> tuple[str, ...]:
  """The n-grams that occur at least `min_count` times over `texts`, most frequent first."""
  counts = Counter(gram for text in texts for gram in ngrams(text))
  return tuple(gram for gram, count in counts.most_common() if count >= min_count)


def fit(
    texts: Sequence[str], targets: np.ndarray, *, l2: float = 1e-2, min_count: int = 2
) -> CharNgramStudent:
  """The ridge-regression student mapping `texts` onto `targets`.

  Args:
    texts: N Chinese captions.
    targets: float32 [N, E], the teacher's vectors of their parallel English captions.
    l2: the ridge penalty λ on the weights (the bias is not penalised).
    min_count: the fewest occurrences an n-gram needs to enter the vocabulary.

  Returns:
    The student minimising Σ‖f(text)W + b − target‖² + λ‖W‖².
  """
  if len(texts) != len(targets) or not len(texts):
    raise ValueError(
        f"fit needs as many texts as targets (>0); got {len(texts)} and {len(targets)}."
    )
  vocabulary = build_vocabulary(texts, min_count)
  x = bag_of_ngrams(texts, {gram: i for i, gram in enumerate(vocabulary)}).astype(np.float64)
  y = np.asarray(targets, np.float64)
  x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
  xc, yc = x - x_mean, y - y_mean
  if x.shape[1] <= x.shape[0]:  # Primal: (XᵀX + λI) W = XᵀY.
    weights = np.linalg.solve(xc.T @ xc + l2 * np.eye(x.shape[1]), xc.T @ yc)
  else:  # Dual: W = Xᵀ (XXᵀ + λI)⁻¹ Y.
    weights = xc.T @ np.linalg.solve(xc @ xc.T + l2 * np.eye(x.shape[0]), yc)
  bias = y_mean - x_mean @ weights
  return CharNgramStudent(vocabulary, weights.astype(np.float32), bias.astype(np.float32))


def parallel_retrieval(
    student_vectors: np.ndarray, teacher_vectors: np.ndarray
) -> dict[str, float]:
  """How well student vectors of N Chinese captions find their parallel English captions.

  Args:
    student_vectors: float [N, E], the student's vectors of the Chinese captions.
    teacher_vectors: float [N, E], the teacher's vectors of the parallel English captions.

  Returns:
    {'top1': fraction whose own English caption is the nearest by cosine among all N,
     'cosine': mean cosine to the own English caption}.
  """
  s = student_vectors / np.linalg.norm(student_vectors, axis=1, keepdims=True)
  t = teacher_vectors / np.linalg.norm(teacher_vectors, axis=1, keepdims=True)
  similarity = s @ t.T
  return {
      "top1": float(np.mean(similarity.argmax(axis=1) == np.arange(len(s)))),
      "cosine": float(np.mean(np.diag(similarity))),
  }
