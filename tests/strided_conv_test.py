"""strided_conv.conv_general_dilated inside nn.Conv against plain nn.Conv: outputs, first and
second gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.models import strided_conv


def _pair(side, kernel, stride, padding, **options):
  """Input [2,side,side,5] and two nn.Conv(7) alike but for the convolution function."""
  x = jnp.asarray(np.random.default_rng(side).standard_normal((2, side, side, 5)), jnp.float32)
  make = lambda **conv: nn.Conv(7, (kernel, kernel), (stride, stride), padding, **options, **conv)
  return x, make(conv_general_dilated=strided_conv.conv_general_dilated), make()


def _perturbed_params(module, x):
  return jax.tree.map(lambda p: p + 0.1, module.init(jax.random.key(0), x))  # Non-zero bias.


@pytest.mark.parametrize(
    "side,kernel,stride,padding",
    [
        (64, 4, 2, ((1, 1), (1, 1))),
        (17, 4, 2, ((1, 1), (1, 1))),
        (9, 4, 2, ((2, 0), (0, 1))),
        (32, 2, 2, "VALID"),
        (15, 6, 3, ((2, 2), (2, 2))),
        (8, 4, 4, "VALID"),
        (13, 4, 2, "SAME"),
        (12, 3, 2, ((1, 1), (1, 1))),  # Stride not dividing the kernel: lax's own path.
        (12, 3, 1, "SAME"),
    ],
)
def test_matches_nn_conv_with_gradients(side, kernel, stride, padding):
  """Outputs, input and parameter gradients to 1e-5 (rel) / 1e-4 (abs)."""
  x, ours, reference = _pair(side, kernel, stride, padding)
  params = _perturbed_params(ours, x)
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)
  loss = lambda module: lambda p, x: jnp.sum(jnp.square(module.apply(p, x)))
  for got, want in zip(
      jax.grad(loss(ours), argnums=(0, 1))(params, x),
      jax.grad(loss(reference), argnums=(0, 1))(params, x),
  ):
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4), got, want)


def test_gradient_penalty_term_matches():
  """The WGAN-GP term: the parameter gradient of ||d out / d x||², a second derivative."""
  x, ours, reference = _pair(16, 4, 2, ((1, 1), (1, 1)))
  params = _perturbed_params(ours, x)

  def penalty(module):
    def term(p):
      input_grad = jax.grad(lambda x: jnp.sum(jnp.tanh(module.apply(p, x))))(x)
      return jnp.sum(jnp.square(input_grad))

    return jax.grad(term)(params)

  jax.tree.map(
      lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4),
      penalty(ours),
      penalty(reference),
  )


def test_computes_a_matmul_not_a_convolution():
  """The rearranged case has no convolution in its jaxpr, gradient included."""
  x, ours, _ = _pair(16, 4, 2, ((1, 1), (1, 1)))
  params = ours.init(jax.random.key(0), x)
  jaxpr = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(ours.apply(params, x))))(x)
  assert "conv_general_dilated" not in str(jaxpr)
  assert "dot_general" in str(jaxpr)


def test_bfloat16_compute():
  x, ours, reference = _pair(8, 4, 2, ((1, 1), (1, 1)), dtype=jnp.bfloat16)
  params = ours.init(jax.random.key(0), x)
  got, want = ours.apply(params, x), reference.apply(params, x)
  assert got.dtype == want.dtype == jnp.bfloat16
  np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), atol=0.05)


def test_space_to_depth_channel_order():
  x = jnp.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
  blocks = strided_conv.space_to_depth(x, 2)
  assert blocks.shape == (2, 2, 2, 12)
  # Channel (dy * 2 + dx) * C + c holds in[2y + dy, 2x + dx, c].
  np.testing.assert_array_equal(blocks[1, 1, 0, (1 * 2 + 0) * 3 + 2], x[1, 3, 0, 2])
