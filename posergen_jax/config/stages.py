"""Multi-stage configs: one config file describes a chain of models, each trained on its own.

A staged config has `stage_order` (the chain, first to last), `stages` (per stage, the fields that
differ from the shared top level: data sizes, model widths, family, ...) and `stage` (the one to
train or evaluate, `--config.stage=NAME`). Stage `NAME` runs with the top-level config updated by
`stages.NAME` (its fields win) in `WORKDIR/NAME`, so one workdir holds the whole chain.

One exception points a whole chain at a dataset with one override: the top-level
`data.name`, `data.data_dir` and `data.manual_dir` (`SHARED_DATA_FIELDS`) are unset in every
staged config, and when set they win over every stage's own, e.g.
`--config.data.name=posters/256 --config.data.manual_dir=DIR` (each stage keeps its image sizes;
the input pipeline resizes).
"""

from collections.abc import Iterator
import copy
import json
from typing import Any

from etils import epath
import ml_collections

from posergen_jax.io import errors

# Fields of a staged config that describe the chain rather than one stage.
CHAIN_FIELDS = ("stage_order", "stages", "stage")
# Fields of a staged config's top-level `data` section that, once set, every stage takes.
SHARED_DATA_FIELDS = ("name", "data_dir", "manual_dir")


class StageError(errors.ConfigError):
  """`config.stage` names no stage of the config."""


def is_staged(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` describes a chain of stages."""
  return "stages" in config


def check_stage(config: ml_collections.ConfigDict, name: str) -> None:
  """Raises StageError naming `name` and the valid stages unless it is one of them."""
  if name not in config.stage_order:
    raise StageError(
        f"config.stage={name!r} is not a stage of this config; "
        f"choose one of {', '.join(config.stage_order)}."
    )


def unset_shared_data(config: ml_collections.ConfigDict) -> None:
  """Unsets a staged config's top-level SHARED_DATA_FIELDS in place (adding the `data` section
  where it has none): each stage reads its own dataset until the command line sets one for all.
  """
  if "data" not in config:
    config.data = ml_collections.ConfigDict()
  for name in SHARED_DATA_FIELDS:
    config.data[name] = ml_collections.config_dict.placeholder(str)


def shared_data_overrides(config: ml_collections.ConfigDict) -> dict[str, str]:
  """'data.FIELD' -> value of each SHARED_DATA_FIELDS set at a staged config's top level."""
  data = config.get("data") or {}
  return {f"data.{name}": data[name] for name in SHARED_DATA_FIELDS if data.get(name) is not None}


def stage_config(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The full, locked config of stage `name`: the top level updated by `config.stages[name]`,
  then by the top-level data fields set for every stage (`shared_data_overrides`)."""
  check_stage(config, name)
  fields = _fields(config)
  for field in SHARED_DATA_FIELDS:  # Unset at the top (placeholders), set just below.
    fields.get("data", {}).pop(field, None)
  merged = ml_collections.ConfigDict(fields)
  merged.update(config.stages[name])
  overrides = shared_data_overrides(config)
  for field in SHARED_DATA_FIELDS:
    if f"data.{field}" in overrides:
      merged.data[field] = overrides[f"data.{field}"]
    elif field not in merged.data:
      merged.data[field] = ml_collections.config_dict.placeholder(str)
  merged.stage = name
  merged.lock()
  return merged


def _fields(config: ml_collections.ConfigDict) -> dict:
  """A deep copy of `config` as a dict; typed placeholders (e.g. data_dir=None) stay placeholders,
  so the copy can still be overridden from the command line."""
  return copy.deepcopy(config.to_dict(preserve_field_references=True))


def unlocked_copy(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A deep, unlocked copy of `config` (placeholders kept), safe to edit."""
  return ml_collections.ConfigDict(_fields(config))


def own_fields(stage: ml_collections.ConfigDict) -> dict:
  """A stage's config (from `stage_config`) without the chain's fields, as a plain dict: what
  another staged config can hold as one of its `stages` entries."""
  fields = _fields(stage)
  for name in CHAIN_FIELDS:
    fields.pop(name, None)
  return fields


def leaves(config: ml_collections.ConfigDict, prefix: str = "") -> Iterator[tuple[str, Any]]:
  """(dotted path, value) of every field of `config` that is not a section, in order."""
  for name, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from leaves(value, f"{prefix}{name}.")
    else:
      yield f"{prefix}{name}", value


def own_leaves(stage: ml_collections.ConfigDict) -> Iterator[tuple[str, Any]]:
  """`leaves` of a stage's config without the chain's fields."""
  return (
      (path, value) for path, value in leaves(stage) if path.partition(".")[0] not in CHAIN_FIELDS
  )


def to_json(stage: ml_collections.ConfigDict) -> str:
  """A stage's config (or any single config) as JSON, without the chain's fields: what a
  workdir's and an exported stage's config.json hold."""
  fields = {k: v for k, v in stage.to_dict().items() if k not in CHAIN_FIELDS}
  return json.dumps(fields, indent=2, sort_keys=True)


def _tuples(value):
  """JSON lists back to the tuples configs hold, recursively."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def from_json(text: str) -> ml_collections.ConfigDict:
  """The (unlocked) config `to_json` wrote."""
  return ml_collections.ConfigDict(_tuples(json.loads(text)))


def stage_workdir(workdir: str | epath.Path, name: str) -> epath.Path:
  """Where stage `name` keeps its checkpoints, samples and eval reports: `workdir/name`."""
  return epath.Path(workdir) / name
