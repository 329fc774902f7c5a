"""Diffusion: noise schedules, the training losses, DDPM/DDIM samplers and the cascade chain.

Everything here is a pure function over arrays; the network enters only as a `denoise_fn`, and
its conditioning (a low-resolution image for SR3, a sentence vector for the text DDPM) is passed
through untouched.
"""
