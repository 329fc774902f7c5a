"""One generic trainer; model families plug in pure step functions."""
