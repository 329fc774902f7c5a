"""Exported pipelines: each stage's EMA parameters and config in one folder that travels.

Layout of an exported pipeline `DIR`:

  DIR/pipeline.json                 stage order, steps per stage, parameter dtype, format version
  DIR/MODEL_CARD.md                 what was trained on what, figures, intended use, limits
  DIR/<stage>/config.json           the stage's full config (no training config file needed)
  DIR/<stage>/ema_params.msgpack    its EMA parameters (flax.serialization msgpack)
  DIR/<stage>/eval.json             its last evaluation, when the workdir had one
  DIR/<stage>/zh_student.npz        the Chinese text student, when the stage's text has one

Loading needs no dataset, no training config and no optimizer state; the frozen text tower and
the tokenizer are rebuilt from the specs in the first stage's config (`text.weights`,
`text.tokenizer`); its Chinese student travels in the folder (`text.zh_student` names the file
there).
"""

from collections.abc import Sequence
import json

from etils import epath
import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from posergen_jax.config import stages as stages_lib
from posergen_jax.evaluation import report
from posergen_jax.families import registry
from posergen_jax.io import errors, files, weights
from posergen_jax.poster import stage_runs
from posergen_jax.training import sharding, trainer

FORMAT = 1
PIPELINE_FILE = "pipeline.json"
PARAMS_FILE = "ema_params.msgpack"
CARD_FILE = "MODEL_CARD.md"
STUDENT_FILE = "zh_student.npz"
DTYPES = ("float32", "bfloat16")


def _cast(params, dtype: str):
  """Floating leaves of `params` as numpy `dtype`; others as they are."""
  return jax.tree.map(
      lambda x: np.asarray(x).astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
      jax.device_get(params),
  )


def save(
    stages: Sequence[stage_runs.SamplingStage],
    directory: epath.PathLike,
    *,
    dtype: str = "float32",
    evals: dict[str, dict] | None = None,
    card: str,
) -> epath.Path:
  """Writes `stages` (first to last) as an exported pipeline in `directory`; returns it.

  Args:
    stages: the pipeline's stages, each with its EMA parameters.
    directory: the export folder; files in it are replaced.
    dtype: 'float32' (exact) or 'bfloat16' (half the size; loaded back as float32).
    evals: stage name -> its eval.json contents, copied beside its parameters.
    card: the model card's markdown.
  """
  if dtype not in DTYPES:
    raise errors.InputError(f"--dtype={dtype!r} is not one of {DTYPES}.")
  directory = epath.Path(directory)
  for stage in stages:
    folder = directory / stage.config.stage
    folder.mkdir(parents=True, exist_ok=True)
    config = stage.config
    if config.get("text") and config.text.get("zh_student"):
      student = weights.resolve(config.text.zh_student)
      files.write_atomically(folder / STUDENT_FILE, student.read_bytes())
      config = stages_lib.unlocked_copy(config)
      config.text.zh_student = STUDENT_FILE
    files.write_atomically(folder / trainer.CONFIG_FILE, stages_lib.to_json(config).encode())
    files.write_atomically(
        folder / PARAMS_FILE, flax.serialization.msgpack_serialize(_cast(stage.params, dtype))
    )
    if evals and stage.config.stage in evals:
      files.write_atomically(
          folder / report.REPORT_FILE, json.dumps(evals[stage.config.stage]).encode()
      )
  summary = {
      "format": FORMAT,
      "stage_order": [stage.config.stage for stage in stages],
      "steps": {stage.config.stage: stage.step for stage in stages},
      "dtype": dtype,
  }
  files.write_atomically(directory / CARD_FILE, card.encode())
  files.write_atomically(directory / PIPELINE_FILE, json.dumps(summary, indent=2).encode())
  return directory


def read_summary(directory: epath.PathLike) -> dict:
  """`pipeline.json` of an exported pipeline.

  Raises:
    MissingFileError naming the folder when it holds no exported pipeline.
  """
  path = epath.Path(directory) / PIPELINE_FILE
  if not path.is_file():
    raise errors.MissingFileError(
        f"--pretrained={directory} holds no exported pipeline ({PIPELINE_FILE} is missing); "
        "write one with python -m posergen_jax.export."
    )
  summary = json.loads(path.read_text())
  if summary.get("format") != FORMAT:
    raise errors.InputError(
        f"{path} is format {summary.get('format')!r}; this version reads format {FORMAT}."
    )
  return summary


def stage_config(directory: epath.PathLike, name: str) -> ml_collections.ConfigDict:
  """Stage `name`'s config from an exported pipeline, unlocked (for sampling overrides)."""
  path = epath.Path(directory) / name / trainer.CONFIG_FILE
  config = stages_lib.from_json(path.read_text())
  config.stage = name
  if config.get("text") and config.text.get("zh_student") == STUDENT_FILE:
    config.text.zh_student = str(epath.Path(directory) / name / STUDENT_FILE)
  return config


def load_stage(
    directory: epath.PathLike, config: ml_collections.ConfigDict, step: int
) -> stage_runs.SamplingStage:
  """Stage `config.stage` of an exported pipeline, its parameters (as float32) replicated over
  all devices on a data-parallel mesh."""
  config.lock()
  path = epath.Path(directory) / config.stage / PARAMS_FILE
  if not path.is_file():
    raise errors.MissingFileError(f"The exported pipeline has no {path}.")
  params = _cast(flax.serialization.msgpack_restore(path.read_bytes()), "float32")
  shardings = sharding.make_shardings(sharding.make_mesh([(sharding.DATA_AXIS, -1)]))
  params_shardings = jax.tree.map(lambda _: shardings.replicated, params)
  return stage_runs.SamplingStage(
      config=config,
      family=registry.get_family(config),
      shardings=shardings,
      params=jax.device_put(params, params_shardings),
      params_shardings=params_shardings,
      step=step,
  )


def model_card(
    stages: Sequence[stage_runs.SamplingStage], evals: dict[str, dict], how_trained: str = ""
) -> str:
  """MODEL_CARD.md of an exported pipeline: per stage what it is, what data it was trained on,
  for how many steps and its evaluation; `how_trained` (Markdown: the commands, say) under its
  own heading where given; intended use and limitations."""
  first = stages[0].config
  sizes = [first.model.image_size] + [stage.config.data.hr_size for stage in stages[1:]]
  lines = [
      f"# Poster pipeline: {' → '.join(stage.config.stage for stage in stages)}",
      "",
      f"Prompts → {sizes[-1]}×{sizes[-1]} posters: stage `{first.stage}` "
      f"({first.family}) draws {sizes[0]}×{sizes[0]} images from the prompt's text vector "
      f"(`text.weights={first.text.weights}`, tokenizer `{first.text.tokenizer}`"
      + (
          f"; Chinese prompts through the distilled student `{first.stage}/{STUDENT_FILE}`"
          if first.text.get("zh_student")
          else ""
      )
      + "); "
      + ", ".join(
          f"`{s.config.stage}` ({s.config.family}) upsamples to {s.config.data.hr_size}×"
          f"{s.config.data.hr_size}"
          for s in stages[1:]
      )
      + ". Each stage's full config is `<stage>/config.json`.",
      "",
      "## Training",
      "",
      "| stage | family | dataset | steps | batch | parameters |",
      "| --- | --- | --- | --- | --- | --- |",
  ]
  for stage in stages:
    c = stage.config
    count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(stage.params))
    lines.append(
        f"| {c.stage} | {c.family} | {c.data.name} | {stage.step} | {c.train.batch_size} | "
        f"{count / 1e6:.2f}M |"
    )
  if how_trained.strip():
    lines += ["", "## How it was trained", "", how_trained.strip()]
  lines += ["", "## Evaluation (each stage's own, on its test split)", ""]
  for stage in stages:
    evaluation = evals.get(stage.config.stage)
    lines += [f"### {stage.config.stage}", ""]
    lines += [report.markdown_table(evaluation["metrics"]) if evaluation else "Not evaluated.", ""]
  lines += [
      "## Intended use and limitations",
      "",
      "For research on text-to-poster generation and for trying this project's code. The images",
      "reflect only the training data named above: a pipeline trained on the synthetic posters",
      "knows only their shapes, colours and captions, and will not follow other prompts. Titles",
      "are typeset over the image afterwards, not generated. Not for producing content that",
      "could be mistaken for real advertising or for any use where its errors matter.",
      "",
  ]
  return "\n".join(lines)
