"""The `synthetic_posters` TFDS dataset; importing this package registers the builder."""

from posergen_jax.data.synthetic_posters.catalog import POSTER_TYPES
from posergen_jax.data.synthetic_posters.synthetic_posters import SyntheticPosters

__all__ = ["POSTER_TYPES", "SyntheticPosters"]
