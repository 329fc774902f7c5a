"""The experiment configs, installed as `posergen_jax.configs` (so a config file loads from any
folder): one file per model family or chain, each with `get_config(arg)` and a `:quick` size."""

import importlib
import pathlib

import ml_collections


def load(spec: str) -> ml_collections.ConfigDict:
  """The config of `spec`, as `--config` takes it: 'configs/sr3.py:quick' (or 'sr3:quick')."""
  path, _, arg = spec.partition(":")
  module = importlib.import_module(f"posergen_jax.configs.{pathlib.Path(path).stem}")
  return module.get_config(arg or None)
