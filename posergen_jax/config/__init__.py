"""Config algebra (staged configs) and config files named inside a config."""
