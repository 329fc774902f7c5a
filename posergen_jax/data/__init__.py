"""TFDS builders and input pipelines.

Importing this package registers the project's builders with TFDS (so
`tfds.builder("cub_birds/128")` works once `posergen_jax.data` is imported).
"""

from posergen_jax.data import (
    cub_birds,  # noqa: F401  (registers `cub_birds`)
    posters,  # noqa: F401  (registers `posters`)
    synthetic_posters,  # noqa: F401  (registers `synthetic_posters`)
)
