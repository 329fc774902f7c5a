"""`--mode=eval`: average per-example metrics over a split, time it, write eval.json and a table."""

from collections.abc import Callable, Iterable, Mapping
import json
import time

from etils import epath
import jax
import numpy as np

from posergen_jax.io import errors

# Entries of an eval step's output that are images [B,H,W,C] rather than per-example metrics [B]:
# generated images, the real ones they are compared with (FID, KID) and, optionally, a baseline's
# images scored the same way (e.g. bicubic upsampling for super-resolution).
GENERATED, REAL, BASELINE = "generated", "real", "baseline"


def split_outputs(outputs: Mapping[str, jax.Array]) -> tuple[dict[str, jax.Array], dict]:
  """An eval step's {name: [B] metric, 'generated'/'real'/'baseline': [B,H,W,C]} -> (sums, images).

  `sums` = {name: sum over the batch} plus "count" = B; for use inside jit.
  """
  images = {k: outputs[k] for k in (GENERATED, REAL, BASELINE) if k in outputs}
  metrics = {k: v for k, v in outputs.items() if k not in images}
  batch_size = next(iter(metrics.values())).shape[0]
  sums = {**{k: v.sum() for k, v in metrics.items()}, "count": np.float32(batch_size)}
  return sums, images


def average_metrics(
    eval_fn: Callable[..., tuple[Mapping[str, jax.Array], dict]],
    params,
    batches: Iterable[dict[str, jax.Array]],
    rng: jax.Array,
    on_outputs: Callable[[dict, dict], None] | None = None,
) -> dict[str, float]:
  """Means of per-example metrics over all batches, and the seconds per example.

  Args:
    eval_fn: jitted (params, batch, rng) -> `split_outputs` of the family's eval step.
    params: the parameters to evaluate (EMA parameters).
    batches: global batches.
    rng: base key; batch i uses `fold_in(rng, i)`.
    on_outputs: given each batch's images dict (generated/real) and the batch, e.g. to
      accumulate FID features or R-precision embeddings.

  Returns:
    {name: mean over examples} plus "num_examples" and "seconds_per_example": wall time of
    `eval_fn` (compiled ahead, so compilation is excluded; synchronised on its outputs) per
    example. For a generative family this is the sampling time per image.
  """
  totals: dict[str, jax.Array] = {}
  compiled, seconds = None, 0.0
  for i, batch in enumerate(batches):
    batch_rng = jax.random.fold_in(rng, i)
    compiled = compiled or eval_fn.lower(params, batch, batch_rng).compile()
    start = time.perf_counter()
    sums, images = jax.block_until_ready(compiled(params, batch, batch_rng))
    seconds += time.perf_counter() - start
    totals = sums if not totals else jax.tree.map(lambda a, b: a + b, totals, sums)
    if on_outputs is not None:
      on_outputs(images, batch)
  if not totals:
    raise errors.ConfigError(
        "The evaluation split gave no full batch; lower config.evals.batch_size."
    )
  totals = jax.device_get(totals)
  count = int(totals.pop("count"))
  means = {name: float(value) / count for name, value in sorted(totals.items())}
  return {**means, "num_examples": count, "seconds_per_example": seconds / count}


def markdown_table(metrics: Mapping[str, float]) -> str:
  """A two-column markdown table of metric name and value."""
  rows = [
      f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |"
      for name, value in metrics.items()
  ]
  return "\n".join(["| metric | value |", "| --- | --- |", *rows])


# The evaluation's report in a workdir (what `write_report` writes).
REPORT_FILE = "eval.json"


def write_report(
    workdir: epath.PathLike, step: int, metrics: Mapping[str, float], seconds: float
) -> epath.Path:
  """Writes `workdir/eval.json` and `workdir/eval.md`; returns the JSON path.

  Only process 0 writes. The JSON holds the step evaluated, the metrics and the
  wall-clock seconds the evaluation took.
  """
  workdir = epath.Path(workdir)
  path = workdir / REPORT_FILE
  if jax.process_index() == 0:
    report = {"step": int(step), "seconds": round(seconds, 2), "metrics": dict(metrics)}
    path.write_text(json.dumps(report, indent=2) + "\n")
    (workdir / "eval.md").write_text(
        f"Evaluation at step {step} ({seconds:.1f} s)\n\n{markdown_table(metrics)}\n"
    )
  return path


def log_table(step: int, metrics: Mapping[str, float]) -> None:
  """Prints the metric table (stdout) so a terminal user sees the result."""
  print(f"\nEvaluation at step {step}:\n{markdown_table(metrics)}\n", flush=True)
