"""StackGAN's precomputed char-CNN-RNN caption embeddings (CUB, Oxford flowers).

StackGAN ships, per split directory (e.g. `birds/train/`), `char-CNN-RNN-embeddings.pickle`: the
outputs of Reed et al.'s released char-CNN-RNN encoder for every caption of every image, an array
[N, captions, 1024] or a list of N arrays [captions, 1024]; and `filenames.pickle`: the N image
names, e.g. '002.Laysan_Albatross/Laysan_Albatross_0002_1027'. Both were written by Python 2, so
they are read with encoding='latin1' (Python 2 `str` objects and numpy buffers then load).
"""
import os
import pickle
from typing import Any

import numpy as np

EMBEDDINGS_FILE = 'char-CNN-RNN-embeddings.pickle'
FILENAMES_FILE = 'filenames.pickle'


def _load_pickle(path: str) -> Any:
  """Unpickles a Python 2 era file, with errors that name it."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'StackGAN embedding file not found: {path}')
  with open(path, 'rb') as f:
    try:
      return pickle.load(f, encoding='latin1')
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
      raise ValueError(f'{path} is not a readable pickle: {e}') from e


def load_stackgan_embeddings(split_dir: str, num_captions: int = 10, dim: int = 1024,
                             embeddings_file: str = EMBEDDINGS_FILE,
                             filenames_file: str = FILENAMES_FILE) -> dict[str, np.ndarray]:
  """StackGAN split directory -> {image name: float32 [num_captions, dim] caption embeddings}.

  Raises FileNotFoundError for a missing file, and ValueError naming the file when the embeddings
  are not [N, num_captions, dim], when the number of names differs from N, or a name repeats.
  """
  embeddings_path = os.path.join(split_dir, embeddings_file)
  filenames_path = os.path.join(split_dir, filenames_file)
  raw = _load_pickle(embeddings_path)
  try:
    embeddings = np.asarray(raw, dtype=np.float32)
  except (TypeError, ValueError) as e:
    raise ValueError(f'{embeddings_path} does not hold a numeric array of embeddings: {e}') from e
  if embeddings.ndim != 3 or embeddings.shape[1:] != (num_captions, dim):
    raise ValueError(f'{embeddings_path} must hold embeddings of shape [N, {num_captions}, {dim}]; '
                     f'got {embeddings.shape}')
  names = _load_pickle(filenames_path)
  if not isinstance(names, (list, tuple)):
    raise TypeError(f'{filenames_path} must hold a list of image names; '
                    f'got {type(names).__name__}')
  names = [n.decode('latin1') if isinstance(n, bytes) else n for n in names]
  if len(names) != len(embeddings):
    raise ValueError(f'{filenames_path} lists {len(names)} images but {embeddings_path} holds '
                     f'embeddings for {len(embeddings)}')
  if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
    raise ValueError(f'{filenames_path} must list distinct image names as strings')
  return dict(zip(names, embeddings))
