"""Model families: each module's make_family(config) returns the pure functions the trainer runs."""
