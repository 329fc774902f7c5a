"""Evaluation metrics and the `--mode=eval` entry."""
