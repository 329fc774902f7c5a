"""Diffusion for SR3 super-resolution: noise schedules, the training loss and samplers.

Everything here is a pure function over arrays; the network enters only as a `denoise_fn`.
"""
