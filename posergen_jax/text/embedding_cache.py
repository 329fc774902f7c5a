"""Caption embeddings of a dataset, computed once by the frozen text tower and kept beside the
data.

`load_or_build` runs the tower over every caption of every example of a split, the captions
sharded over this process's devices, and stores `[N, captions, E]` float32 vectors with each
example's TFDS id in `<dataset dir>/caption_embeddings/<split>-<key>.npz`, where `key` hashes
what the vectors depend on (weights, tokenizer, max_length, captions feature). Later runs read
the file. `conditioning`'s 'cache' source looks each example up by its `tfds_id` instead of
running the tower in every train step.

With a Chinese student (`text.zh_student`), `load_all_splits` replaces the rows of the captions
that hold CJK characters by the student's vectors, computed as the file is read (the student is
one sparse matrix product); the file keeps the tower's own vectors.
"""

import hashlib
import io
import json
import logging

from etils import epath
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from posergen_jax.data import input_pipeline
from posergen_jax.io import errors, files, progress
from posergen_jax.text import frozen_tower, zh_student

CACHE_DIR = "caption_embeddings"
# The example feature TFDS adds with ReadConfig(add_tfds_id=True): unique over all splits.
TFDS_ID = "tfds_id"
# Examples per jitted tower call (their captions are padded to a multiple of the device count).
EXAMPLES_PER_CALL = 32


def cache_dir(data: ml_collections.ConfigDict) -> epath.Path:
  """The folder of `data`'s caption embedding caches (inside the prepared dataset's folder)."""
  return epath.Path(input_pipeline.get_builder(data).data_dir) / CACHE_DIR


def cache_path(
    data: ml_collections.ConfigDict, split: str, text: ml_collections.ConfigDict
) -> epath.Path:
  """Where the cache of `split` for the tower `text` describes lives."""
  key = json.dumps([text.weights, text.tokenizer, text.max_length, text.captions_key])
  digest = hashlib.sha256(key.encode()).hexdigest()[:12]
  return cache_dir(data) / f"{split.replace('/', '_')}-{digest}.npz"


def compute(
    data: ml_collections.ConfigDict, split: str, captions_key: str, frozen: frozen_tower.FrozenTower
) -> tuple[np.ndarray, np.ndarray]:
  """Every caption of `split` through the tower, sharded over this process's devices.

  Returns:
    (ids: bytes [N] TFDS ids, embeddings: float32 [N, captions, E]), in the split's order.
  """
  mesh = jax.sharding.Mesh(np.asarray(jax.local_devices()), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  encode = jax.jit(frozen.encode_tokens, in_shardings=(sharding, sharding))
  builder = input_pipeline.get_builder(data)
  ds = builder.as_dataset(
      split=split, shuffle_files=False, read_config=tfds.ReadConfig(add_tfds_id=True)
  )
  ids, embeddings = [], []
  examples = builder.info.splits[split].num_examples
  for example in progress.bar(
      ds.batch(EXAMPLES_PER_CALL).as_numpy_iterator(),
      total=-(-examples // EXAMPLES_PER_CALL),
      desc=f"caption embeddings of {data.name} {split}",
      unit="batch",
  ):
    if captions_key not in example:
      raise KeyError(
          f"config.text.captions_key={captions_key!r} is not a feature of "
          f"{data.name}; it has {sorted(example)}."
      )
    captions = example[captions_key]  # [b, C] bytes
    flat = [caption.decode("utf-8") for caption in captions.reshape(-1)]
    flat += flat[:1] * (-len(flat) % mesh.size)
    # Placed on this process's devices first: jit takes no host arrays for a sharded input when
    # the job has several processes (each process embeds on its own devices, no collectives).
    tokens = jax.device_put(frozen.tokenizer.encode(flat, frozen.max_length), sharding)
    pooled = np.asarray(encode(tokens["input_ids"], tokens["attention_mask"]))
    embeddings.append(pooled[: captions.size].reshape(*captions.shape, -1))
    ids.append(example[TFDS_ID])
  if not ids:
    raise errors.ConfigError(
        f"config.data.name={data.name!r} split {split!r} has no examples to embed."
    )
  return np.concatenate(ids).astype(bytes), np.concatenate(embeddings)


def load_or_build(
    data: ml_collections.ConfigDict,
    split: str,
    text: ml_collections.ConfigDict,
    frozen: frozen_tower.FrozenTower,
) -> tuple[np.ndarray, np.ndarray]:
  """The cached (ids bytes [N], embeddings float32 [N, captions, E]) of `split`, computed and
  written (by process 0, atomically) the first time."""
  path = cache_path(data, split, text)
  if path.exists():
    with path.open("rb") as f:
      cached = np.load(io.BytesIO(f.read()), allow_pickle=False)
      return cached["ids"], cached["embeddings"]
  ids, embeddings = compute(data, split, text.captions_key, frozen)
  logging.info(
      "Embedded %d captions of %s %s.", embeddings.shape[0] * embeddings.shape[1], data.name, split
  )
  if jax.process_index() == 0:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, ids=ids, embeddings=embeddings)
    files.write_atomically(path, buffer.getvalue())
    logging.info("Wrote caption embeddings %s of %s to %s.", embeddings.shape, split, path)
  return ids, embeddings


def read_captions(
    data: ml_collections.ConfigDict, split: str, captions_key: str
) -> tuple[np.ndarray, list[list[str]]]:
  """(ids bytes [N], N lists of captions) of `split`, in the split's order (images not decoded)."""
  builder = input_pipeline.get_builder(data)
  ds = builder.as_dataset(
      split=split,
      shuffle_files=False,
      read_config=tfds.ReadConfig(add_tfds_id=True),
      decoders={data.image_key: tfds.decode.SkipDecoding()},
  )
  ids, captions = [], []
  for example in ds.as_numpy_iterator():
    ids.append(example[TFDS_ID])
    captions.append([caption.decode("utf-8") for caption in example[captions_key]])
  return np.asarray(ids, dtype=bytes), captions


def load_with_captions(
    data: ml_collections.ConfigDict,
    split: str,
    text: ml_collections.ConfigDict,
    frozen: frozen_tower.FrozenTower,
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
  """`load_or_build`'s (ids bytes [N], embeddings float32 [N, C, E]) of `split` and its N lists
  of C captions, row for row.

  Raises:
    InputError: the cache's examples are not the dataset's (it names the file to delete).
  """
  ids, embeddings = load_or_build(data, split, text, frozen)
  caption_ids, captions = read_captions(data, split, text.captions_key)
  if not np.array_equal(caption_ids, ids):
    raise errors.InputError(
        f"The caption embedding cache of {data.name} {split} does not match the dataset; "
        f"delete {cache_path(data, split, text)} to rebuild it."
    )
  return ids, embeddings, captions


def with_student_rows(
    embeddings: np.ndarray, captions: list[list[str]], student: zh_student.CharNgramStudent
) -> np.ndarray:
  """`embeddings` [N, C, E] with the rows of CJK captions ([N][C] strings) replaced by the
  student's vectors."""
  where = [
      (n, c)
      for n, row in enumerate(captions)
      for c, text in enumerate(row)
      if zh_student.has_cjk(text)
  ]
  if not where:
    return embeddings
  out = embeddings.copy()
  rows, cols = np.asarray(where).T
  out[rows, cols] = student.encode([captions[n][c] for n, c in where])
  return out


def load_all_splits(
    data: ml_collections.ConfigDict,
    text: ml_collections.ConfigDict,
    frozen: frozen_tower.FrozenTower,
) -> tuple[np.ndarray, np.ndarray]:
  """(ids bytes [N], embeddings float32 [N, captions, E]) of every split of `data`'s dataset,
  each split loaded or built by `load_or_build` (CJK captions read by `frozen.student` if it has
  one); TFDS ids are unique over splits."""
  splits = sorted(input_pipeline.get_builder(data).info.splits)
  all_ids, all_embeddings = [], []
  for split in splits:
    if frozen.student is None:
      ids, embeddings = load_or_build(data, split, text, frozen)
    else:
      ids, embeddings, captions = load_with_captions(data, split, text, frozen)
      embeddings = with_student_rows(embeddings, captions, frozen.student)
    all_ids.append(ids)
    all_embeddings.append(embeddings)
  return np.concatenate(all_ids), np.concatenate(all_embeddings)
