"""The one module that names every model family: `config.family` -> its pure functions, and the
rules of every config field (`check_config`)."""

import dataclasses
import re

import ml_collections

from posergen_jax.config import schema
from posergen_jax.data import input_pipeline
from posergen_jax.evaluation import generated_images
from posergen_jax.families import (
    attn_stackgan,
    r_precision_scorer,
    sr3,
    text_ddpm,
    text_image_encoder,
    wgan,
)
from posergen_jax.io import errors
from posergen_jax.text import conditioning
from posergen_jax.training import family as family_lib
from posergen_jax.training import optimizers, sharding, trainer

# config.family -> module exposing `make_family(config) -> Family`.
FAMILIES = {
    "attn_stackgan": attn_stackgan,
    "sr3": sr3,
    "text_ddpm": text_ddpm,
    "text_image_encoder": text_image_encoder,
    "wgan": wgan,
}

# Every field of a (stage's) config, by dotted path, and what it may hold: each table is owned by
# the module that reads its fields.
FIELD_RULES = schema.merged(
    {"family": schema.one_of(FAMILIES)},
    sharding.FIELD_RULES,
    input_pipeline.FIELD_RULES,
    conditioning.FIELD_RULES,
    optimizers.FIELD_RULES,
    trainer.FIELD_RULES,
    generated_images.FIELD_RULES,
    r_precision_scorer.FIELD_RULES,
    sr3.FIELD_RULES,
    text_ddpm.FIELD_RULES,
    text_image_encoder.FIELD_RULES,
    attn_stackgan.FIELD_RULES,
    wgan.FIELD_RULES,
)


def _output_size(fields: schema.Fields) -> int:
  """Side of the images a stage generates (its largest)."""
  v = fields.values
  if "model.num_stages" in v:  # StackGAN.
    return attn_stackgan.image_sizes(v["model.num_stages"])[-1]
  return v["data.hr_size"] if "data.hr_size" in v else v["model.image_size"]


def _check_stored_size(fields: schema.Fields) -> None:
  """Raises ConfigError when `data.name` names a dataset stored smaller than the stage's images."""
  v = fields.values
  stored = re.fullmatch(r"[\w.-]+/(\d+)(_emb)?", v["data.name"])
  if stored and int(stored.group(1)) < _output_size(fields):
    raise fields.fail(
        "data.name",
        f"a dataset stored at >= {_output_size(fields)} px, the side this stage generates "
        f"(e.g. {v['data.name'].split('/')[0]}/{_output_size(fields)})",
    )


# Fields that must agree with each other, in the order they are checked.
RELATIONS = (
    sr3.check_fields,
    wgan.check_fields,
    attn_stackgan.check_fields,
    _check_stored_size,
    trainer.check_fields,
)


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError (one line: field, value, what is allowed) for the first field of
  `config`, or of any stage of a staged config, that no run over `num_devices` devices can use:
  a field no family reads, a value of the wrong type, out of range, not finite or not one of a
  field's names, or two fields that disagree (a schedule's start after its end, a stage's input
  size that is not the previous stage's output, batches that do not split over the data-parallel
  devices). The families' own checks stay as guards for programmatic use.
  """
  schema.check(
      config, num_devices, rules=FIELD_RULES, relations=RELATIONS, output_size=_output_size
  )


def get_family(config: ml_collections.ConfigDict) -> family_lib.Family:
  """The family named by `config.family`, with R-precision among its scorers when
  `config.evals.r_precision.encoder_workdir` names a trained text-image encoder.

  Raises:
    ConfigError: `config.family` names no family.
  """
  if config.get("family") not in FAMILIES:
    raise errors.ConfigError(
        f"config.family={config.get('family')!r} is not one of {sorted(FAMILIES)}."
    )
  family = FAMILIES[config.family].make_family(config)
  r_precision = config.get("evals", {}).get("r_precision", {})
  if r_precision and r_precision.get("encoder_workdir"):
    family = dataclasses.replace(
        family,
        make_scorers=lambda replicated: (r_precision_scorer.make_scoring(config, replicated),),
    )
  return family
