"""Tests for PAM / CAM (posergen_jax/models/dual_attention.py) against numpy versions of DANet."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posergen_jax.models.dual_attention import (
    ChannelAttention,
    DualAttention,
    PositionAttention,
)

SHAPE = (2, 3, 4, 16)  # B, H, W, C: 12 positions, 16 channels (PAM query/key width 2)


def _x():
  return np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


def _softmax(a):
  e = np.exp(a - a.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def _numpy_pam(x, params, gamma):
  """DANet PAM_Module.forward in NCHW-free numpy: proj via 1x1 convs, softmax over keys."""
  b, h, w, c = x.shape
  flat = x.reshape(b, h * w, c).astype(np.float64)
  proj = lambda name: flat @ params[name]["kernel"][0, 0] + params[name]["bias"]
  q, k, v = proj("query"), proj("key"), proj("value")
  attention = _softmax(q @ k.transpose(0, 2, 1))  # [B, N, N], rows over keys
  out = v.transpose(0, 2, 1) @ attention.transpose(0, 2, 1)  # torch: bmm(V [B,C,N], A^T)
  return gamma * out.transpose(0, 2, 1).reshape(x.shape) + x


def _numpy_cam(x, gamma):
  """DANet CAM_Module.forward in numpy."""
  b, h, w, c = x.shape
  flat = x.reshape(b, h * w, c).transpose(0, 2, 1).astype(np.float64)  # [B, C, N]
  energy = flat @ flat.transpose(0, 2, 1)
  attention = _softmax(energy.max(axis=-1, keepdims=True) - energy)
  out = attention @ flat
  return gamma * out.transpose(0, 2, 1).reshape(x.shape) + x


def _with_gamma(params, gamma):
  """Params with every `gamma` leaf set to `gamma`."""
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: jnp.full_like(leaf, gamma) if path[-1].key == "gamma" else leaf, params
  )


@pytest.mark.parametrize("module", [PositionAttention(), ChannelAttention()], ids=["pam", "cam"])
def test_identity_at_init(module):
  x = _x()
  params = module.init(jax.random.key(0), x)["params"]
  assert float(params["gamma"]) == 0.0
  np.testing.assert_array_equal(module.apply({"params": params}, x), x)


@pytest.mark.parametrize("query_chunk", [None, 4, 5, 128], ids=["whole", "chunks", "5", "128"])
def test_pam_matches_danet_formula(query_chunk):
  """Whole, in chunks of 4 of the 12 queries, and the fallbacks (5 does not divide 12)."""
  x = _x()
  params = PositionAttention().init(jax.random.key(0), x)["params"]
  assert params["query"]["kernel"].shape == (1, 1, 16, 2)
  assert params["value"]["kernel"].shape == (1, 1, 16, 16)
  params = jax.tree.map(np.asarray, _with_gamma(params, 1.0))
  got = PositionAttention(query_chunk=query_chunk).apply({"params": params}, x)
  want = _numpy_pam(x, params, 1.0)
  assert np.abs(want - x).max() > 0.1  # the attention term is not negligible
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pam_in_query_chunks_has_the_same_gradients():
  """Parameter and input gradients with queries 4 at a time equal those of the whole affinity."""
  x = jnp.asarray(_x())
  params = _with_gamma(PositionAttention().init(jax.random.key(0), x)["params"], 1.0)

  def grads(query_chunk):
    loss = lambda p, x: jnp.sum(
        jnp.sin(PositionAttention(query_chunk=query_chunk).apply({"params": p}, x))
    )
    return jax.grad(loss, argnums=(0, 1))(params, x)

  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), grads(4), grads(None)
  )


def test_cam_matches_danet_formula():
  x = _x()
  params = ChannelAttention().init(jax.random.key(0), x)["params"]
  assert list(params) == ["gamma"]
  got = ChannelAttention().apply({"params": _with_gamma(params, 0.7)}, x)
  want = _numpy_cam(x, 0.7)
  assert np.abs(want - x).max() > 0.1
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dual_is_pam_then_cam_and_modes_select_modules():
  x = _x()
  params = DualAttention("dual").init(jax.random.key(0), x)["params"]
  assert sorted(params) == ["cam", "pam"]
  params = jax.tree.map(np.asarray, _with_gamma(params, 0.5))
  want = _numpy_cam(_numpy_pam(x, params["pam"], 0.5), 0.5)
  np.testing.assert_allclose(
      DualAttention("dual").apply({"params": params}, x), want, rtol=1e-4, atol=1e-4
  )
  assert list(DualAttention("pam").init(jax.random.key(0), x)["params"]) == ["pam"]
  assert list(DualAttention("cam").init(jax.random.key(0), x)["params"]) == ["cam"]
  assert DualAttention("none").init(jax.random.key(0), x) == {}
  np.testing.assert_array_equal(DualAttention("none").apply({}, x), x)


def test_dual_parallel_adds_both_contributions_to_the_input():
  x = _x()
  model = DualAttention("dual_parallel")
  params = model.init(jax.random.key(0), x)["params"]
  np.testing.assert_array_equal(model.apply({"params": params}, x), x)  # Identity at init.
  params = jax.tree.map(np.asarray, _with_gamma(params, 0.5))
  pam = _numpy_pam(x, params["pam"], 0.5) - x  # γ_p · PAM_out(x)
  cam = _numpy_cam(x, 0.5) - x
  np.testing.assert_allclose(
      model.apply({"params": params}, x), x + pam + cam, rtol=1e-4, atol=1e-4
  )


def test_gamma_gets_a_gradient_at_zero():
  """gamma starts at 0 but is learnable: the loss gradient reaches it."""
  x = _x()
  model = DualAttention("dual")
  params = model.init(jax.random.key(0), x)["params"]
  grads = jax.grad(lambda p: jnp.sum(model.apply({"params": p}, x) * x[..., ::-1]))(params)
  assert abs(float(grads["pam"]["gamma"])) > 1e-3
  assert abs(float(grads["cam"]["gamma"])) > 1e-3


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="mode must be one of"):
    DualAttention("spatial").init(jax.random.key(0), _x())
  with pytest.raises(ValueError, match="at least 8 channels"):
    PositionAttention().init(jax.random.key(0), np.zeros((1, 2, 2, 4), np.float32))
