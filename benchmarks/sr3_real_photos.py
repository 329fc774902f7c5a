r"""SR3 on real photographs: PSNR, SSIM and LPIPS against bicubic upsampling.

Takes a trained SR3 workdir (e.g. the default run, trained on synthetic posters) and super-resolves
crops of the real photographs that ship inside scikit-image (`skimage.data`: astronaut, chelsea,
coffee, rocket, hubble_deep_field, immunohistochemistry, retina). Each photo gives 5 crops (its
centre square and that square's 4 quadrants), resized to the config's high-res size; the low-res
input is made exactly as in training (`preprocess.make_sr_pair`). Prints a markdown table:

  python benchmarks/sr3_real_photos.py --workdir=runs/sr3

(the workdir's recorded config, with any overrides it was trained with, unless --config is given).

The perceptual distance is LPIPS (VGG16, `posergen_jax/evaluation/lpips.py`); lower is closer.
"""

import argparse
from pathlib import Path
import sys

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import cpu_kernels  # noqa: E402
from posergen_jax import cli, configs  # noqa: E402
from posergen_jax.config import stages  # noqa: E402
from posergen_jax.data import preprocess  # noqa: E402
from posergen_jax.evaluation import image_metrics, lpips  # noqa: E402
from posergen_jax.families import registry, sr3  # noqa: E402
from posergen_jax.training import trainer  # noqa: E402

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


def photo_crops(size: int) -> np.ndarray:
  """5 crops of each photo (centre square, its 4 quadrants) at size x size: float32 [N,S,S,3]."""
  crops = []
  for name in PHOTOS:
    image = getattr(skimage.data, name)()[..., :3]
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top : top + side, left : left + side]
    half = side // 2
    parts = [square] + [square[r : r + half, c : c + half] for r in (0, half) for c in (0, half)]
    crops += [preprocess.center_square_resize(tf.constant(p), size).numpy() for p in parts]
  return np.clip(np.stack(crops) / 127.5 - 1.0, -1.0, 1.0).astype(np.float32)


def deterministic_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` that samples with deterministic DDIM (eta 0) in as many steps."""
  fields = sr3.deterministic_sampling(config)
  config = stages.unlocked_copy(config)
  config.diffusion.update(fields)
  return config


def sampler_name(config: ml_collections.ConfigDict) -> str:
  """E.g. 'DDIM eta 1, 20 steps' for the table."""
  d = config.diffusion
  eta = f" eta {d.ddim_eta:g}" if d.sampler == "ddim" else ""
  return f"{d.sampler.upper()}{eta}, {sr3.sampling_steps(config)} steps"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      "--config", help="the run's config file[:arg]; default: the one the workdir recorded"
  )
  parser.add_argument("--workdir", required=True, help="a trained SR3 workdir")
  cpu_kernels.add_argument(parser)
  args = parser.parse_args()
  cli.use_onednn_on_cpu(args.cpu_onednn)
  recorded = Path(args.workdir) / trainer.CONFIG_FILE
  if args.config is None and not recorded.is_file():
    sys.exit(f"error: {recorded} is missing; pass --config or train first.")
  config = configs.load(args.config) if args.config else stages.from_json(recorded.read_text())
  config.evals.image_metrics = ()

  run = trainer.setup(config, args.workdir, registry.get_family(config))
  if run.manager.latest_step() is None:
    sys.exit(f"error: no checkpoint in {args.workdir}; train first.")
  targets = photo_crops(config.data.hr_size)
  pairs = [preprocess.make_sr_pair(tf.constant(t), config.data.lr_size) for t in targets]
  batch = {k: jnp.stack([p[k].numpy() for p in pairs]) for k in ("target", "lowres", "cond")}
  deterministic = deterministic_config(config)
  images = {
      f"SR3 ({sampler_name(config)})": jax.jit(run.family.sample),
      f"SR3 ({sampler_name(deterministic)})": jax.jit(registry.get_family(deterministic).sample),
  }
  images = {k: fn(run.state.ema_params, batch, jax.random.key(0)) for k, fn in images.items()}
  images["bicubic"] = batch["cond"]
  distance = lpips.make_distance()
  rows = {}
  for method, sr in images.items():
    scores = image_metrics.psnr_ssim(sr, batch["target"])
    rows[method] = (scores["psnr"], scores["ssim"], distance(sr, batch["target"]))
  print(
      f"\n{len(targets)} crops of {len(PHOTOS)} skimage photos, {config.data.lr_size}→"
      f"{config.data.hr_size}, checkpoint step {int(run.state.step)}\n"
  )
  print("| method | PSNR (dB) | SSIM | LPIPS (VGG) |\n| --- | --- | --- | --- |")
  for method, (psnr, ssim, dist) in rows.items():
    print(
        f"| {method} | {float(jnp.mean(psnr)):.2f} | {float(jnp.mean(ssim)):.3f} | "
        f"{float(jnp.mean(dist)):.4f} |"
    )
  run.manager.close()


if __name__ == "__main__":
  main()
