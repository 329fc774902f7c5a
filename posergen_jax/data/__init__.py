"""TFDS builders and input pipelines."""
