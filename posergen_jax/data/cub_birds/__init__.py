"""The `cub_birds` TFDS dataset; importing this package registers the builder."""

from posergen_jax.data.cub_birds.cub_birds import CubBirds

__all__ = ["CubBirds"]
