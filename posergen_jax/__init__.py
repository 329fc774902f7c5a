"""posergen_jax: text-to-poster generation (GAN_SR3, Gt-StackGAN) in JAX/Flax."""

# The one place the version is written: setup.py reads it from this line, CITATION.cff and
# CHANGELOG.md repeat it (tests/release_test.py checks that they agree).
__version__ = "0.1.0"
