"""What the network predicts, and the conversions between x0, eps and v at a noise level.

A noise level is SR3's l = sqrt(gamma); x_t = l x0 + sqrt(1 - l^2) eps. The network predicts
eps ('eps', DDPM/SR3), v = l eps - sqrt(1 - l^2) x0 ('v', Salimans & Ho 2022) or x0 itself ('x0';
with a zero-initialised output layer an untrained network then predicts x0 = 0). Every function
takes `noise_level` as a scalar or an array that broadcasts against the images (e.g. [B,1,1,1]).
"""

import jax
import jax.numpy as jnp

PREDICTIONS = ("eps", "v", "x0")


def check_prediction(prediction: str) -> None:
  """Raises ValueError naming `prediction` unless it is one of `PREDICTIONS`."""
  if prediction not in PREDICTIONS:
    raise ValueError(f'unknown prediction {prediction!r}; valid: {", ".join(PREDICTIONS)}')


def noise_std(noise_level: jax.Array) -> jax.Array:
  """Std sqrt(1 - gamma) of the noise in x_t at noise level sqrt(gamma); any shape.

  Training and sampling both use this float32 map, so a level means the same noise scale to the
  network in both. (Near gamma = 1, sqrt(1 - gamma) from the float64 schedule differs from this
  float32 value by a few percent.)
  """
  return jnp.sqrt(1.0 - jnp.square(noise_level))


def snr(noise_level: jax.Array) -> jax.Array:
  """Signal-to-noise ratio gamma / (1 - gamma) at noise level sqrt(gamma); any shape."""
  return jnp.square(noise_level) / jnp.square(noise_std(noise_level))


def add_noise(x0: jax.Array, eps: jax.Array, noise_level: jax.Array) -> jax.Array:
  """x_t = l x0 + sqrt(1 - l^2) eps, shaped like x0 [B,H,W,C]."""
  return noise_level * x0 + noise_std(noise_level) * eps


def eps_from_x0(x_t: jax.Array, x0: jax.Array, noise_level: jax.Array) -> jax.Array:
  """The eps that makes `add_noise(x0, eps, l)` equal x_t, shaped like x_t [B,H,W,C]."""
  return (x_t - noise_level * x0) / noise_std(noise_level)


def target(prediction: str, x0: jax.Array, eps: jax.Array, noise_level: jax.Array) -> jax.Array:
  """What a network of kind `prediction` should output for (x0, eps): eps, v or x0; [B,H,W,C]."""
  check_prediction(prediction)
  if prediction == "eps":
    return eps
  if prediction == "x0":
    return x0
  return noise_level * eps - noise_std(noise_level) * x0


def to_x0_eps(
    prediction: str, output: jax.Array, x_t: jax.Array, noise_level: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Turns a network `output` of kind `prediction` at x_t into (x0_hat, eps_hat), each [B,H,W,C]."""
  check_prediction(prediction)
  std = noise_std(noise_level)
  if prediction == "eps":
    return (x_t - std * output) / noise_level, output
  if prediction == "x0":
    return output, eps_from_x0(x_t, output, noise_level)
  # l^2 + std^2 = 1 turns v = l eps - std x0 and x_t = l x0 + std eps around.
  return noise_level * x_t - std * output, std * x_t + noise_level * output
