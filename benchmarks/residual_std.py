r"""The std of what a residual SR3 stage diffuses, target − bicubic(low-res), on a config's data.

`config.diffusion.residual_scale` divides the residual by this, so that the network diffuses
values of unit variance (the noise's). Prints the std over the first examples of the training
split, per channel and in all:

  python benchmarks/residual_std.py --config=configs/sr3.py
  python benchmarks/residual_std.py --config=configs/sr3_cascade.py --config.stage=sr3_256
"""

import sys

from absl import app, flags
from ml_collections import config_flags
import numpy as np

from posergen_jax.config import stages
from posergen_jax.data import input_pipeline, preprocess

_CONFIG = config_flags.DEFINE_config_file("config", None, "an SR3 config file[:arg]")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", 512, "training examples to measure")


def main(argv) -> None:
  del argv
  config = _CONFIG.value
  if stages.is_staged(config):
    config = stages.stage_config(config, config.stage)
  d = config.data
  ds = input_pipeline.create_dataset(
      d,
      d.train_split,
      global_batch_size=_NUM_EXAMPLES.value,
      preprocess=preprocess.sr_pairs(
          image_key=d.image_key, hr_size=d.hr_size, lr_size=d.lr_size, random_flip=False
      ),
      train=False,
      seed=0,
      num_examples=_NUM_EXAMPLES.value,
  )
  batch = next(iter(ds.as_numpy_iterator()))
  residual = (batch["target"] - batch["cond"]).astype(np.float64)
  per_channel = ", ".join(f"{s:.3f}" for s in residual.std(axis=(0, 1, 2)))
  print(
      f"{d.name}, {d.lr_size}→{d.hr_size}, {len(residual)} training examples: "
      f"std of target − bicubic {residual.std():.3f} (R, G, B: {per_channel}); "
      f"config.diffusion.residual_scale = {config.diffusion.residual_scale}"
  )


if __name__ == "__main__":
  sys.exit(app.run(main))
