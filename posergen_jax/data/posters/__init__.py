"""The `posters` TFDS dataset; importing this package registers the builder."""
from posergen_jax.data.posters.posters import Posters
from posergen_jax.data.posters.posters import PostersConfig

__all__ = ["Posters", "PostersConfig"]
