"""StridedConv against flax's nn.Conv: parameters, outputs and first and second gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.models.strided_conv import StridedConv, space_to_depth


def _pair(side, kernel, stride, padding, use_bias=True):
  x = jnp.asarray(np.random.default_rng(side).standard_normal((2, side, side, 5)), jnp.float32)
  ours = StridedConv(7, kernel, stride, padding, use_bias=use_bias)
  reference = nn.Conv(
      7, (kernel, kernel), (stride, stride), ((padding, padding),) * 2, use_bias=use_bias
  )
  return x, ours, reference


@pytest.mark.parametrize(
    "side,kernel,stride,padding",
    [(64, 4, 2, 1), (17, 4, 2, 1), (9, 4, 2, 1), (32, 2, 2, 0), (15, 6, 3, 2), (8, 4, 4, 0)],
)
def test_matches_nn_conv_with_gradients(side, kernel, stride, padding):
  """Same initial parameters; outputs, input and parameter gradients to 1e-5."""
  x, ours, reference = _pair(side, kernel, stride, padding)
  params = ours.init(jax.random.key(0), x)
  reference_params = reference.init(jax.random.key(0), x)
  assert jax.tree.all(jax.tree.map(np.array_equal, params, reference_params))
  params = jax.tree.map(lambda p: p + 0.1, params)  # A non-zero bias.
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)
  loss = lambda module: lambda p, x: jnp.sum(jnp.square(module.apply(p, x)))
  for got, want in zip(
      jax.grad(loss(ours), argnums=(0, 1))(params, x),
      jax.grad(loss(reference), argnums=(0, 1))(params, x),
  ):
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4), got, want)


def test_gradient_penalty_term_matches():
  """The WGAN-GP term: the parameter gradient of ||d out / d x||², a second derivative."""
  x, ours, reference = _pair(16, 4, 2, 1)
  params = jax.tree.map(lambda p: p + 0.1, ours.init(jax.random.key(0), x))

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


def test_without_bias_has_only_a_kernel():
  x, ours, reference = _pair(8, 4, 2, 1, use_bias=False)
  params = ours.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, params) == {"params": {"kernel": (4, 4, 5, 7)}}
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)


def test_bfloat16_compute_keeps_float32_parameters():
  x, _, _ = _pair(8, 4, 2, 1)
  module = StridedConv(7, dtype=jnp.bfloat16)
  params = module.init(jax.random.key(0), x)
  assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
  assert module.apply(params, x).dtype == jnp.bfloat16


def test_space_to_depth_channel_order():
  x = jnp.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
  blocks = space_to_depth(x, 2)
  assert blocks.shape == (2, 2, 2, 12)
  # Channel (dy * 2 + dx) * C + c holds in[2y + dy, 2x + dx, c].
  np.testing.assert_array_equal(blocks[1, 1, 0, (1 * 2 + 0) * 3 + 2], x[1, 3, 0, 2])


def test_stride_must_divide_kernel():
  x, _, _ = _pair(8, 4, 2, 1)
  with pytest.raises(ValueError, match="stride 3 must divide kernel size 4"):
    StridedConv(7, 4, 3, 1).init(jax.random.key(0), x)
