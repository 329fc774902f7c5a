"""Prompts in, poster files out: what `python -m posergen_jax.generate` does, as functions.

Each poster is OUT/NNNN.png with a JSON sidecar OUT/NNNN.json (prompt, seed, batch, sampling,
checkpoint steps, seconds per image per stage); OUT/generate.json sums the run up. Files are
written batch by batch through a temporary name, so an interrupted run leaves only whole files.
"""

import json

from etils import epath
import jax
import numpy as np

from posergen_jax.families import sr3
from posergen_jax.io import errors, files, progress
from posergen_jax.io import images as image_io
from posergen_jax.poster import pipeline, typeset


def read_prompts(prompts: list[str], prompts_file: str | None) -> list[str]:
  """`--prompt` values then `--prompts_file`'s non-blank lines, in order."""
  prompts = list(prompts)
  if prompts_file:
    path = epath.Path(prompts_file)
    if not path.is_file():
      raise errors.InputError(f"--prompts_file={prompts_file} is not a file.")
    prompts += [
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
  if not prompts:
    raise errors.InputError("No prompts: pass --prompt=TEXT (repeatable) or --prompts_file=FILE.")
  return prompts


def check_title(title: str | None, font: str | None) -> None:
  """Raises InputError for an empty --title or a --font that is not a file."""
  if title is not None and not title.strip():
    raise errors.InputError("--title is empty; leave it out for posters without a title.")
  if font is not None and not epath.Path(font).is_file():
    raise errors.InputError(f"--font={font} is not a file.")


def batches(prompts: list[str], batch_size: int) -> list[tuple[int, list[str]]]:
  """(index of the first prompt, `batch_size` prompts) pairs; the last one padded by repeating
  its final prompt (padding is generated, never written)."""
  out = []
  for start in range(0, len(prompts), batch_size):
    chunk = prompts[start : start + batch_size]
    out.append((start, chunk + [chunk[-1]] * (batch_size - len(chunk))))
  return out


def generate_batch(
    posters: pipeline.PosterPipeline, batch: list[str], seed: int, index: int
) -> tuple[np.ndarray, dict[str, float]]:
  """Batch `index` of a run with `seed` (key fold_in(key(seed), index)): uint8 [B,S,S,3]
  posters without titles, and the seconds of sampling per stage name.

  `batch` holds a multiple of `posters.batch_multiple` prompts (`batches` pads to it).
  """
  result = posters.generate(batch, jax.random.fold_in(jax.random.key(seed), index))
  return image_io.to_uint8(result.stage_images[-1]), result.stage_seconds


def check_out_dir(out: epath.Path, count: int, overwrite: bool) -> None:
  """Raises InputError when `out` cannot be a folder (it, or the nearest of its parents that
  exists, is a file) or already holds posters this run would write, unless `overwrite`.
  Creates nothing: `write_posters` makes the folder."""
  existing = out
  while not existing.exists() and existing.parent != existing:
    existing = existing.parent
  if not existing.is_dir():
    raise errors.InputError(f"--out={out}: {existing} is a file, not a folder.")
  taken = [
      name
      for i in range(count)
      for name in (f"{i:04d}.png", f"{i:04d}.json")
      if (out / name).exists()
  ]
  if taken and not overwrite:
    raise errors.InputError(
        f"--out={out} already holds {taken[0]} (and {len(taken) - 1} more "
        "files this run would write); choose another --out or pass --overwrite."
    )


def write_posters(
    posters: pipeline.PosterPipeline,
    prompts: list[str],
    out: epath.Path,
    *,
    seed: int,
    batch_size: int,
    title: str | None = None,
    subtitle: str | None = None,
    font: str | None = None,
) -> dict:
  """Writes a PNG and a JSON sidecar per prompt into `out`, batch by batch, with a progress bar.

  Args:
    posters: the open pipeline.
    prompts: the prompts, each already accepted by `posters.prompt_tokens`.
    out: the output folder (see `check_out_dir`), created if needed.
    seed: batch i uses fold_in(key(seed), i).
    batch_size: prompts per batch, at most the number of prompts, rounded up to a multiple of
      `posters.batch_multiple`.
    title, subtitle: text set over every poster (poster/typeset.py); None for none.
    font: the font file for the title; None for Noto Sans CJK.

  In a multi-process run, every process runs the pipeline and process 0 writes.

  Returns:
    The summary also written to out/generate.json: count, size, batch size, seed, sampling per
    super-resolution stage and seconds per poster per stage (sampling seconds over posters
    written; padding included, compilation excluded).
  """
  multiple = posters.batch_multiple
  batch_size = -(-min(batch_size, len(prompts)) // multiple) * multiple
  writes = jax.process_index() == 0  # Every process holds every poster; one writes them.
  if writes:
    out.mkdir(parents=True, exist_ok=True)
  sampling = {
      stage.config.stage: {
          "sampler": stage.config.diffusion.sampler,
          "steps": sr3.sampling_steps(stage.config),
      }
      for stage in posters.stages[1:]
  }
  total_seconds = dict.fromkeys(posters.stage_names, 0.0)
  with progress.bar(total=len(prompts), unit="poster", desc="generating") as bar:
    for i, (start, batch) in enumerate(batches(prompts, batch_size)):
      images, stage_seconds = generate_batch(posters, batch, seed, i)
      count = min(batch_size, len(prompts) - start)
      per_image = {name: s / count for name, s in stage_seconds.items()}
      for j in range(count):
        sidecar = {
            "prompt": batch[j],
            "index": start + j,
            "seed": seed,
            "batch": i,
            "batch_size": batch_size,
            "size": int(images.shape[1]),
            "stages": list(posters.stage_names),
            "checkpoint_steps": posters.checkpoint_steps,
            "sampling": sampling,
            "seconds_per_image": per_image,
        }
        image = images[j]
        if title:
          image = typeset.typeset(image, title, subtitle, font_path=font)
          sidecar.update(title=title, subtitle=subtitle)
        if writes:
          files.write_atomically(out / f"{start + j:04d}.png", image_io.png_bytes(image))
          files.write_atomically(
              out / f"{start + j:04d}.json",
              json.dumps(sidecar, ensure_ascii=False, indent=2).encode(),
          )
      for name, value in stage_seconds.items():
        total_seconds[name] += value
      bar.update(count)
      bar.set_postfix({name: f"{value:.2f}s/img" for name, value in per_image.items()})
  summary = {
      "num_posters": len(prompts),
      "size": int(images.shape[1]),
      "batch_size": batch_size,
      "seed": seed,
      "sampling": sampling,
      "seconds_per_image": {name: value / len(prompts) for name, value in total_seconds.items()},
  }
  if writes:
    files.write_atomically(out / "generate.json", json.dumps(summary, indent=2).encode())
  return summary
