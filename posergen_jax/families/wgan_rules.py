"""The WGAN family's config fields (families/wgan.py): their rules and the one relation they have.

Every field the WGAN reads beyond the data, text and trainer sections; see
config/schema.py for how `families/registry.check_config` applies them.
"""

from posergen_jax.config import schema
from posergen_jax.families import gan_state, text_to_image, wgan
from posergen_jax.models import diff_augment, wgan_losses
from posergen_jax.models import wgan as wgan_model

FIELD_RULES = {
    **gan_state.FIELD_RULES,
    **text_to_image.FIELD_RULES,
    "model.text_modulation": schema.BOOL,
    "model.truncation": schema.NOT_NEGATIVE,
    "loss.lipschitz": schema.one_of(wgan.LIPSCHITZ),
    "loss.objective": schema.one_of(wgan_losses.OBJECTIVES),
    "loss.mismatch_weight": schema.FRACTION,
    "loss.magp_weight": schema.NOT_NEGATIVE,
    "loss.magp_power": schema.number(0, open_low=True),
    "loss.contrastive_weight": schema.NOT_NEGATIVE,
    "loss.contrastive_temperature": schema.number(0, open_low=True),
    "loss.augment": schema.subset(diff_augment.POLICIES),
    "loss.clip_value": schema.number(0, open_low=True),
    "loss.gp_weight": schema.NOT_NEGATIVE,
    "loss.n_critic": schema.POSITIVE,
}


def check_fields(fields: schema.Fields) -> None:
  """Raises ConfigError unless a WGAN config's `model.image_size` is a power of two >= 8 (the
  generator doubles a 4×4 map up to it)."""
  v = fields.values
  if v.get("family") == "wgan":
    try:
      wgan_model.num_resamples(v["model.image_size"])
    except ValueError:
      raise fields.fail("model.image_size", "a power of two >= 8") from None
