"""Rules for config fields, and the check that applies a table of them to a whole config.

A rule table maps a field's dotted path (`train.batch_size`) to a `Rule`: what the field may hold,
in words for the error. The module that reads a section owns its table (`FIELD_RULES`) and, where
its fields must agree with each other, a relation (`check_fields(fields)`);
`families/registry.check_config` collects them all and calls `check`.

`check` walks a config (every stage of a staged one) and raises ConfigError, one line naming the
first wrong field, its value and what is allowed: a field no table names, a value of the wrong
type, out of range, not finite or not one of a field's names, or (from the relations) two fields
that disagree.
"""

from collections.abc import Callable, Mapping
import dataclasses
import math
from typing import Any

import ml_collections

from posergen_jax.config import stages
from posergen_jax.io import errors


@dataclasses.dataclass(frozen=True)
class Rule:
  """What one field may hold: `accepts(value)`, and `allowed` in words for the error."""

  accepts: Callable[[Any], bool]
  allowed: str


def is_int(value: Any) -> bool:
  """Whether `value` is an int (not a bool)."""
  return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
  """Whether `value` is a finite int or float (not a bool)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(minimum: int, maximum: int | None = None) -> Rule:
  """An int (not a bool) in [minimum, maximum]."""
  if maximum is None:
    return Rule(lambda v: is_int(v) and v >= minimum, f"an integer >= {minimum}")
  return Rule(
      lambda v: is_int(v) and minimum <= v <= maximum, f"an integer in [{minimum}, {maximum}]"
  )


def number(low: float, high: float = math.inf, *, open_low=False, open_high=False) -> Rule:
  """A finite int or float between `low` and `high`, each end included unless `open_*`."""

  def accepts(v):
    return (
        is_finite(v)
        and (v > low if open_low else v >= low)
        and (v < high if open_high else v <= high)
    )

  if high == math.inf:
    return Rule(accepts, f"a finite number {'>' if open_low else '>='} {low}")
  interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
  return Rule(accepts, f"a number in {interval}")


def one_of(names: tuple[str, ...] | Mapping[str, Any]) -> Rule:
  """One of the strings `names`."""
  names = tuple(names)
  return Rule(lambda v: isinstance(v, str) and v in names, f"one of {names}")


def optional(rule: Rule) -> Rule:
  """None, or what `rule` accepts."""
  return Rule(lambda v: v is None or rule.accepts(v), f"None or {rule.allowed}")


def integers(minimum: int, *, may_be_empty: bool = False) -> Rule:
  """A tuple or list of ints >= minimum (non-empty unless `may_be_empty`)."""
  return Rule(
      lambda v: isinstance(v, (tuple, list))
      and (may_be_empty or len(v) > 0)
      and all(is_int(x) and x >= minimum for x in v),
      f"a {'' if may_be_empty else 'non-empty '}tuple of integers >= {minimum}",
  )


def subset(names: tuple[str, ...]) -> Rule:
  """A tuple or list of distinct names from `names` (may be empty)."""
  return Rule(
      lambda v: isinstance(v, (tuple, list))
      and len(set(v)) == len(v)
      and all(isinstance(x, str) and x in names for x in v),
      f"a tuple of distinct names from {names}",
  )


TEXT = Rule(lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
BOOL = Rule(lambda v: isinstance(v, bool), "True or False")
NOT_NEGATIVE = number(0)
POSITIVE = integer(1)
FRACTION = number(0, 1)  # [0, 1]
PROBABILITY_BELOW_ONE = number(0, 1, open_high=True)  # [0, 1)
# `model.dtype`: the compute dtype every family's networks take.
DTYPE = one_of(("float32", "bfloat16", "float16"))


def prefixed(prefix: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
  """`rules` with each path under `prefix` (`prefix.path`)."""
  return {f"{prefix}.{name}": rule for name, rule in rules.items()}


def merged(*tables: Mapping[str, Rule]) -> dict[str, Rule]:
  """One table of every path in `tables`.

  Raises:
    ValueError: two tables give one path rules that allow different values.
  """
  rules = {}
  for table in tables:
    for path, rule in table.items():
      if rules.setdefault(path, rule).allowed != rule.allowed:
        raise ValueError(f"{path}: two rules ({rules[path].allowed!r} and {rule.allowed!r}).")
  return rules


class Fields:
  """A stage's fields by path (`values`), the devices a run will have (`num_devices`), and how to
  name a field in an error (`config.stages.S.x` when the stage sets it, else `config.x`)."""

  def __init__(self, config: ml_collections.ConfigDict, stage: str | None, num_devices: int):
    self.stage = stage
    self.num_devices = num_devices
    self.config = stages.stage_config(config, stage) if stage else config
    own = stages.unlocked_copy(config.stages[stage]) if stage else ml_collections.ConfigDict()
    self.own = dict(stages.leaves(own))
    self.shared = stages.shared_data_overrides(config) if stage else {}
    self.values = dict(stages.own_leaves(self.config))

  def name(self, path: str) -> str:
    """How an error names the field at `path`."""
    if self.stage and path in self.own and path not in self.shared:
      return f"config.stages.{self.stage}.{path}"
    return f"config.{path}"

  def fail(self, path: str, allowed: str) -> errors.ConfigError:
    """The error for the field at `path`, which must be `allowed` (words)."""
    return errors.ConfigError(f"{self.name(path)}={self.values[path]!r}: must be {allowed}.")


# Fields that must agree with each other: raises `fields.fail(...)` for the first that does not.
# Each runs on every stage, after every field alone passed its rule, so it checks only fields
# that are present.
Relation = Callable[[Fields], None]


def _check_values(fields: Fields, rules: Mapping[str, Rule]) -> None:
  for path, value in fields.values.items():
    rule = rules.get(path)
    if rule is None:
      raise errors.ConfigError(
          f"{fields.name(path)}: no family reads this field (a typo, or a field of another "
          "config file?)."
      )
    if not rule.accepts(value):
      raise fields.fail(path, rule.allowed)


def _check_stage(fields: Fields, rules: Mapping[str, Rule], relations: tuple[Relation, ...]):
  _check_values(fields, rules)
  for relation in relations:
    relation(fields)


def check(
    config: ml_collections.ConfigDict,
    num_devices: int,
    *,
    rules: Mapping[str, Rule],
    relations: tuple[Relation, ...],
    output_size: Callable[[Fields], int],
) -> None:
  """Raises ConfigError (one line: field, value, what is allowed) for the first field of
  `config`, or of any stage of a staged config, that `rules` or `relations` refuse for a run
  over `num_devices` devices.

  Staged configs also need `stage` to name a stage and each stage's input (`data.lr_size`) to be
  the side of the images the stage before it generates (`output_size(fields)`).
  """
  if not stages.is_staged(config):
    _check_stage(Fields(config, None, num_devices), rules, relations)
    return
  if not isinstance(config.stage_order, (tuple, list)) or not config.stage_order:
    raise errors.ConfigError(
        f"config.stage_order={config.stage_order!r}: must be a non-empty tuple of stage names."
    )
  for name in config.stage_order:
    if name not in config.stages:
      raise errors.ConfigError(
          f"config.stage_order names {name!r}, which is not one of config.stages "
          f"{tuple(config.stages)}."
      )
  stages.check_stage(config, config.stage)
  previous = None
  for name in config.stage_order:
    fields = Fields(config, name, num_devices)
    _check_stage(fields, rules, relations)
    if previous is not None and "data.lr_size" in fields.values:
      size = output_size(previous)
      if fields.values["data.lr_size"] != size:
        raise fields.fail(
            "data.lr_size", f"{size}, the side of the images stage {previous.stage!r} generates"
        )
    previous = fields
