"""`--mode=eval`: average per-example metrics over a split, write eval.json and a table."""
from collections.abc import Callable, Iterable, Mapping
import json

from etils import epath
import jax
import numpy as np


def average_metrics(eval_sums_fn: Callable[..., Mapping[str, jax.Array]], params,
                    batches: Iterable[dict[str, jax.Array]], rng: jax.Array) -> dict[str, float]:
  """Means of per-example metrics over all batches.

  Args:
    eval_sums_fn: jitted (params, batch, rng) -> {name: scalar sum over the
      batch}, including "count" (the number of examples).
    params: the parameters to evaluate (EMA parameters).
    batches: global batches.
    rng: base key; batch i uses `fold_in(rng, i)`.

  Returns:
    {name: mean over examples} plus "num_examples".
  """
  totals: dict[str, jax.Array] = {}
  for i, batch in enumerate(batches):
    sums = eval_sums_fn(params, batch, jax.random.fold_in(rng, i))
    totals = sums if not totals else jax.tree.map(lambda a, b: a + b, totals, sums)
  if not totals:
    raise ValueError("The evaluation split gave no full batch; lower config.evals.batch_size.")
  totals = jax.device_get(totals)
  count = int(totals.pop("count"))
  means = {name: float(value) / count for name, value in sorted(totals.items())}
  return {**means, "num_examples": count}


def markdown_table(metrics: Mapping[str, float]) -> str:
  """A two-column markdown table of metric name and value."""
  rows = [f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |"
          for name, value in metrics.items()]
  return "\n".join(["| metric | value |", "| --- | --- |", *rows])


def write_report(workdir: epath.PathLike, step: int, metrics: Mapping[str, float],
                 seconds: float) -> epath.Path:
  """Writes `workdir/eval.json` and `workdir/eval.md`; returns the JSON path.

  Only process 0 writes. The JSON holds the step evaluated, the metrics and the
  wall-clock seconds the evaluation took.
  """
  workdir = epath.Path(workdir)
  path = workdir / "eval.json"
  if jax.process_index() == 0:
    report = {"step": int(step), "seconds": round(seconds, 2), "metrics": dict(metrics)}
    path.write_text(json.dumps(report, indent=2) + "\n")
    (workdir / "eval.md").write_text(
        f"Evaluation at step {step} ({seconds:.1f} s)\n\n{markdown_table(metrics)}\n")
  return path


def log_table(step: int, metrics: Mapping[str, float]) -> None:
  """Prints the metric table (stdout) so a terminal user sees the result."""
  print(f"\nEvaluation at step {step}:\n{markdown_table(metrics)}\n", flush=True)


def sum_per_example(metrics: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
  """{name: [B]} -> {name: sum} plus "count" = B; for use inside jit."""
  batch_size = next(iter(metrics.values())).shape[0]
  return {**{k: v.sum() for k, v in metrics.items()}, "count": np.float32(batch_size)}
