"""Multi-stage configs: one config file describes a chain of models, each trained on its own.

A staged config has `stage_order` (the chain, first to last), `stages` (per stage, the fields that
differ from the shared top level: data sizes, model widths, family, ...) and `stage` (the one to
train or evaluate, `--config.stage=NAME`). Stage `NAME` runs with the top-level config updated by
`stages.NAME` (its fields win) in `WORKDIR/NAME`, so one workdir holds the whole chain.
"""
from etils import epath
import ml_collections


class StageError(ValueError):
  """`config.stage` names no stage of the config."""


def is_staged(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` describes a chain of stages."""
  return "stages" in config


def check_stage(config: ml_collections.ConfigDict, name: str) -> None:
  """Raises StageError naming `name` and the valid stages unless it is one of them."""
  if name not in config.stage_order:
    raise StageError(f"config.stage={name!r} is not a stage of this config; "
                     f"choose one of {', '.join(config.stage_order)}.")


def stage_config(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The full, locked config of stage `name`: the top level updated by `config.stages[name]`."""
  check_stage(config, name)
  merged = ml_collections.ConfigDict(config.to_dict())
  merged.update(config.stages[name])
  merged.stage = name
  merged.lock()
  return merged


def stage_workdir(workdir: str | epath.Path, name: str) -> epath.Path:
  """Where stage `name` keeps its checkpoints, samples and eval reports: `workdir/name`."""
  return epath.Path(workdir) / name
