"""posergen_jax: text-to-poster generation (GAN_SR3, Gt-StackGAN) in JAX/Flax."""
