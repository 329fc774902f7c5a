"""Tests for conditioning augmentation, the StackGAN++ / Gt-StackGAN networks and their losses."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from posergen_jax.models import stackgan_losses as losses
from posergen_jax.models.conditioning_augmentation import (
    ConditioningAugmentation,
    kl_loss,
)
from posergen_jax.models.stackgan import Discriminator, Generator
from tests.helpers import param_count

# Tiny sizes: base width 8 (128 channels at 4x4), text code 8, sentence 16, noise 8.
TINY_G = {"gf_dim": 8, "c_dim": 8}
TINY_DF = 4
BATCH, Z_DIM, SENTENCE_DIM = 2, 8, 16
# Paper sizes (StackGAN++ birds: GF_DIM = DF_DIM = 64, Z_DIM 100, EMBEDDING_DIM 128, char-CNN-RNN
# TEXT.DIMENSION 1024) and the counts of a PyTorch transcription of StackGAN++'s G_NET / D_NET*,
# plus 5,202 for PAM (query, key 64->8, value 64->64, gamma) and CAM (gamma) at 64 channels.
PAPER_G = {"gf_dim": 64, "c_dim": 128}
PAPER_Z, PAPER_SENTENCE = 100, 1024
PAPER_COUNTS = {"G2": 21_082_016 + 5_202, "D64": 5_723_906, "D128": 18_834_178, "D256": 71_269_122}


def _inputs(batch=BATCH, z_dim=Z_DIM, sentence_dim=SENTENCE_DIM):
  rng = np.random.default_rng(0)
  return (
      rng.standard_normal((batch, z_dim)).astype(np.float32),
      rng.standard_normal((batch, sentence_dim)).astype(np.float32),
  )


# Parameter counts from the layer formulas, independent of the module code.
def _conv(k, c_in, c_out, bias=False):
  return k * k * c_in * c_out + (c_out if bias else 0)


def _bn(c):
  return 2 * c


def _glu_block(c_in, c_out):
  return _conv(3, c_in, 2 * c_out) + _bn(2 * c_out)


def _pam(c):
  return 2 * _conv(1, c, c // 8, bias=True) + _conv(1, c, c, bias=True) + 1


def _generator_count(gf_dim, c_dim, z_dim, sentence_dim, num_stages, attention):
  ch = 16 * gf_dim
  count = sentence_dim * 4 * c_dim + 4 * c_dim  # CA dense
  count += (z_dim + c_dim) * 2 * ch * 16 + _bn(2 * ch * 16)  # FC + BN
  count += sum(_glu_block(ch // 2**i, ch // 2 ** (i + 1)) for i in range(4))
  count += _conv(3, gf_dim, 3)
  g = gf_dim
  for stage in range(1, num_stages):
    count += _glu_block(g + c_dim, g)
    if stage == 1:
      count += {"none": 0, "pam": _pam(g), "cam": 1, "dual": _pam(g) + 1}[attention]
    count += 2 * (_glu_block(g, g) + _conv(3, g, g) + _bn(g))
    count += _glu_block(g, g // 2) + _conv(3, g // 2, 3)
    g //= 2
  return count


def _discriminator_count(size, df, c_dim):
  extra = {64: 0, 128: 1, 256: 2}[size]
  widths = [df * 2**i for i in range(4 + extra)]
  count = _conv(4, 3, df) + sum(_conv(4, a, b) + _bn(b) for a, b in itertools.pairwise(widths))
  back = [df * 2**i for i in reversed(range(3, 4 + extra))]
  count += sum(_conv(3, a, b) + _bn(b) for a, b in itertools.pairwise(back))
  count += _conv(3, 8 * df + c_dim, 8 * df) + _bn(8 * df)
  return count + 2 * _conv(4, 8 * df, 1, bias=True)


def _host_init(model, rngs, *args):
  """Variables of the shapes model.init gives, drawn on the host (compiling init takes ~10 s).

  Kernels ~ N(0, 1/fan_in), BN scale and running variance 1, biases, means and gammas 0.
  """
  shapes = jax.eval_shape(functools.partial(model.init, train=False), rngs, *args)
  rng = np.random.default_rng(0)

  def fill(path, leaf):
    name = path[-1].key
    if name == "kernel":
      return rng.standard_normal(leaf.shape, np.float32) / np.sqrt(np.prod(leaf.shape[:-1]))
    return (np.ones if name in ("scale", "var") else np.zeros)(leaf.shape, np.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


@functools.cache
def _generator(num_stages=2):
  """(module, variables, jitted apply) of a tiny generator with dual attention."""
  model = Generator(**TINY_G, num_stages=num_stages)
  variables = _host_init(
      model, {"params": jax.random.key(0), "noise": jax.random.key(1)}, *_inputs()
  )
  return model, variables, jax.jit(model.apply, static_argnames=("train", "mutable"))


@functools.cache
def _discriminator(size=64):
  """(module, variables, jitted apply) of a tiny discriminator for size x size images."""
  model = Discriminator(size, TINY_DF)
  variables = _host_init(
      model,
      jax.random.key(0),
      jnp.zeros((BATCH, size, size, 3)),
      jnp.zeros((BATCH, TINY_G["c_dim"])),
  )
  return model, variables, jax.jit(model.apply, static_argnames=("train", "mutable"))


# --- conditioning augmentation ---------------------------------------------------------------


def test_ca_shapes_and_reparameterisation():
  _, sentence = _inputs()
  ca = ConditioningAugmentation(c_dim=8)
  params = ca.init(jax.random.key(0), sentence, jnp.zeros((BATCH, 8)))["params"]
  assert params["fc"]["kernel"].shape == (SENTENCE_DIM, 32)
  eps = np.random.default_rng(1).standard_normal((BATCH, 8)).astype(np.float32)
  c, mu, logvar = ca.apply({"params": params}, sentence, eps)
  assert c.shape == mu.shape == logvar.shape == (BATCH, 8)
  np.testing.assert_allclose(c, mu + np.exp(0.5 * logvar) * eps, rtol=1e-6)
  # Without eps the sample comes from the 'noise' stream: same key, same c; other key, other c.
  c1, mu1, _ = ca.apply({"params": params}, sentence, rngs={"noise": jax.random.key(5)})
  c2, _, _ = ca.apply({"params": params}, sentence, rngs={"noise": jax.random.key(5)})
  c3, _, _ = ca.apply({"params": params}, sentence, rngs={"noise": jax.random.key(6)})
  np.testing.assert_array_equal(c1, c2)
  assert np.abs(c1 - c3).max() > 1e-3
  np.testing.assert_array_equal(mu1, mu)
  with pytest.raises(ValueError, match="eps must have shape"):
    ca.apply({"params": params}, sentence, jnp.zeros((BATCH, 4)))


def test_kl_closed_form():
  zeros = jnp.zeros((3, 5))
  assert float(kl_loss(zeros, zeros)) == 0.0
  rng = np.random.default_rng(2)
  mu, logvar = rng.standard_normal((2, 3, 5))
  want = np.mean(-0.5 * (1 + logvar - mu**2 - np.exp(logvar)))  # StackGAN++ KL_loss
  np.testing.assert_allclose(kl_loss(jnp.asarray(mu), jnp.asarray(logvar)), want, rtol=1e-5)
  assert float(kl_loss(jnp.asarray(mu), jnp.asarray(logvar))) > 0


# --- generator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("num_stages", [2, 3])
def test_generator_images_per_stage(num_stages):
  _, variables, apply = _generator(num_stages)
  z, sentence = _inputs()
  (images, mu, logvar), updates = apply(
      variables,
      z,
      sentence,
      train=True,
      mutable=("batch_stats",),
      rngs={"noise": jax.random.key(2)},
  )
  assert [im.shape for im in images] == [
      (BATCH, 64 * 2**i, 64 * 2**i, 3) for i in range(num_stages)
  ]
  for im in images:
    assert im.dtype == jnp.float32 and bool(jnp.all(jnp.abs(im) <= 1.0)) and float(im.std()) > 0
  assert mu.shape == logvar.shape == (BATCH, TINY_G["c_dim"])
  # Training mode moves the BN running statistics; eval mode uses them and changes nothing.
  moved = jax.tree.map(
      lambda a, b: float(jnp.abs(a - b).max()), variables["batch_stats"], updates["batch_stats"]
  )
  assert max(jax.tree.leaves(moved)) > 0
  eval_images, _, _ = apply(
      variables, z, sentence, jnp.zeros((BATCH, TINY_G["c_dim"])), train=False
  )
  assert eval_images[-1].shape == images[-1].shape
  count = _generator_count(
      **TINY_G, z_dim=Z_DIM, sentence_dim=SENTENCE_DIM, num_stages=num_stages, attention="dual"
  )
  print(f'tiny G ({num_stages} stages) params: {param_count(variables["params"]):,}')
  assert param_count(variables["params"]) == count


@pytest.mark.parametrize("attention", ["none", "pam", "cam"])
def test_generator_attention_ablations(attention):
  model = Generator(**TINY_G, num_stages=2, attention=attention)
  z, sentence = _inputs()
  variables = jax.eval_shape(
      functools.partial(model.init, train=False),
      {"params": jax.random.key(0), "noise": jax.random.key(1)},
      z,
      sentence,
  )
  attention_params = variables["params"]["NextStage_0"].get("attention", {})
  assert sorted(attention_params) == {"none": [], "pam": ["pam"], "cam": ["cam"]}[attention]
  assert param_count(variables["params"]) == _generator_count(
      **TINY_G, z_dim=Z_DIM, sentence_dim=SENTENCE_DIM, num_stages=2, attention=attention
  )


def test_paper_size_parameter_counts():
  """Counts at StackGAN++'s sizes (shapes only, nothing is computed)."""
  z, sentence = _inputs(z_dim=PAPER_Z, sentence_dim=PAPER_SENTENCE)
  g = jax.eval_shape(
      functools.partial(Generator(**PAPER_G, num_stages=2).init, train=False),
      {"params": jax.random.key(0), "noise": jax.random.key(1)},
      z,
      sentence,
  )
  counts = {"G2": param_count(g["params"])}
  for size in (64, 128, 256):
    d = jax.eval_shape(
        functools.partial(Discriminator(size, 64).init, train=False),
        jax.random.key(0),
        jnp.zeros((1, size, size, 3)),
        jnp.zeros((1, 128)),
    )
    counts[f"D{size}"] = param_count(d["params"])
  print("paper-size params:", {k: f"{v:,}" for k, v in counts.items()})
  assert counts == PAPER_COUNTS


def test_generator_refuses_bad_settings():
  z, sentence = _inputs()
  with pytest.raises(ValueError, match="divisible by"):
    Generator(gf_dim=6, c_dim=8, num_stages=3).init(
        {"params": jax.random.key(0), "noise": jax.random.key(1)}, z, sentence, train=False
    )
  with pytest.raises(ValueError, match="must share B"):
    Generator(**TINY_G).init(
        {"params": jax.random.key(0), "noise": jax.random.key(1)}, z[:1], sentence, train=False
    )


# --- discriminators ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128, 256])
def test_discriminator_logits(size):
  _, variables, apply = _discriminator(size)
  images = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (BATCH, size, size, 3)), jnp.float32)
  c = jnp.ones((BATCH, TINY_G["c_dim"]))
  (cond, uncond), _ = apply(variables, images, c, train=True, mutable=("batch_stats",))
  assert cond.shape == uncond.shape == (BATCH,)
  assert cond.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(cond)))
  # The conditional logit depends on the text code, the unconditional one does not.
  cond2, uncond2 = apply(variables, images, -c, train=False)
  cond1, uncond1 = apply(variables, images, c, train=False)
  np.testing.assert_array_equal(uncond1, uncond2)
  assert float(jnp.abs(cond1 - cond2).max()) > 0
  count = _discriminator_count(size, TINY_DF, TINY_G["c_dim"])
  print(f'tiny D{size} params: {param_count(variables["params"]):,}')
  assert param_count(variables["params"]) == count


def test_discriminator_refuses_wrong_image_size():
  model, variables, _ = _discriminator(64)
  with pytest.raises(ValueError, match=r"images must be \[B,64,64,C\]"):
    model.apply(variables, jnp.zeros((1, 128, 128, 3)), jnp.zeros((1, 8)), train=False)
  with pytest.raises(ValueError, match="64 \\* 2\\*\\*n"):
    Discriminator(32, 4).init(
        jax.random.key(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1, 8)), train=False
    )


# --- losses ------------------------------------------------------------------------------------


def _bce(logit, label):
  """Binary cross-entropy of one logit against a label, in numpy."""
  return label * np.log1p(np.exp(-logit)) + (1 - label) * np.log1p(np.exp(logit))


def _logits(cond, uncond):
  return jnp.full((BATCH,), cond, jnp.float32), jnp.full((BATCH,), uncond, jnp.float32)


def test_discriminator_loss_is_lower_when_discriminator_is_right():
  right = losses.discriminator_loss(real=_logits(4, 4), wrong=_logits(-4, 4), fake=_logits(-4, -4))
  wrong = losses.discriminator_loss(real=_logits(-4, -4), wrong=_logits(4, -4), fake=_logits(4, 4))
  assert right.shape == () and 0 < float(right) < 0.2 and float(wrong) > 20
  # Each part counts: a mismatched pair scored as matching raises only the wrong term.
  confused = losses.discriminator_loss(
      real=_logits(4, 4), wrong=_logits(4, 4), fake=_logits(-4, -4)
  )
  np.testing.assert_allclose(confused - right, _bce(4, 0) - _bce(-4, 0), rtol=1e-5)
  # Without unconditional terms StackGAN++ uses real + (wrong + fake) / 2.
  got = losses.discriminator_loss(_logits(1, 9), _logits(2, 9), _logits(-3, 9), uncond_weight=0)
  np.testing.assert_allclose(got, _bce(1, 1) + 0.5 * (_bce(2, 0) + _bce(-3, 0)), rtol=1e-6)


def test_generator_adversarial_loss_falls_when_fakes_are_scored_real():
  scores = [-4.0, -1.0, 0.0, 1.0, 4.0]
  values = [float(losses.generator_adversarial_loss(_logits(s, s))) for s in scores]
  assert all(a > b for a, b in itertools.pairwise(values))
  np.testing.assert_allclose(
      losses.generator_adversarial_loss(_logits(0.0, 0.0)), 2 * np.log(2), rtol=1e-6
  )


def test_mismatched_pairs_take_the_nearest_earlier_sample_of_another_class():
  labels = jnp.array([3, 3, 5, 3, 5, -1])
  # 0 -> 5 (unknown counts as another class), 1 -> 5 (skips 0, same class), 2 -> 1, 3 -> 2,
  # 4 -> 3, 5 -> 4.
  np.testing.assert_array_equal(losses.mismatched_indices(labels), [5, 5, 1, 2, 3, 4])
  # One class in the whole batch: the previous sample, as a roll by one.
  np.testing.assert_array_equal(losses.mismatched_indices(jnp.array([7, 7, 7])), [2, 0, 1])
  assert losses.mismatched_indices(jnp.array([1])).tolist() == [0]


def test_color_consistency_loss():
  rng = np.random.default_rng(4)
  low = jnp.asarray(rng.uniform(-1, 1, (BATCH, 8, 8, 3)), jnp.float32)
  same_stats = jnp.repeat(jnp.repeat(low, 2, axis=1), 2, axis=2)  # nearest x2 keeps mean and cov
  assert abs(float(losses.color_consistency_loss([low, same_stats]))) < 1e-10
  high = same_stats * 0.5 + 0.2
  mu_lo, cov_lo = (np.asarray(a) for a in losses.mean_covariance(low))
  mu_hi, cov_hi = (np.asarray(a) for a in losses.mean_covariance(high))
  np.testing.assert_allclose(
      cov_lo[0], np.cov(np.asarray(low[0]).reshape(-1, 3).T, bias=True), rtol=1e-5, atol=1e-6
  )
  want = np.mean((mu_hi - mu_lo) ** 2) + 5 * np.mean((cov_hi - cov_lo) ** 2)
  np.testing.assert_allclose(losses.color_consistency_loss([low, high]), want, rtol=1e-5)
  # The lower scale is the target: no gradient flows into it.
  grad_low, grad_high = jax.grad(
      lambda a, b: losses.color_consistency_loss([a, b]), argnums=(0, 1)
  )(low, high)
  assert float(jnp.abs(grad_low).max()) == 0 and float(jnp.abs(grad_high).max()) > 0
  assert float(losses.color_consistency_loss([low])) == 0


def test_fidelity_loss_and_generator_total():
  fake = jnp.ones((BATCH, 2, 2, 4))
  real = jnp.zeros((BATCH, 2, 2, 4)).at[..., 0].set(3.0)
  np.testing.assert_allclose(losses.fidelity_loss(fake, real), (2 + 1 + 1 + 1) / 4, rtol=1e-6)
  assert float(losses.fidelity_loss(real, real)) == 0
  # "sum": each image's L1 norm over its 2x2x4 features (2 + 1 + 1 + 1 per position), batch mean.
  np.testing.assert_allclose(losses.fidelity_loss(fake, real, "sum"), 5 * 4, rtol=1e-6)
  with pytest.raises(ValueError, match="'max' is not one of"):
    losses.fidelity_loss(fake, real, "max")
  mu = jnp.full((BATCH, 8), 0.5)
  logvar = jnp.zeros((BATCH, 8))
  images = [jnp.zeros((BATCH, 8, 8, 3)), jnp.full((BATCH, 16, 16, 3), 0.5)]
  fake_logits = [_logits(1.0, 2.0), _logits(-1.0, 0.5)]
  total, terms = losses.generator_loss(
      fake_logits, mu, logvar, images, fake, real, color_weight=1.0
  )
  assert sorted(terms) == ["adversarial", "color", "fidelity", "kl"]
  np.testing.assert_allclose(terms["kl"], 0.125, rtol=1e-6)  # mean(mu^2) / 2
  np.testing.assert_allclose(terms["color"], 0.25, rtol=1e-6)
  np.testing.assert_allclose(
      total, terms["adversarial"] + 2.0 * 0.125 + 0.25 + 0.001 * terms["fidelity"], rtol=1e-6
  )
  _, summed = losses.generator_loss(
      fake_logits, mu, logvar, images, fake, real, fidelity_reduction="sum"
  )
  np.testing.assert_allclose(summed["fidelity"], 16 * terms["fidelity"], rtol=1e-6)
  _, terms = losses.generator_loss(fake_logits, mu, logvar, images, fidelity_weight=0.0)
  assert sorted(terms) == ["adversarial", "kl"]
  with pytest.raises(ValueError, match="needs fake_features and real_features"):
    losses.generator_loss(fake_logits, mu, logvar, images)


def test_discriminator_training_on_a_fixed_batch_reduces_its_loss():
  _, variables, apply = _discriminator(64)
  rng = np.random.default_rng(5)
  real = jnp.asarray(np.tanh(rng.standard_normal((4, 64, 64, 3)) + 0.8), jnp.float32)
  fake = jnp.asarray(rng.uniform(-1, 1, (4, 64, 64, 3)), jnp.float32)
  c = jnp.asarray(rng.standard_normal((4, TINY_G["c_dim"])), jnp.float32)
  optimizer = optax.adam(1e-3)

  @jax.jit
  def step(params, batch_stats, opt_state):
    def loss_fn(params):
      run = lambda images, text, stats: apply(
          {"params": params, "batch_stats": stats},
          images,
          text,
          train=True,
          mutable=("batch_stats",),
      )
      real_logits, updates = run(real, c, batch_stats)
      wrong_logits, updates = run(jnp.roll(real, 1, axis=0), c, updates["batch_stats"])
      fake_logits, updates = run(fake, c, updates["batch_stats"])
      return losses.discriminator_loss(real_logits, wrong_logits, fake_logits), updates

    (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    changes, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, changes), updates["batch_stats"], opt_state, loss

  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = optimizer.init(params)
  history = []
  for _ in range(15):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
    history.append(float(loss))
  print("D loss over 15 adam steps:", [round(v, 3) for v in history])
  assert all(np.isfinite(history))
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(params))
  assert history[-1] < 0.5 * history[0]
