"""Side-by-side timings of posergen_jax models against PyTorch twins of the same networks."""
