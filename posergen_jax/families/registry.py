"""The one module that names every model family: `config.family` -> its pure functions."""

import dataclasses

import ml_collections

from posergen_jax.families import (
    attn_stackgan,
    r_precision_scorer,
    sr3,
    text_ddpm,
    text_image_encoder,
    wgan,
)
from posergen_jax.io import errors
from posergen_jax.training import family as family_lib

# config.family -> module exposing `make_family(config) -> Family`.
FAMILIES = {
    "attn_stackgan": attn_stackgan,
    "sr3": sr3,
    "text_ddpm": text_ddpm,
    "text_image_encoder": text_image_encoder,
    "wgan": wgan,
}


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
