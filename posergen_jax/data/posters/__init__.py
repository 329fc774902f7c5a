"""The `posters` TFDS dataset; importing this package registers the builder."""

from posergen_jax.data.posters.posters import Posters, PostersConfig

__all__ = ["Posters", "PostersConfig"]
