"""tf.data from TFDS → per-host batches → global `jax.Array`s sharded over the mesh.

Each process reads its own even slice of the split, so the same code runs on one
CPU, a GPU box and a multi-host TPU slice. Preprocessing is a function of the
example and a per-example seed, which makes random augmentation deterministic.
"""

from collections.abc import Callable, Iterator
import logging

import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from posergen_jax.config import schema
import posergen_jax.data  # noqa: F401  (registers the project's own builders with TFDS)
from posergen_jax.data.posters import posters
from posergen_jax.io import errors

# Feature of an evaluation example repeated once per caption (create_dataset's
# captions_per_example): which of its captions this copy is conditioned on.
CAPTION_SLOT = "caption_slot"

# (example, seed[2]) -> preprocessed example; seed is an int64 stateless-RNG seed.
PreprocessFn = Callable[[dict[str, tf.Tensor], tf.Tensor], dict[str, tf.Tensor]]


def _is_split(value) -> bool:
  """Whether `value` is a TFDS split string; whether the dataset has that split is checked when it
  loads (`check_split_size`)."""
  if not isinstance(value, str):
    return False
  try:
    tfds.core.ReadInstruction.from_spec(value)
  except ValueError:
    return False
  return True


SPLIT = schema.Rule(_is_split, "a TFDS split, e.g. 'train', 'test[:10%]' or 'train+test'")
# The `data` fields every family reads (config/schema.py); SR3 adds its image sizes.
FIELD_RULES = {
    "data.name": schema.TEXT,
    "data.data_dir": schema.optional(schema.TEXT),
    "data.manual_dir": schema.optional(schema.TEXT),
    "data.image_key": schema.TEXT,
    "data.train_split": SPLIT,
    "data.eval_split": SPLIT,
    "data.random_flip": schema.BOOL,
    "data.shuffle_buffer": schema.POSITIVE,
}


def get_builder(config: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """Returns the TFDS builder named by `config.name`, preparing it if needed.

  The project's own datasets (e.g. `synthetic_posters`) are generated locally;
  `cub_birds` and `posters` read the user's files from `config.manual_dir` (when
  set; else TFDS's `<data_dir>/downloads/manual`); others follow TFDS's rules.

  Raises:
    InputError: the dataset was already built from other content than `config.manual_dir`
      holds now (builders with a `source_fingerprint`, i.e. `posters`); names the folder to
      delete.
  """
  builder = tfds.builder(config.name, data_dir=config.data_dir)
  manual_dir = config.get("manual_dir")
  if manual_dir:
    check_built_from(builder, manual_dir)
  download_config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
  if jax.process_count() == 1:
    builder.download_and_prepare(download_config=download_config)
    return builder
  # Several processes: process 0 builds while the others wait (two processes building into one
  # shared data_dir collide on its final rename); then each reads it, or, where its data_dir is
  # its own host's disk, builds its own copy.
  failure = None
  if jax.process_index() == 0:
    try:
      builder.download_and_prepare(download_config=download_config)
    except Exception as e:  # noqa: BLE001  Re-raised below, once every process has heard.
      failure = e
  if not multihost_utils.broadcast_one_to_all(np.int32(failure is None)):
    if failure is not None:
      raise failure
    raise errors.InputError(
        f"Process 0 could not build {config.name} (its log says why); this process stops too."
    )
  if jax.process_index() > 0:
    builder = tfds.builder(config.name, data_dir=config.data_dir)
    if not builder.is_prepared():
      builder.download_and_prepare(download_config=download_config)
  return builder


def check_built_from(builder: tfds.core.DatasetBuilder, manual_dir: str) -> None:
  """Raises InputError when `builder` is prepared from other content than `manual_dir` holds
  now (its recorded `source_fingerprint`); does nothing for builders without one."""
  fingerprint_of = getattr(builder, "source_fingerprint", None)
  if fingerprint_of is None or not builder.is_prepared():
    return
  if builder.info.metadata.get(posters.SOURCE_FINGERPRINT) != fingerprint_of(manual_dir):
    raise errors.InputError(
        f"data.manual_dir={manual_dir}: {builder.name}/{builder.builder_config.name} in "
        f"{builder.data_dir} was built from other content (the captions file or the images "
        "have changed since, or it is another folder). Delete that folder to rebuild from "
        "this one, or pass another --config.data.data_dir."
    )


def built_fingerprint(config: ml_collections.ConfigDict) -> str | None:
  """The source fingerprint the built dataset `config.name` recorded, or None (builders that
  record none, such as the generated datasets)."""
  metadata = tfds.builder(config.name, data_dir=config.data_dir).info.metadata
  return metadata.get(posters.SOURCE_FINGERPRINT) if metadata else None


def create_dataset(
    config: ml_collections.ConfigDict,
    split: str,
    *,
    global_batch_size: int,
    preprocess: PreprocessFn,
    train: bool,
    seed: int,
    num_examples: int | None = None,
    captions_per_example: int = 1,
) -> tf.data.Dataset:
  """Builds this process's batches of one split, the same global batches whatever the layout.

  Every process reads the split in one seeded global order (undecoded) and keeps its rows of each
  global batch: process p of P the rows [p·B/P, (p+1)·B/P). Only the rows kept are decoded and
  preprocessed, with per-example seeds (seed, global position). So global batch k is the same
  for 1 process × 8 devices and 2 × 4, and a run can move between slice sizes.

  Args:
    config: the `data` section (name, data_dir, shuffle_buffer).
    split: a TFDS split name, e.g. "train".
    global_batch_size: B, the batch size over all processes; must divide evenly.
    preprocess: per-example function of (example, seed) -> features.
    train: shuffle (seeded) and repeat forever; otherwise one ordered pass.
    seed: fixes file order, shuffling and per-example augmentation.
    num_examples: when set, take only the first this-many examples of the split.
    captions_per_example: evaluation only: each example comes this many times in a row, the
      i-th with feature CAPTION_SLOT = i, so text preprocesses condition each on its own caption
      (e.g. all 5 English captions of a poster).

  Returns:
    A dataset of dicts of `[B // process_count, ...]` tensors. Evaluation passes drop the last
    partial global batch.
  """
  num_processes = jax.process_count()
  if global_batch_size % num_processes:
    raise errors.ConfigError(
        f"Batch size {global_batch_size} is not divisible by the "
        f"number of processes {num_processes}."
    )
  builder = get_builder(config)
  check_split_size(builder, split, num_examples, global_batch_size, train, captions_per_example)
  count = num_examples if num_examples is not None else builder.info.splits[split].num_examples
  if num_examples is not None:
    split = f"{split}[:{num_examples}]"
  # Examples carry their TFDS id ('tfds_id', unique over splits) for lookups such as the
  # caption embedding cache; preprocess keeps only the features it returns.
  read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=1, add_tfds_id=True)
  features = builder.info.features
  images = [key for key, feature in features.items() if isinstance(feature, tfds.features.Image)]
  ds = builder.as_dataset(
      split=split,
      shuffle_files=train,
      read_config=read_config,
      decoders={key: tfds.decode.SkipDecoding() for key in images},
  )
  if train:
    ds = ds.repeat()
    ds = ds.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  else:
    if captions_per_example > 1:
      ds = ds.flat_map(lambda example: _with_caption_slots(example, captions_per_example))
      count *= captions_per_example
    ds = ds.take(count // global_batch_size * global_batch_size)  # Whole global batches.
  ds = ds.enumerate()
  local_batch_size = global_batch_size // num_processes
  if num_processes > 1:
    first = jax.process_index() * local_batch_size
    ds = ds.filter(
        lambda index, _: (index % global_batch_size >= first)
        & (index % global_batch_size < first + local_batch_size)
    )

  def decode_and_preprocess(index, example):
    decoded = {key: features[key].decode_example(example[key]) for key in images}
    return preprocess({**example, **decoded}, tf.stack([tf.constant(seed, tf.int64), index]))

  ds = ds.map(decode_and_preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(local_batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


def _with_caption_slots(example: dict[str, tf.Tensor], slots: int) -> tf.data.Dataset:
  """`slots` copies of `example`, the i-th with CAPTION_SLOT = i (int32)."""
  return tf.data.Dataset.range(slots).map(
      lambda slot: {**example, CAPTION_SLOT: tf.cast(slot, tf.int32)}
  )


def check_split_size(
    builder: tfds.core.DatasetBuilder,
    split: str,
    num_examples: int | None,
    global_batch_size: int,
    train: bool,
    captions_per_example: int = 1,
) -> None:
  """Raises ConfigError when `split` lacks the `num_examples` asked for, or (for an ordered
  pass, each example `captions_per_example` times) holds less than one batch; a user's own
  collection can have a small test split."""
  try:
    count = builder.info.splits[split].num_examples
  except (KeyError, ValueError) as e:
    raise errors.ConfigError(
        f"{builder.info.full_name} has no split {split!r}; it has {list(builder.info.splits)} "
        f"({e})."
    ) from None
  wanted = count if num_examples is None else num_examples
  if wanted > count:
    raise errors.ConfigError(
        f"config.evals.num_examples={num_examples}: split {split!r} of {builder.info.full_name} "
        f"has {count} examples; ask for at most that many (or give the split more)."
    )
  if not train and wanted * captions_per_example < global_batch_size:
    raise errors.ConfigError(
        f"split {split!r} of {builder.info.full_name} gives {wanted * captions_per_example} "
        "examples to evaluate, less "
        f"than one batch of {global_batch_size}; lower config.evals.batch_size (a multiple of "
        "the devices) or give the split more examples."
    )


class GlobalBatches:
  """Iterator of global batches whose position can be saved and restored.

  Each host batch of `ds` becomes one global array per feature, sharded by
  `sharding` (the global leading dimension is `process_count` times the host
  batch). `save`/`restore` use tf.data iterator checkpointing, so a resumed
  run continues with exactly the batches an uninterrupted run would see
  (shuffle buffers and per-example seeds included).
  """

  def __init__(self, ds: tf.data.Dataset, sharding: jax.sharding.NamedSharding):
    self._iterator = iter(ds)
    self._checkpoint = tf.train.Checkpoint(iterator=self._iterator)
    self._sharding = sharding

  def __iter__(self) -> Iterator[dict[str, jax.Array]]:
    return self

  def __next__(self) -> dict[str, jax.Array]:
    batch = next(self._iterator)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self._sharding, x.numpy()), batch
    )

  def save(self, prefix: str) -> None:
    """Writes this process's iterator position under the file prefix `prefix`."""
    self._checkpoint.write(prefix)

  def restore(self, prefix: str) -> None:
    """Moves the iterator to the position saved under `prefix`."""
    self._checkpoint.read(prefix).assert_consumed()


def log_dataset(config: ml_collections.ConfigDict) -> None:
  """Logs the dataset name, splits and sizes."""
  info = get_builder(config).info
  logging.info(
      "Dataset %s: %s",
      config.name,
      {name: split.num_examples for name, split in info.splits.items()},
  )
