"""The prompt -> poster system: restores and chains trained stages, evaluates and writes posters."""
